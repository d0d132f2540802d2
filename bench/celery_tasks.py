"""The benchmark's tasks as a Celery 5.7 app: the same code as `examples.guide.tasks`' `add` and
`tsum`. Imported only in the Celery venv, by the worker (``celery -A bench.celery_tasks worker``)
and by the runner (``python -m bench.run --system celery``). Broker and backend come from
CONF_BROKER / CONF_BACKEND, as `tests.conformance.services.celery_env` sets them.
"""

from __future__ import annotations

from tests.conformance.celery_base import celery_app

app = celery_app("bench")


@app.task(name="proj.add")
def add(x: int, y: int, debug: bool = False) -> int:
    return x + y


@app.task(name="proj.tsum")
def tsum(numbers: list[int]) -> int:
    return sum(numbers)
