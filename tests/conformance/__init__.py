"""Differential conformance suite: the same canvas programs run on real Celery 5.7 and on Motet."""
