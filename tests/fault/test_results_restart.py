"""The results service restarts while a client waits: the wait resumes, no result is lost."""

from __future__ import annotations

import threading
import time

import pytest

from examples.guide.tasks import sleep_task

pytestmark = [pytest.mark.fault, pytest.mark.slow]


def test_a_wait_survives_a_results_restart(fault_cluster: object) -> None:
    res = sleep_task.delay(4.0)  # outlasts the 2 s stop grace: the stream is cut, not drained
    restarter = threading.Timer(0.5, fault_cluster.restart_results)
    restarter.start()
    started = time.monotonic()
    assert res.get(timeout=60) == 4.0
    restarter.join()
    assert time.monotonic() - started < 30
