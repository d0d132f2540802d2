"""The Celery 5.7 app both the conformance suite and the benchmark run (only in the Celery venv):
Redis broker and backend from CONF_BROKER / CONF_BACKEND (as `services.celery_env` sets them),
JSON only, Celery's default queue, no logging takeover."""

from __future__ import annotations

import os

from celery import Celery

__all__ = ["celery_app"]


def celery_app(name: str) -> Celery:
    """A Celery app configured the one way the suite and the benchmark compare against."""
    app = Celery(
        name,
        broker=os.environ.get("CONF_BROKER", "redis://127.0.0.1:6379/0"),
        backend=os.environ.get("CONF_BACKEND", "redis://127.0.0.1:6379/1"),
    )
    app.conf.update(
        task_serializer="json",
        result_serializer="json",
        accept_content=["json"],
        task_default_queue="celery",
        broker_connection_retry_on_startup=True,
        worker_hijack_root_logger=False,
        worker_redirect_stdouts=False,
        result_expires=3600,
    )
    return app
