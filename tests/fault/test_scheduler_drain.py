"""A rolling deploy: a scheduler stopped with SIGTERM lets its workers finish and report the
tasks they hold before it goes, so nothing runs twice.

Workload -> fault -> check: a task running on a worker of the stopping scheduler, a second
replica with its own worker ready to take anything handed back; the model says the task ran
once and its result is its own.
"""

from __future__ import annotations

import os
import time

import pytest

from motet_server.devcluster import DevCluster

pytestmark = [pytest.mark.fault, pytest.mark.slow]


def _runs(record_dir: str) -> list[str]:
    path = os.path.join(record_dir, "runs")
    if not os.path.exists(path):
        return []
    with open(path) as fh:
        return fh.read().split()


def test_a_graceful_scheduler_stop_reruns_nothing(fault_cluster: DevCluster, record_dir: str) -> None:
    from tests.e2e.tasks import note_run

    fault_cluster.add_worker(queues="deploy", concurrency="1")  # on the scheduler that will stop
    res = note_run.apply_async(("deployed", 2.0), queue="deploy")
    deadline = time.time() + 60
    while "deployed" not in _runs(record_dir) and time.time() < deadline:
        time.sleep(0.05)
    assert _runs(record_dir) == ["deployed"], "the task never started"
    second = fault_cluster.add_scheduler()
    fault_cluster.add_worker(scheduler=second, queues="deploy", concurrency="1")
    fault_cluster.restart_scheduler()  # SIGTERM while the task runs, then start it again
    assert res.get(timeout=60) == "deployed"
    time.sleep(1.0)  # a re-run would have started by now on the second replica's worker
    assert _runs(record_dir) == ["deployed"]
