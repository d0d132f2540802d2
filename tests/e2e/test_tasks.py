"""Worker behaviour over real processes: retries, request context, replace, limits, revoke."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import time
import traceback
from typing import Any

import pytest

from examples.guide.tasks import add, mul, sleep_task
from motet import GroupResult, chain, group
from motet.exceptions import RemoteTraceback, TaskRevokedError
from tests.e2e.tasks import (
    always_retry,
    autoretry_task,
    fails_deep,
    replace_with_chain,
    request_info,
    retry_task,
    soft_limited,
)

T = 30


def test_self_retry_runs_again_and_counts_retries(cluster: object) -> None:
    res = retry_task.delay(2)
    assert res.get(timeout=T) == 2


def test_autoretry_for_with_backoff(cluster: object) -> None:
    assert autoretry_task.delay().get(timeout=T) == 2


def test_retry_beyond_max_retries_fails_with_the_original_error(cluster: object) -> None:
    with pytest.raises(KeyError, match="gone"):
        always_retry.delay().get(timeout=T)


def test_bound_task_sees_celery_request_fields(cluster: object) -> None:
    res = (add.s(1, 1) | group(request_info.s(), request_info.s()))()
    infos = res.get(timeout=T)
    first = res.parent
    assert [i["group_index"] for i in infos] == [0, 1]
    assert {i["group_id"] for i in infos} == {res.id}
    assert {i["parent_id"] for i in infos} == {first.id}
    assert {i["root_id"] for i in infos} == {first.id}
    assert [i["id"] for i in infos] == [r.id for r in res.results]
    assert infos[0]["queue"] == "celery"


def test_replace_makes_the_replacement_result_the_task_result(cluster: object) -> None:
    res = (replace_with_chain.s(3) | add.s(100))()
    assert res.get(timeout=T) == 108
    assert res.parent.get(timeout=T) == 8


def test_soft_time_limit_is_raised_inside_the_task(cluster: object) -> None:
    started = time.monotonic()
    assert soft_limited.delay().get(timeout=T) == "cleaned up"
    assert time.monotonic() - started < 4  # the task would run 5 s without its limit


def test_revoke_terminate_interrupts_a_running_task(cluster: object) -> None:
    res = sleep_task.delay(20)
    deadline = time.time() + 10
    while res.state not in ("RECEIVED", "STARTED") and time.time() < deadline:
        time.sleep(0.05)
    started = time.monotonic()
    res.revoke(terminate=True)
    with pytest.raises(TaskRevokedError):
        res.get(timeout=T)
    assert time.monotonic() - started < 10


def test_results_and_graph_from_a_fresh_process(cluster: object) -> None:
    chained = (add.s(2, 2) | mul.s(10))()
    assert chained.get(timeout=T) == 40
    g = group(add.s(1, 1), add.s(2, 2))()
    g.get(timeout=T)
    g.save()
    script = textwrap.dedent(
        f"""
        from motet import App, AsyncResult, GroupResult
        app = App("fresh")
        r = AsyncResult({chained.id!r}, app=app)
        print(r.get(timeout=10), r.parent.id, r.parent.get(timeout=10))
        print(GroupResult.restore({g.id!r}, app=app).get(timeout=10))
        """
    )
    out = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=60, check=True
    ).stdout.split("\n")
    assert out[0] == f"40 {chained.parent.id} 4"
    assert out[1] == "[2, 4]"
    assert GroupResult.restore(g.id).get(timeout=T) == [2, 4]


def test_a_groups_state_is_read_in_one_call_not_one_per_member(
    cluster: object, monkeypatch: pytest.MonkeyPatch
) -> None:
    from motet import AsyncResult, current_app

    width = 400
    done = group(add.s(i, i) for i in range(width))()
    assert done.get(timeout=T) == [2 * i for i in range(width)]
    running = group(sleep_task.s(2.0) for _ in range(3))()
    client = current_app().client
    calls = {"get_result": 0, "get_results": 0}
    for name in calls:
        real = getattr(client, name)

        def counted(*args: Any, _real: Any = real, _name: str = name, **kwargs: Any) -> Any:
            calls[_name] += 1
            return _real(*args, **kwargs)

        monkeypatch.setattr(client, name, counted)
    # Fresh result objects: nothing cached, every member must be read.
    fresh = GroupResult(done.id, [AsyncResult(r.id) for r in done.results])
    assert fresh.completed_count() == width
    assert fresh.ready() and fresh.successful() and not fresh.failed()
    assert calls == {"get_result": 0, "get_results": 1}, calls  # then known finished: no more reads
    waiting = GroupResult(running.id, [AsyncResult(r.id) for r in running.results])
    assert not waiting.ready() and waiting.waiting() and waiting.completed_count() == 0
    assert calls == {"get_result": 0, "get_results": 4}, calls
    assert running.get(timeout=T) == [2.0] * 3


def test_group_result_operations(cluster: object) -> None:
    res = group(add.s(i, i) for i in range(5))()
    assert res.get(timeout=T) == [0, 2, 4, 6, 8]
    assert res.ready() and res.successful() and not res.failed() and not res.waiting()
    assert res.completed_count() == 5
    res.forget()
    assert res.results[0].state == "PENDING"


def test_queue_routing_waits_for_a_worker_of_that_queue(cluster: object) -> None:
    res = add.apply_async((20, 22), queue="emails")
    time.sleep(0.5)
    assert res.state == "PENDING"  # no worker serves "emails" yet
    cluster.add_worker(queues="emails")
    assert res.get(timeout=T) == 42


def test_chain_options_reach_every_step(cluster: object) -> None:
    cluster.add_worker(queues="reports")
    res = chain(request_info.s(), request_info.s(), queue="reports")()
    assert res.get(timeout=T)["queue"] == "reports"
    assert res.parent.get(timeout=T)["queue"] == "reports"  # Celery routes only the first step


def test_processes_pool_runs_tasks_in_child_processes(cluster: object) -> None:
    from tests.e2e.tasks import pid

    worker = cluster.add_worker(queues="cpu", pool="processes")
    pids = group(pid.s().set(queue="cpu") for _ in range(4))().get(timeout=60)
    assert worker.pid not in pids
    assert add.apply_async((2, 3), queue="cpu").get(timeout=T) == 5


def test_sigterm_lets_a_worker_finish_its_task_before_it_leaves(cluster: object) -> None:
    worker = cluster.add_worker(queues="drain")
    res = sleep_task.apply_async((1.0,), queue="drain")
    deadline = time.time() + 60  # a loaded machine may take a while to start the worker
    while res.state == "PENDING" and time.time() < deadline:
        time.sleep(0.05)
    assert res.state != "PENDING", "the new worker never received the task"
    worker.stop()  # SIGTERM: no other worker serves "drain", so only this one can finish it
    assert res.get(timeout=5) == 1.0
    assert worker.proc is not None and worker.proc.returncode == 0


def test_higher_priority_runs_first(cluster: object, record_dir: str) -> None:
    import os

    from tests.e2e.tasks import record_order

    low = [record_order.apply_async((f"low{i}",), queue="prio", priority=0) for i in range(3)]
    high = record_order.apply_async(("high",), queue="prio", priority=9)
    cluster.add_worker(queues="prio", concurrency="1", prefetch="1")
    for r in [*low, high]:
        r.get(timeout=T)
    with open(os.path.join(record_dir, "order")) as fh:
        order = fh.read().split()
    assert order[0] == "high"
    assert order[1:] == ["low0", "low1", "low2"]  # equal priority: first come, first served


def test_track_started_shows_started_while_running(cluster: object) -> None:
    from tests.e2e.tasks import tracked_sleep

    res = tracked_sleep.delay(1.5)
    seen = set()
    deadline = time.time() + 10
    while not res.ready() and time.time() < deadline:
        seen.add(res.state)
        time.sleep(0.05)
    assert "STARTED" in seen
    assert res.get(timeout=T) == 1.5


@pytest.mark.parametrize("pool", ["threads", "processes"])
def test_a_task_exception_carries_the_remote_traceback_without_motets_frames(cluster: Any, pool: str) -> None:
    queue = f"tb-{pool}"
    worker = cluster.add_worker(pool=pool, queues=queue)
    try:
        res = fails_deep.apply_async((7,), queue=queue)
        with pytest.raises(ValueError, match="bad input 7") as info:
            res.get(timeout=60)
    finally:
        worker.stop()
    cause = info.value.__cause__
    assert isinstance(cause, RemoteTraceback), "get() raised the task's error without its remote traceback"
    text = cause.traceback
    assert text.startswith("Traceback (most recent call last)")
    assert "in fails_deep" in text and "in _deep_helper" in text
    assert 'raise ValueError(f"bad input {n}")' in text
    assert "motet_server" not in text and f"{os.sep}motet{os.sep}" not in text, text
    printed = "".join(traceback.format_exception(info.value))
    assert "The above exception was the direct cause of the following exception" in printed
