"""The SDK's gRPC client: one channel per endpoint, gRPC status codes mapped to MotetError.

Status mapping: UNAVAILABLE -> ServiceUnavailable (naming the endpoint and how to start a
cluster), NOT_FOUND -> NotFound, INVALID_ARGUMENT -> CanvasError (with the field violations
of a `google.rpc.BadRequest` detail), RESOURCE_EXHAUSTED -> EncodeError, DEADLINE_EXCEEDED ->
motet.exceptions.TimeoutError; anything else -> MotetError.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from typing import TYPE_CHECKING

import grpc
from google.rpc import error_details_pb2
from grpc_status import rpc_status

from motet.exceptions import CanvasError, EncodeError, MotetError, NotFound, ServiceUnavailable, TimeoutError
from motet.v1 import canvas_pb2, results_pb2, results_pb2_grpc, scheduler_pb2, scheduler_pb2_grpc

if TYPE_CHECKING:
    from motet.app import App

__all__ = [
    "MAX_MESSAGE_BYTES", "error_from_rpc", "forget", "get_result", "restore_group", "revoke", "save_group",
    "submit", "wait",
]

MAX_MESSAGE_BYTES = 64 * 1024 * 1024
"""The largest gRPC message sent or received (a wide canvas in one SubmitCanvas call)."""

_UNARY_TIMEOUT = 30.0  # seconds; a unary call that takes longer means a sick service
_SUBMIT_TIMEOUT = 60.0  # a wide canvas is written in several batched transactions
_UNAVAILABLE_RETRIES = 3  # calls are idempotent on their ids; a restarting service gets ~1.5 s
_WAIT_RETRIES = 5

_channels: dict[str, grpc.Channel] = {}
_lock = threading.Lock()


def _channel(endpoint: str) -> grpc.Channel:
    with _lock:
        channel = _channels.get(endpoint)
        if channel is None:
            channel = grpc.insecure_channel(
                endpoint,
                options=[
                    ("grpc.max_send_message_length", MAX_MESSAGE_BYTES),
                    ("grpc.max_receive_message_length", MAX_MESSAGE_BYTES),
                ],
            )
            _channels[endpoint] = channel
        return channel


def _metadata(app: App) -> tuple[tuple[str, str], ...]:
    return (("motet-namespace", app.namespace),) if app.namespace else ()


def error_from_rpc(err: grpc.RpcError, endpoint: str, what: str) -> MotetError:
    """The MotetError for a failed gRPC call.

    Args:
        err: The error raised by the stub.
        endpoint: The endpoint called (named in ServiceUnavailable).
        what: What was being done ("submitting the canvas"), for the message.
    """
    code = err.code()  # type: ignore[attr-defined]
    details = err.details() or ""  # type: ignore[attr-defined]
    if code == grpc.StatusCode.UNAVAILABLE:
        return ServiceUnavailable(
            f"{what}: no Motet service answers at {endpoint} ({details}). Start a local cluster with "
            "`motet dev --app MODULE`, or point MOTET_SCHEDULER / MOTET_RESULTS at one (host:port)"
        )
    if code == grpc.StatusCode.NOT_FOUND:
        return NotFound(f"{what}: {details}")
    if code == grpc.StatusCode.INVALID_ARGUMENT:
        violations = []
        try:
            status = rpc_status.from_call(err)  # type: ignore[arg-type]
        except ValueError:
            status = None
        for detail in status.details if status else []:
            if detail.Is(error_details_pb2.BadRequest.DESCRIPTOR):
                bad = error_details_pb2.BadRequest()
                detail.Unpack(bad)
                violations += [f"{v.field}: {v.description}" for v in bad.field_violations]
        return CanvasError(f"{what}: {details}" + (" [" + "; ".join(violations) + "]" if violations else ""))
    if code == grpc.StatusCode.RESOURCE_EXHAUSTED:
        return EncodeError(f"{what}: {details}")
    if code == grpc.StatusCode.DEADLINE_EXCEEDED:
        return TimeoutError(f"{what}: no answer in time from {endpoint}")
    return MotetError(f"{what}: {code.name}: {details}")


def _unary(app: App, endpoint: str, what: str, call: grpc.UnaryUnaryMultiCallable, request: object, timeout: float) -> object:
    for attempt in range(_UNAVAILABLE_RETRIES + 1):
        try:
            return call(request, timeout=timeout, metadata=_metadata(app))
        except grpc.RpcError as err:
            if err.code() != grpc.StatusCode.UNAVAILABLE or attempt == _UNAVAILABLE_RETRIES:  # type: ignore[attr-defined]
                raise error_from_rpc(err, endpoint, what) from None
            time.sleep(0.25 * (attempt + 1))
    raise AssertionError("unreachable")


def submit(app: App, canvas: canvas_pb2.Canvas) -> scheduler_pb2.SubmitCanvasResponse:
    """Submits a frozen canvas to the app's scheduler.

    A refused connection is retried briefly (the call is idempotent on the root id), then
    reported as ServiceUnavailable rather than waited on.
    """
    stub = scheduler_pb2_grpc.SchedulerServiceStub(_channel(app.scheduler))
    request = scheduler_pb2.SubmitCanvasRequest(canvas=canvas)
    return _unary(app, app.scheduler, "submitting the canvas", stub.SubmitCanvas, request, _SUBMIT_TIMEOUT)  # type: ignore[return-value]


def revoke(app: App, ids: list[str], terminate: bool = False) -> int:
    """Revokes tasks (and everything downstream of them); returns how many were revoked now."""
    stub = scheduler_pb2_grpc.SchedulerServiceStub(_channel(app.scheduler))
    request = scheduler_pb2.RevokeTaskRequest(task_ids=ids, terminate=terminate)
    reply = _unary(app, app.scheduler, "revoking", stub.RevokeTask, request, _UNARY_TIMEOUT)
    return int(reply.revoked)  # type: ignore[attr-defined]


def _results(app: App) -> results_pb2_grpc.ResultsServiceStub:
    return results_pb2_grpc.ResultsServiceStub(_channel(app.results))


def get_result(app: App, task_id: str) -> results_pb2.TaskResult:
    """The current state of one task (PENDING for an id never seen)."""
    request = results_pb2.GetResultRequest(task_id=task_id)
    reply = _unary(app, app.results, f"reading result {task_id}", _results(app).GetResult, request, _UNARY_TIMEOUT)
    return reply.result  # type: ignore[attr-defined, no-any-return]


def wait(app: App, ids: list[str], timeout: float | None) -> Iterator[results_pb2.TaskResult]:
    """Yields each task's result once it is ready, over one WaitResult stream for all of them.

    Results are durable, so a stream broken (or ended early) by a restarting results service
    is opened again for the ids still missing (a few tries, within `timeout`).

    Raises:
        motet.exceptions.TimeoutError: when `timeout` seconds pass first.
    """
    deadline = None if timeout is None else time.monotonic() + timeout
    missing = dict.fromkeys(ids)
    retries = 0
    while missing:
        left = None if deadline is None else deadline - time.monotonic()
        if left is not None and left <= 0:
            raise TimeoutError(f"the operation timed out after {timeout} s waiting for {len(missing)} result(s)")
        try:
            stream = _results(app).WaitResult(
                results_pb2.WaitResultRequest(task_ids=list(missing)), timeout=left, metadata=_metadata(app)
            )
            for reply in stream:
                if reply.result.task_id in missing:
                    del missing[reply.result.task_id]
                    retries = 0
                    yield reply.result
        except grpc.RpcError as err:
            code = err.code()  # type: ignore[attr-defined]
            if code == grpc.StatusCode.DEADLINE_EXCEEDED:
                raise TimeoutError(
                    f"the operation timed out after {timeout} s waiting for {len(missing)} result(s)"
                ) from None
            if code != grpc.StatusCode.UNAVAILABLE or retries >= _WAIT_RETRIES:
                raise error_from_rpc(err, app.results, "waiting for results") from None
        if missing:
            retries += 1
            if retries > _WAIT_RETRIES:
                raise MotetError(f"the results service ended the wait with {len(missing)} result(s) missing")
            time.sleep(0.3 * retries)


def save_group(app: App, group: results_pb2.GroupRef) -> None:
    """Saves a group's members under its id."""
    request = results_pb2.SaveGroupRequest(group=group)
    _unary(app, app.results, "saving the group", _results(app).SaveGroup, request, _UNARY_TIMEOUT)


def restore_group(app: App, group_id: str) -> results_pb2.GroupRef:
    """Reads a saved group.

    Raises:
        NotFound: if it was never saved, or was forgotten or expired.
    """
    request = results_pb2.RestoreGroupRequest(group_id=group_id)
    reply = _unary(app, app.results, f"restoring group {group_id}", _results(app).RestoreGroup, request, _UNARY_TIMEOUT)
    return reply.group  # type: ignore[attr-defined, no-any-return]


def forget(app: App, ids: list[str]) -> int:
    """Deletes results and saved groups; returns how many keys were deleted."""
    request = results_pb2.ForgetResultRequest(ids=ids)
    reply = _unary(app, app.results, "forgetting results", _results(app).ForgetResult, request, _UNARY_TIMEOUT)
    return int(reply.deleted)  # type: ignore[attr-defined]
