"""A worker frozen with SIGSTOP keeps its TCP connection up but sends nothing: the scheduler
ends its session once it has been silent too long, and its task runs on another worker.

Workload -> fault -> check: one task on a private queue, held by a worker that is then frozen;
the model says the task completes once, on the other worker, within the silence limit.
"""

from __future__ import annotations

import os
import signal
import time

import pytest

from motet_server.config import WORKER_SILENCE_LIMIT
from motet_server.devcluster import DevCluster
from tests.support.scrape import scrape, total

pytestmark = [pytest.mark.fault, pytest.mark.slow]


def test_a_frozen_worker_loses_its_task_to_a_live_one(fault_cluster: DevCluster) -> None:
    from tests.e2e.tasks import sleep_task

    frozen = fault_cluster.add_worker(queues="frozen", concurrency="1", prefetch="1")
    before = scrape(fault_cluster.scheduler_metrics)
    res = sleep_task.apply_async((0.5,), queue="frozen")
    deadline = time.time() + 60
    while res.state == "PENDING" and time.time() < deadline:
        time.sleep(0.05)
    assert res.state != "PENDING", "the first worker never received the task"
    assert frozen.pid is not None
    os.kill(frozen.pid, signal.SIGSTOP)
    try:
        fault_cluster.add_worker(queues="frozen", concurrency="1")
        # The silence limit, one lease-renewal period to notice it, and time to redeliver.
        assert res.get(timeout=WORKER_SILENCE_LIMIT + 20) == 0.5
        # What an operator sees: one worker lost, its one task redelivered.
        after = scrape(fault_cluster.scheduler_metrics)
        assert total(after, "motet_worker_lost_total") - total(before, "motet_worker_lost_total") == 1
        lost = {"reason": "worker_lost"}
        assert total(after, "motet_redeliveries_total", **lost) - total(before, "motet_redeliveries_total", **lost) == 1
    finally:
        os.kill(frozen.pid, signal.SIGCONT)
