"""Runs one assignment in this process and describes the outcome as a report frame."""

from __future__ import annotations

import ctypes
import os
import random
import threading
from typing import Any

from motet import App, payload, tracing
from motet.canvas import Signature
from motet.exceptions import Ignore, NotRegistered, Replace, Retry, TaskRevokedError
from motet.failures import exception_from_failure, failure_from_exception, user_traceback
from motet.task import Request, Task
from motet.v1 import common_pb2, worker_pb2

_WORKER_PACKAGE = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
"""The services package (motet_server): its frames are left out of reported tracebacks."""

__all__ = ["Running", "execute", "interrupt", "retry_countdown"]


class Running:
    """Which thread runs which task, so a revoke or time limit can interrupt it."""

    def __init__(self) -> None:
        self._threads: dict[str, int] = {}
        self._lock = threading.Lock()

    def enter(self, task_id: str) -> None:
        with self._lock:
            self._threads[task_id] = threading.get_ident()

    def leave(self, task_id: str) -> None:
        with self._lock:
            self._threads.pop(task_id, None)

    def thread_of(self, task_id: str) -> int | None:
        with self._lock:
            return self._threads.get(task_id)


def interrupt(thread_id: int, exc_type: type[BaseException]) -> bool:
    """Raises `exc_type` inside a running thread at its next bytecode (soft limits, terminate)."""
    done = ctypes.pythonapi.PyThreadState_SetAsyncExc(ctypes.c_ulong(thread_id), ctypes.py_object(exc_type))
    return bool(done == 1)


def retry_countdown(task: Task, retries: int) -> float:
    """The delay before an automatic retry: exponential when `retry_backoff` is set."""
    if not task.retry_backoff:
        return float(task.retry_kwargs.get("countdown", task.default_retry_delay))
    factor = 1.0 if task.retry_backoff is True else float(task.retry_backoff)
    delay = min(task.retry_backoff_max, factor * (2**retries))
    if task.retry_jitter:
        delay = random.uniform(0, delay)  # noqa: S311 - spreading retries, not security
    return float(delay)


def _request_fields(a: worker_pb2.Assignment, args: list[Any], kwargs: dict[str, Any]) -> dict[str, Any]:
    r = a.request
    return {
        "id": a.task_id,
        "root_id": r.root_id or a.task_id,
        "parent_id": r.parent_id or None,
        "group_id": r.group_id or None,
        "group_index": r.group_index if r.group_id else None,
        "retries": r.retries,
        "max_retries": r.max_retries if r.HasField("max_retries") else None,
        "delivery_info": {"routing_key": r.queue, "priority": r.priority},
        "args": args,
        "kwargs": kwargs,
        "options": r.options,
        "hostname": None,
    }


def execute(app: App, a: worker_pb2.Assignment, running: Running) -> worker_pb2.ConnectRequest:
    """Runs the assignment; returns the report frame (never raises for a task's own error)."""
    task = app.tasks.get(a.task)
    if task is None:
        return _failed(a, NotRegistered(f"task {a.task!r} is not registered in this worker"))
    try:
        accept = payload.accepted(app.conf.get("accept_content"))
        args = list(payload.decode(a.args, [], accept=accept))
        kwargs = dict(payload.decode(a.kwargs, {}, accept=accept))
    except Exception as exc:  # noqa: BLE001 - reported as the task's failure (ContentDisallowed too)
        return _failed(a, exc)
    fields = _request_fields(a, args, kwargs)
    if fields["max_retries"] is None:
        fields["max_retries"] = task.max_retries
    task.push_request(**fields)
    running.enter(a.task_id)
    try:
        attributes = {
            "motet.task_id": a.task_id,
            "motet.task": a.task,
            "motet.root_id": a.request.root_id or a.task_id,
            "motet.group_id": a.request.group_id,
            "motet.retries": a.request.retries,
        }
        with tracing.task_span(a.task, a.request.options.traceparent, attributes, links=a.request.links):
            value = _call(task, a, args, kwargs, accept)
            traceparent = tracing.current_traceparent(recorded=True)  # the run's own span, for links
    except Retry as retry:
        return _retry(
            a,
            retry.countdown if retry.countdown is not None else task.default_retry_delay,
            retry.exc or retry,
            retry.max_retries,
        )
    except Replace as replace:
        return _replaced(a, replace.sig)
    except Ignore:
        return _failed(a, TaskRevokedError("ignored"))
    except BaseException as exc:  # noqa: BLE001 - a task may raise anything; the worker goes on
        if task.autoretry_for and isinstance(exc, task.autoretry_for):
            limit = fields["max_retries"]
            if limit is None or a.request.retries < limit:
                return _retry(a, retry_countdown(task, a.request.retries), exc, None)
        return _failed(a, exc)
    finally:
        running.leave(a.task_id)
        task.pop_request()
    try:
        serializer = app.conf.get("result_serializer") or payload.JSON
        encoded = payload.encode(value, what=f"task {a.task} return value", serializer=serializer)
    except Exception as exc:  # noqa: BLE001 - an unencodable value is the task's failure
        return _failed(a, exc)
    return worker_pb2.ConnectRequest(
        succeeded=worker_pb2.TaskSucceeded(
            task_id=a.task_id, delivery=a.delivery, value=encoded, traceparent=traceparent
        )
    )


