"""The conformance tasks as a Celery 5.7 app. Imported only in the Celery venv: by the worker
(``celery -A tests.conformance.celery_app worker``) and by the runner (`execute --system celery`).

Broker and backend come from CONF_BROKER / CONF_BACKEND (the suite's private redis-server).
"""

from __future__ import annotations

import os

import celery
from celery import Celery
from celery import exceptions as celery_exceptions

from tests.conformance.facade import System
from tests.conformance.taskdefs import TASKS, task_name

app = Celery(
    "conf",
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
# Programs run in threads of the runner; celery.signature() & co. find the app through the
# default app there (the "current app" is thread-local in Celery).
app.set_default()

for _name, (_fn, _options) in TASKS.items():
    app.task(name=task_name(_name), **_options)(_fn)


def system() -> System:
    return System(
        name="celery",
        app=app,
        canvas={
            "chain": celery.chain,
            "group": celery.group,
            "chord": celery.chord,
            "signature": celery.signature,
            "chunks": celery.chunks,
            "xmap": celery.xmap,
            "xstarmap": celery.xstarmap,
            "maybe_signature": celery.maybe_signature,
        },
        exceptions={
            "TimeoutError": celery_exceptions.TimeoutError,
            "ChordError": celery_exceptions.ChordError,
            "TaskRevokedError": celery_exceptions.TaskRevokedError,
        },
    )
