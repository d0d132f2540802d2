"""The benchmark's tasks as a Celery 5.7 app: the same code as `examples.guide.tasks`' `add` and
`tsum`. Imported only in the Celery venv, by the worker (``celery -A bench.celery_tasks worker``)
and by the runner (``python -m bench.run --system celery``). Broker and backend come from
CONF_BROKER / CONF_BACKEND, as `tests.conformance.services.celery_env` sets them.
"""

from __future__ import annotations

import os

from celery import Celery

app = Celery(
    "bench",
    broker=os.environ.get("CONF_BROKER", "redis://127.0.0.1:6379/0"),
    backend=os.environ.get("CONF_BACKEND", "redis://127.0.0.1:6379/1"),
)
app.conf.update(
    task_serializer="json",
    result_serializer="json",
    accept_content=["json"],
    broker_connection_retry_on_startup=True,
    worker_hijack_root_logger=False,
    worker_redirect_stdouts=False,
    result_expires=3600,
)


@app.task(name="proj.add")
def add(x: int, y: int, debug: bool = False) -> int:
    return x + y


@app.task(name="proj.tsum")
def tsum(numbers: list[int]) -> int:
    return sum(numbers)
