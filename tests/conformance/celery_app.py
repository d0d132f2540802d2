"""The conformance tasks as a Celery 5.7 app. Imported only in the Celery venv: by the worker
(``celery -A tests.conformance.celery_app worker``) and by the runner (`execute --system celery`).

Broker and backend come from CONF_BROKER / CONF_BACKEND (the suite's private redis-server).
"""

from __future__ import annotations

import celery
from celery import exceptions as celery_exceptions

from tests.conformance.celery_base import celery_app
from tests.conformance.facade import System
from tests.conformance.taskdefs import TASKS, task_name

app = celery_app("conf")
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
