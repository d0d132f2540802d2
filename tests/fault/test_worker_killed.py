"""A worker killed with SIGKILL mid-task: its tasks are redelivered, every result is present once.

Workload -> fault -> check against a model (the shape of etcd's robustness tests): the model of
`chord(slow_add(i, i) for i in range(n))(tsum)` is the value n*(n-1) and one result per member.
"""

from __future__ import annotations

import os
import time

import pytest

from examples.guide.tasks import add, tsum
from motet import chord, group
from tests.support.scrape import scrape, total

pytestmark = [pytest.mark.fault, pytest.mark.slow]


def _started_ids(record_dir: str) -> list[str]:
    path = os.path.join(record_dir, "slow_add")
    if not os.path.exists(path):
        return []
    with open(path) as fh:
        return fh.read().split()


def test_sigkill_mid_task_redelivers_and_finishes_once(fault_cluster: object, record_dir: str) -> None:
    from tests.e2e.tasks import slow_add

    n = 12
    before = scrape(fault_cluster.scheduler_metrics)  # type: ignore[attr-defined]
    res = chord(slow_add.s(i, i) for i in range(n))(tsum.s())
    deadline = time.time() + 30
    while len(_started_ids(record_dir)) < 2 and time.time() < deadline:
        time.sleep(0.05)
    assert _started_ids(record_dir), "no task started before the fault"
    fault_cluster.kill_worker(0)
    assert res.get(timeout=90) == n * (n - 1)
    members = res.parent.results
    assert [m.get(timeout=5) for m in members] == [2 * i for i in range(n)]
    started = _started_ids(record_dir)
    # Every member ran at least once; the ones the killed worker held ran again.
    assert set(started) >= {m.id for m in members}
    # What an operator sees: the worker lost, what it held redelivered.
    after = scrape(fault_cluster.scheduler_metrics)  # type: ignore[attr-defined]
    assert total(after, "motet_worker_lost_total") - total(before, "motet_worker_lost_total") == 1
    lost = {"reason": "worker_lost"}
    assert total(after, "motet_redeliveries_total", **lost) - total(before, "motet_redeliveries_total", **lost) >= 1
    # A later plain workload still completes on the surviving worker (nothing wedged).
    assert group(add.s(i, 1) for i in range(5))().get(timeout=30) == [1, 2, 3, 4, 5]


def _read(path: str) -> str:
    try:
        with open(path) as fh:
            return fh.read()
    except OSError:
        return ""


def _running(pid: int) -> bool:
    stat = _read(f"/proc/{pid}/stat")
    return bool(stat) and stat.rsplit(")", 1)[1].split()[0] != "Z"


def _children(pid: int) -> list[int]:
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as fh:
                    fields = fh.read().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == pid and fields[0] != "Z":
                found.append(int(entry))
    return found


def test_a_killed_processes_worker_leaves_no_pool_child_running(fault_cluster: object) -> None:
    from examples.guide.tasks import sleep_task

    worker = fault_cluster.add_worker(pool="processes", queues="pdeath", concurrency="2")  # type: ignore[attr-defined]
    res = sleep_task.apply_async((30.0,), queue="pdeath")
    deadline = time.time() + 30
    while res.state != "RECEIVED" and time.time() < deadline:
        time.sleep(0.1)
    children = []
    while time.time() < deadline and not children:
        children = [c for c in _children(worker.pid) if "multiprocessing" in _read(f"/proc/{c}/cmdline")]
        time.sleep(0.1)
    assert children, "the processes pool started no child"
    worker.kill()
    worker.stop()
    deadline = time.time() + 10
    alive = children
    while alive and time.time() < deadline:
        alive = [c for c in children if _running(c)]
        time.sleep(0.1)
    assert not alive, f"pool children {alive} of the killed worker still run"
    res.revoke(terminate=True)