def _call(task: Task, a: worker_pb2.Assignment, args: list[Any], kwargs: dict[str, Any], accept: frozenset[str]) -> Any:
    if a.call == worker_pb2.CALL_KIND_MAP:
        items, rest = args[0], args[1:]
        return [task(item, *rest, **kwargs) for item in items]
    if a.call == worker_pb2.CALL_KIND_STARMAP:
        items, rest = args[0], args[1:]
        return [task(*item, *rest, **kwargs) for item in items]
    if a.call == worker_pb2.CALL_KIND_ERRBACK:
        # Celery's two calling conventions, chosen by the errback function's arity.
        if task.new_style_errback():
            exc = exception_from_failure(a.errback_failure)
            failure = a.errback_failure
            # Celery hands a chord's errback no traceback for the ChordError of a header failure.
            upstream = failure.kind == common_pb2.FAILURE_KIND_UPSTREAM
            traceback = None if upstream else (failure.traceback or None)
            return task(_failed_request(a, accept), exc, traceback, *args, **kwargs)
        return task(a.failed_request.task_id or a.request.failed_task_id, *args, **kwargs)
    return task(*args, **kwargs)


def _failed_request(a: worker_pb2.Assignment, accept: frozenset[str]) -> Request:
    """The request of the failed task, as a new-style errback receives it (Celery's names)."""
    f = a.failed_request
    r = f.request
    return Request(
        id=f.task_id or a.request.failed_task_id,
        task=f.task or None,
        root_id=r.root_id or None,
        parent_id=r.parent_id or None,
        group_id=r.group_id or None,
        group_index=r.group_index if r.group_id else None,
        retries=r.retries,
        delivery_info={"routing_key": r.queue, "priority": r.priority},
        args=list(payload.decode(f.args, [], accept=accept)),
        kwargs=dict(payload.decode(f.kwargs, {}, accept=accept)),
        called_directly=False,
    )


def _failed(a: worker_pb2.Assignment, exc: BaseException) -> worker_pb2.ConnectRequest:
    failure = failure_from_exception(exc, task_id=a.task_id, tb=user_traceback(exc, skip=[_WORKER_PACKAGE]))
    return worker_pb2.ConnectRequest(
        failed=worker_pb2.TaskFailed(task_id=a.task_id, delivery=a.delivery, failure=failure)
    )


def _retry(
    a: worker_pb2.Assignment, countdown: float, exc: BaseException, max_retries: int | None
) -> worker_pb2.ConnectRequest:
    frame = worker_pb2.TaskRetry(
        task_id=a.task_id,
        delivery=a.delivery,
        countdown=float(countdown),
        failure=failure_from_exception(exc, task_id=a.task_id),
    )
    if max_retries is not None:
        frame.max_retries = max_retries
    return worker_pb2.ConnectRequest(retry=frame)


def _replaced(a: worker_pb2.Assignment, sig: Signature) -> worker_pb2.ConnectRequest:
    try:
        replacement = sig._copy() if hasattr(sig, "_copy") else sig
        replacement.freeze()  # ids for every node; the scheduler gives the final one this task's id
        canvas = replacement.to_proto()
    except Exception as exc:  # noqa: BLE001 - a replacement that cannot be sent fails the task
        return _failed(a, exc)
    return worker_pb2.ConnectRequest(
        replaced=worker_pb2.TaskReplaced(task_id=a.task_id, delivery=a.delivery, canvas=canvas)
    )
