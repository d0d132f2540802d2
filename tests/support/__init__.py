"""Helpers shared by the contract, e2e and fault suites."""
