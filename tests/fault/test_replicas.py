"""Two scheduler replicas share one etcd: work submitted to one runs on workers of the other,
and a chord whose members complete through both replicas still runs its body exactly once."""

from __future__ import annotations

import os
import time
from typing import Any

import pytest

from examples.guide.tasks import add, tsum
from motet import chord
from tests.support.scrape import scrape

pytestmark = [pytest.mark.fault, pytest.mark.slow]


def test_two_scheduler_replicas_share_the_work(fault_cluster: object, record_dir: str) -> None:
    from tests.e2e.tasks import record_order

    second = fault_cluster.add_scheduler()
    fault_cluster.add_worker(scheduler=second, queues="replica")
    # Only the second replica's worker serves "replica"; the task is submitted to the first,
    # which holds it in its cache, so the wait is answered there too: when the second
    # replica's commit deletes the task, the first reads the result once (no results service).
    before_waits = scrape([fault_cluster.scheduler_metrics])
    before_streams = scrape([fault_cluster.results_metrics])
    assert add.apply_async((40, 2), queue="replica").get(timeout=60) == 42
    waits = scrape([fault_cluster.scheduler_metrics])
    key = ("motet_result_waits_total", frozenset({("outcome", "answered")}))
    assert waits.get(key, 0) - before_waits.get(key, 0) == 1
    streams = ("motet_result_requests_total", frozenset({("method", "WaitResult")}))
    assert scrape([fault_cluster.results_metrics]).get(streams, 0) == before_streams.get(streams, 0)
    before = _count(record_dir)
    members = [record_order.s(f"m{i}").set(queue="replica" if i % 2 else "celery") for i in range(40)]
    assert chord(members)(record_order.si("body")).get(timeout=90) == "body"
    lines = _lines(record_dir)[before:]
    assert lines.count("body") == 1
    assert sorted(x for x in lines if x != "body") == sorted(f"m{i}" for i in range(40))
    assert chord(add.s(i, i) for i in range(100))(tsum.s()).get(timeout=90) == 9900


def test_any_replica_inspects_every_worker_of_the_cluster(fault_cluster: object) -> None:
    from examples.guide.tasks import app, sleep_task
    from motet import App

    second = fault_cluster.add_scheduler()
    worker = fault_cluster.add_worker(scheduler=second, queues="elsewhere", concurrency="1")
    via_second = App("via-second", scheduler=second, results=fault_cluster.results)

    def serving(control_app: App) -> str | None:
        queues = control_app.control.inspect().active_queues() or {}
        return next((n for n, qs in queues.items() if "elsewhere" in [q["name"] for q in qs]), None)

    name = _eventually(lambda: serving(app))
    assert name is not None, "the first replica does not see the second replica's worker"
    assert set(via_second.control.inspect().ping()) == set(app.control.inspect().ping())
    res = sleep_task.apply_async((1.5,), queue="elsewhere")
    active = _eventually(lambda: app.control.inspect([name]).active()[name])
    assert [t["id"] for t in active] == [res.id] and active[0]["worker_pid"] == worker.pid
    assert res.get(timeout=60) == 1.5
    # Report counts reach the store with the session's lease renewal (every few seconds).
    stats = _eventually(lambda: app.control.inspect([name]).stats()[name]["total"], timeout=20)
    assert stats == {sleep_task.name: 1}


def _eventually(probe: Any, timeout: float = 15.0) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = probe()
        if value or time.monotonic() > deadline:
            return value
        time.sleep(0.1)


def _lines(record_dir: str) -> list[str]:
    path = os.path.join(record_dir, "order")
    if not os.path.exists(path):
        return []
    with open(path) as fh:
        return fh.read().split()


def _count(record_dir: str) -> int:
    return len(_lines(record_dir))
