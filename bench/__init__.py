"""Benchmarks, run from the repository root (``python -m bench.<name>``); never installed, and
nothing in ``sdk/`` or ``services/`` imports them."""
