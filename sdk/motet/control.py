"""`app.control`: inspecting workers and revoking tasks (Celery's `celery.app.control`).

Celery broadcasts a control message and collects the workers' replies; Motet asks the
scheduler, which knows every connected worker session and the tasks handed to each
(`SchedulerService.InspectWorkers`, answered from the store, so any scheduler replica answers
for the whole cluster). Replies have Celery's shapes, keyed by the worker's node name
(``celery@<worker id>``; the worker id is ``<hostname>.<pid>`` unless the worker names itself):

- ``inspect().ping()`` -> ``{name: {"ok": "pong"}}``
- ``inspect().registered()`` -> ``{name: [task names]}``
- ``inspect().active()`` / ``reserved()`` -> ``{name: [{"id", "name", "args", "kwargs", "type",
  "hostname", "time_start", "acknowledged", "delivery_info", "worker_pid"}]}``: active are the
  tasks a worker runs, reserved those it holds waiting for a free slot;
- ``inspect().stats()`` -> ``{name: {"total": {task: n}, "pid", "uptime", "pool": {...}, ...}}``
  (a subset of Celery's);
- ``inspect().active_queues()`` -> ``{name: [{"name": queue, "routing_key": queue, ...}]}``.

As in Celery, a reply with no worker in it is None, and an Inspect made for one destination
given as a string returns that worker's value alone.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

from motet import payload
from motet.exceptions import EncodeError
from motet.v1 import scheduler_pb2

if TYPE_CHECKING:
    from motet.app import App

__all__ = ["Control", "Inspect"]

_Destination = str | Iterable[str] | None


def _names(destination: _Destination) -> list[str]:
    if destination is None:
        return []
    if isinstance(destination, str):
        return [destination]
    return list(destination)


def _decoded(value: Any, default: Any) -> Any:
    try:
        return payload.decode(value, default)
    except EncodeError:
        return value.data  # an encoding this SDK does not read: the raw bytes


def _request_info(worker: scheduler_pb2.WorkerInfo, task: scheduler_pb2.HeldTask, active: bool) -> dict[str, Any]:
    """One held task, shaped like Celery's `Request.info()`."""
    return {
        "id": task.task_id,
        "name": task.task,
        "args": _decoded(task.args, []),
        "kwargs": _decoded(task.kwargs, {}),
        "type": task.task,
        "hostname": worker.name,
        "time_start": None,
        "acknowledged": active,
        "delivery_info": {
            "exchange": "",
            "routing_key": task.queue,
            "priority": task.priority,
            "redelivered": task.delivery > 1,
        },
        "worker_pid": (worker.pid or None) if active else None,
    }


def _stats(worker: scheduler_pb2.WorkerInfo) -> dict[str, Any]:
    connected = worker.connected_at.ToNanoseconds() / 1e9 if worker.HasField("connected_at") else time.time()
    return {
        "total": dict(sorted(worker.completed.items())),
        "pid": worker.pid or None,
        "hostname": worker.hostname or None,
        "uptime": max(int(time.time() - connected), 0),
        "pool": {"max-concurrency": worker.concurrency},
        "broker": {"transport": "motet"},
    }


class Inspect:
    """Questions about the connected workers (Celery's `app.control.inspect()`).

    Args:
        app: The App whose scheduler is asked.
        destination: A worker name, or names, to ask about (None: every worker).
        timeout: Accepted for Celery compatibility; the scheduler answers at once.
    """

    def __init__(self, app: App, destination: _Destination = None, timeout: float = 1.0, **_: Any) -> None:
        self.app = app
        self.destination = destination
        self.timeout = timeout

    def __repr__(self) -> str:
        return f"<Inspect destination={self.destination!r}>"

    def _each(self, fn: Callable[[scheduler_pb2.WorkerInfo], Any], destination: _Destination = None) -> Any:
        wanted = destination if destination is not None else self.destination
        by_node = {w.name: fn(w) for w in self.app.client.inspect_workers(_names(wanted))}
        if not by_node:
            return None
        if isinstance(wanted, str):
            return by_node.get(wanted)
        return by_node

    def ping(self, destination: _Destination = None) -> Any:
        """``{name: {"ok": "pong"}}`` for every connected worker (None if there is none)."""
        return self._each(lambda w: {"ok": "pong"}, destination)

    def registered(self, *taskinfoitems: str) -> Any:
        """``{name: [task names]}``: the tasks each worker serves, sorted."""
        return self._each(lambda w: list(w.task_names))

    registered_tasks = registered

    def active(self, safe: bool | None = None) -> Any:
        """``{name: [task info]}``: the tasks each worker is running."""
        return self._each(lambda w: [_request_info(w, t, active=True) for t in w.active])

    def reserved(self, safe: bool | None = None) -> Any:
        """``{name: [task info]}``: the tasks handed to each worker that wait for a free slot."""
        return self._each(lambda w: [_request_info(w, t, active=False) for t in w.reserved])

    def stats(self) -> Any:
        """``{name: {...}}``: per worker, tasks reported by name (``total``), pid, uptime, pool size."""
        return self._each(_stats)

    def active_queues(self) -> Any:
        """``{name: [{"name": queue, ...}]}``: the queues each worker serves."""
        return self._each(
            lambda w: [{"name": q, "exchange": {"name": q}, "routing_key": q, "durable": True} for q in w.queues]
        )


class Control:
    """Worker remote control (Celery's `app.control`): `inspect()`, `ping()` and `revoke()`.

    Args:
        app: The App whose services are used.
    """

    def __init__(self, app: App) -> None:
        self.app = app

    def __repr__(self) -> str:
        return f"<Control of {self.app!r}>"

    def inspect(self, destination: _Destination = None, timeout: float = 1.0, **kwargs: Any) -> Inspect:
        """An `Inspect` for every worker, or for the named ones."""
        return Inspect(self.app, destination=destination, timeout=timeout, **kwargs)

    def ping(self, destination: _Destination = None, timeout: float = 1.0, **_: Any) -> list[dict[str, Any]]:
        """``[{name: {"ok": "pong"}}, ...]``, one entry per connected worker (Celery's shape)."""
        replies = Inspect(self.app, destination=_names(destination) or None).ping() or {}
        return [{name: reply} for name, reply in replies.items()]

    def revoke(
        self,
        task_id: str | Iterable[str],
        destination: _Destination = None,
        terminate: bool = False,
        signal: str = "TERM",
        **_: Any,
    ) -> None:
        """Revokes tasks by id (and everything downstream of them), as `AsyncResult.revoke` does.

        A task that has not started is discarded and ends REVOKED; with `terminate` a running
        one is interrupted. `destination` and `signal` are accepted for Celery compatibility
        (the scheduler knows which worker holds the task; there is one way to interrupt it).
        """
        ids = [task_id] if isinstance(task_id, str) else list(task_id)
        self.app.client.revoke(ids, terminate=terminate)

    def terminate(self, task_id: str | Iterable[str], destination: _Destination = None, **kwargs: Any) -> None:
        """Revokes and interrupts the tasks (`revoke(..., terminate=True)`)."""
        self.revoke(task_id, destination=destination, terminate=True, **kwargs)
