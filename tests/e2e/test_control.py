"""`app.control` (Celery's remote control) against a real cluster: inspect().ping(),
registered(), active(), reserved(), stats(), active_queues(), and revoke(task_id)."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import pytest

from examples.guide.tasks import add, app, sleep_task
from motet.exceptions import TaskRevokedError

T = 30


def _eventually(probe: Callable[[], Any], timeout: float = 15.0) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = probe()
        if value or time.monotonic() > deadline:
            return value
        time.sleep(0.05)


def _serving(queue: str) -> str:
    def probe() -> str | None:
        queues = app.control.inspect().active_queues() or {}
        return next((name for name, qs in queues.items() if queue in [q["name"] for q in qs]), None)

    name = _eventually(probe)
    assert name, f"no worker serves {queue!r}"
    return str(name)


def test_ping_and_registered_name_every_connected_worker(cluster: object) -> None:
    replies = app.control.inspect().ping()
    assert replies is not None and len(replies) >= 2  # the cluster's two workers, at least
    assert all(reply == {"ok": "pong"} for reply in replies.values())
    assert all(name.startswith("celery@") for name in replies)
    registered = app.control.inspect().registered()
    assert set(registered) == set(replies)
    for names in registered.values():
        assert add.name in names and sleep_task.name in names and names == sorted(names)
    assert sorted(next(iter(r)) for r in app.control.ping()) == sorted(replies)
    name = sorted(replies)[0]
    # Celery's destination rules: a name given as a string answers with that worker's value.
    assert app.control.inspect(destination=name).ping() == {"ok": "pong"}
    assert app.control.inspect(destination=[name]).ping() == {name: {"ok": "pong"}}
    assert app.control.inspect(destination=["celery@nobody"]).ping() is None


def test_active_reserved_and_revoking_a_reserved_task(cluster: object) -> None:
    worker = cluster.add_worker(queues="inspect", concurrency="1", prefetch="3")
    name = _serving("inspect")
    inspect = app.control.inspect([name])
    sent = [sleep_task.apply_async((1.0,), queue="inspect") for _ in range(3)]

    def held() -> tuple[list[dict[str, Any]], list[dict[str, Any]]] | None:
        active, reserved = inspect.active()[name], inspect.reserved()[name]
        return (active, reserved) if len(active) + len(reserved) == 3 else None

    found = _eventually(held)
    assert found, "the worker never held the three tasks"
    active, reserved = found
    # One runs (concurrency 1); the other two wait in its prefetch, in the order handed over.
    assert [t["id"] for t in active] == [sent[0].id]
    assert [t["id"] for t in reserved] == [r.id for r in sent[1:]]
    task = active[0]
    assert (task["name"], task["type"], task["args"], task["kwargs"]) == (sleep_task.name, sleep_task.name, [1.0], {})
    assert task["hostname"] == name and task["acknowledged"] is True and task["worker_pid"] == worker.pid
    assert task["delivery_info"] == {"exchange": "", "routing_key": "inspect", "priority": 0, "redelivered": False}
    assert reserved[0]["acknowledged"] is False and reserved[0]["worker_pid"] is None
    # Celery: revoking a task that has not started discards it; it ends REVOKED, never runs.
    app.control.revoke(sent[2].id, terminate=False)
    with pytest.raises(TaskRevokedError, match="revoked"):
        sent[2].get(timeout=T)
    assert sent[2].state == "REVOKED"
    assert [r.get(timeout=T) for r in sent[:2]] == [1.0, 1.0]
    assert _eventually(lambda: inspect.active() == {name: []} and inspect.reserved() == {name: []})
    stats = _eventually(lambda: (s := inspect.stats()[name])["total"].get(sleep_task.name) == 3 and s)
    assert stats["pid"] == worker.pid and stats["pool"] == {"max-concurrency": 1}
    assert stats["total"] == {sleep_task.name: 3} and stats["uptime"] >= 0


def test_revoking_a_reserved_task_of_the_processes_pool_drops_it(cluster: object) -> None:
    # The processes pool must discard a task it holds but has not started, as the threads pool
    # does: it ends REVOKED without running (it used to run, its result SUCCESS).
    cluster.add_worker(queues="proc-revoke", pool="processes", concurrency="1", prefetch="3")
    name = _serving("proc-revoke")
    running = sleep_task.apply_async((2.0,), queue="proc-revoke")
    held = sleep_task.apply_async((0.1,), queue="proc-revoke")
    inspect = app.control.inspect([name])

    def reserved() -> bool:
        return held.id in [t["id"] for t in inspect.reserved()[name]]

    assert _eventually(reserved), "the worker never held the second task"
    app.control.revoke(held.id, terminate=False)
    with pytest.raises(TaskRevokedError, match="revoked"):
        held.get(timeout=T)
    assert held.state == "REVOKED"
    assert running.get(timeout=T) == 2.0


def test_revoke_takes_one_id_or_several(cluster: object) -> None:
    first = add.apply_async((1, 1), countdown=5)
    second = add.apply_async((2, 2), countdown=5)
    app.control.revoke([first.id, second.id])
    for res in (first, second):
        with pytest.raises(TaskRevokedError):
            res.get(timeout=T)
