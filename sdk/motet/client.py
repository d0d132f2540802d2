"""The SDK's gRPC client: one channel per endpoint, errors mapped to MotetError subclasses."""

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

__all__ = ["forget", "get_result", "restore_group", "revoke", "save_group", "submit", "wait"]

_MAX_MESSAGE = 64 * 1024 * 1024
_channels: dict[str, grpc.Channel] = {}
_lock = threading.Lock()


def _channel(endpoint: str) -> grpc.Channel:
    with _lock:
        channel = _channels.get(endpoint)
        if channel is None:
            channel = grpc.insecure_channel(
                endpoint,
                options=[("grpc.max_send_message_length", _MAX_MESSAGE), ("grpc.max_receive_message_length", _MAX_MESSAGE)],
            )
            _channels[endpoint] = channel
        return channel


def _error(err: grpc.RpcError, endpoint: str, what: str) -> MotetError:
    code = err.code()  # type: ignore[attr-defined]
    details = err.details()  # type: ignore[attr-defined]
    if code == grpc.StatusCode.UNAVAILABLE:
        return ServiceUnavailable(
            f"{what}: no Motet service answers at {endpoint} ({details}). Start a local cluster with "
            "`motet dev --app MODULE`, or set MOTET_SCHEDULER / MOTET_RESULTS to host:port"
        )
    if code == grpc.StatusCode.NOT_FOUND:
        return NotFound(details)
    if code == grpc.StatusCode.INVALID_ARGUMENT:
        violations = []
        status = rpc_status.from_call(err)  # type: ignore[arg-type]
        for detail in status.details if status else []:
            if detail.Is(error_details_pb2.BadRequest.DESCRIPTOR):
                bad = error_details_pb2.BadRequest()
                detail.Unpack(bad)
                violations += [f"{v.field}: {v.description}" for v in bad.field_violations]
        return CanvasError(details + (" [" + "; ".join(violations) + "]" if violations else ""))
    if code == grpc.StatusCode.RESOURCE_EXHAUSTED:
        return EncodeError(details)
    if code == grpc.StatusCode.DEADLINE_EXCEEDED:
        return TimeoutError(f"{what}: no answer in time")
    return MotetError(f"{what}: {code.name}: {details}")


def submit(app: App, canvas: canvas_pb2.Canvas) -> scheduler_pb2.SubmitCanvasResponse:
    """Submits a frozen canvas. A refused connection is retried briefly (the call is idempotent
    on the root id), then reported as ServiceUnavailable rather than waited on forever."""
    stub = scheduler_pb2_grpc.SchedulerServiceStub(_channel(app.scheduler))
    request = scheduler_pb2.SubmitCanvasRequest(canvas=canvas)
    attempts = 4
    for attempt in range(attempts):
        try:
            return stub.SubmitCanvas(request, timeout=60)  # type: ignore[no-any-return]
        except grpc.RpcError as err:
            if err.code() != grpc.StatusCode.UNAVAILABLE or attempt == attempts - 1:  # type: ignore[attr-defined]
                raise _error(err, app.scheduler, "submitting the canvas") from None
            time.sleep(0.25 * (attempt + 1))
    raise AssertionError("unreachable")


def revoke(app: App, ids: list[str], terminate: bool = False) -> int:
    """Revokes tasks (and what follows them)."""
    stub = scheduler_pb2_grpc.SchedulerServiceStub(_channel(app.scheduler))
    try:
        reply = stub.RevokeTask(scheduler_pb2.RevokeTaskRequest(task_ids=ids, terminate=terminate), timeout=30)
    except grpc.RpcError as err:
        raise _error(err, app.scheduler, "revoking") from None
    return int(reply.revoked)


def _results(app: App) -> results_pb2_grpc.ResultsServiceStub:
    return results_pb2_grpc.ResultsServiceStub(_channel(app.results))


def get_result(app: App, task_id: str) -> results_pb2.TaskResult:
    """The current state of one task."""
    try:
        return _results(app).GetResult(results_pb2.GetResultRequest(task_id=task_id), timeout=30).result  # type: ignore[no-any-return]
    except grpc.RpcError as err:
        raise _error(err, app.results, f"reading result {task_id}") from None


def wait(app: App, ids: list[str], timeout: float | None) -> Iterator[results_pb2.TaskResult]:
    """Yields each task's result once it is ready (one server stream for all of them).

    Results are durable, so a stream broken by a restarting results service is opened again
    for the ids still missing (a few tries, within `timeout`).
    """
    deadline = None if timeout is None else time.monotonic() + timeout
    missing = list(dict.fromkeys(ids))
    retries = 0
    while missing:
        left = None if deadline is None else max(deadline - time.monotonic(), 0.001)
        try:
            for reply in _results(app).WaitResult(results_pb2.WaitResultRequest(task_ids=missing), timeout=left):
                missing.remove(reply.result.task_id)
                retries = 0
                yield reply.result
            return
        except grpc.RpcError as err:
            code = err.code()  # type: ignore[attr-defined]
            if code == grpc.StatusCode.DEADLINE_EXCEEDED:
                raise TimeoutError(f"the operation timed out after {timeout} s waiting for {len(ids)} result(s)") from None
            if code != grpc.StatusCode.UNAVAILABLE or retries >= _WAIT_RETRIES:
                raise _error(err, app.results, "waiting for results") from None
            retries += 1
            time.sleep(0.3 * retries)


_WAIT_RETRIES = 5


def save_group(app: App, group: results_pb2.GroupRef) -> None:
    """Saves a group's members under its id."""
    try:
        _results(app).SaveGroup(results_pb2.SaveGroupRequest(group=group), timeout=30)
    except grpc.RpcError as err:
        raise _error(err, app.results, "saving the group") from None


def restore_group(app: App, group_id: str) -> results_pb2.GroupRef:
    """Reads a saved group."""
    try:
        return _results(app).RestoreGroup(results_pb2.RestoreGroupRequest(group_id=group_id), timeout=30).group  # type: ignore[no-any-return]
    except grpc.RpcError as err:
        raise _error(err, app.results, f"restoring group {group_id}") from None


def forget(app: App, ids: list[str]) -> int:
    """Deletes results and saved groups."""
    try:
        return int(_results(app).ForgetResult(results_pb2.ForgetResultRequest(ids=ids), timeout=30).deleted)
    except grpc.RpcError as err:
        raise _error(err, app.results, "forgetting results") from None


