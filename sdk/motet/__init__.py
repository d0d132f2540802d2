"""Motet: Celery-compatible canvas workflows over gRPC."""
