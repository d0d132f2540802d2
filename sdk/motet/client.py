"""The SDK's gRPC client: calls to the scheduler and results services, status codes mapped to MotetError.

`Client` is built from `ClientSettings` (an App owns one); channels come from
`motet.channels`. Status mapping: UNAVAILABLE -> ServiceUnavailable (naming the endpoint and
how to start a cluster), NOT_FOUND -> NotFound, INVALID_ARGUMENT -> CanvasError (with the
field violations of a `google.rpc.BadRequest` detail), RESOURCE_EXHAUSTED -> EncodeError,
DEADLINE_EXCEEDED -> motet.exceptions.TimeoutError, FAILED_PRECONDITION with reason NOT_IN_CHORD
-> NotInChord; anything else -> MotetError.
"""

from __future__ import annotations

import collections
import time
from collections.abc import Callable, Iterator
from typing import Any, cast

import grpc
from google.rpc import error_details_pb2
from grpc_status import rpc_status

from motet import state, tracing
from motet.channels import channel
from motet.exceptions import (
    CanvasError,
    EncodeError,
    ImproperlyConfigured,
    MotetError,
    NotAuthenticated,
    NotFound,
    NotInChord,
    PermissionDenied,
    ServiceUnavailable,
    TimeoutError,
)
from motet.settings import DEFAULT_QUEUE, ClientSettings
from motet.v1 import canvas_pb2, common_pb2, results_pb2, results_pb2_grpc, scheduler_pb2, scheduler_pb2_grpc

__all__ = ["Client", "error_from_rpc"]

_UNARY_TIMEOUT = 30.0  # seconds; a unary call that takes longer means a sick service
_SUBMIT_TIMEOUT = 60.0  # a wide canvas is written in several batched transactions
_UNAVAILABLE_RETRIES = 3  # calls are idempotent on their ids; a restarting service gets ~1.5 s
_WAIT_RETRIES = 5
_RESULTS_PER_CALL = 10_000  # the results service's limit per GetResults call
_DIAGNOSED = 100  # ids a timed-out wait looks at (one GetResults call) to say why
_PROBE_TIMEOUT = 1.0  # seconds; the diagnosis of a timeout must not add much to it


class Client:
    """Calls to one scheduler and one results service.

    Args:
        settings: Endpoints and namespace.
    """

    def __init__(self, settings: ClientSettings) -> None:
        self.settings = settings
        self._metadata: tuple[tuple[str, str], ...] = (
            *((("motet-namespace", settings.namespace),) if settings.namespace else ()),
            *((("authorization", f"Bearer {settings.token}"),) if settings.token else ()),
        )
        tls = (settings.tls_ca, settings.tls_cert, settings.tls_key)
        self._scheduler = scheduler_pb2_grpc.SchedulerServiceStub(channel(settings.scheduler, tls))
        self._results = results_pb2_grpc.ResultsServiceStub(channel(settings.results, tls))
        self._await_here = True
        """Whether a wait for one result asks the scheduler first (False once it answered UNIMPLEMENTED)."""

    def __repr__(self) -> str:
        return f"<Client scheduler={self.settings.scheduler} results={self.settings.results}>"

    def _unary(self, endpoint: str, what: str, call: Callable[..., Any], request: object, timeout: float) -> Any:
        for attempt in range(_UNAVAILABLE_RETRIES + 1):
            try:
                return call(request, timeout=timeout, metadata=self._metadata)
            except grpc.RpcError as err:
                if err.code() != grpc.StatusCode.UNAVAILABLE or attempt == _UNAVAILABLE_RETRIES:
                    raise error_from_rpc(err, endpoint, what) from None
                time.sleep(0.25 * (attempt + 1))
        raise AssertionError("unreachable")

    def submit(self, canvas: canvas_pb2.Canvas, parent_id: str | None = None) -> scheduler_pb2.SubmitCanvasResponse:
        """Submits a frozen canvas to the scheduler.

        A refused connection is retried briefly (the call is idempotent on the root id), then
        reported as ServiceUnavailable rather than waited on.

        Args:
            canvas: The frozen canvas.
            parent_id: The task sending it, whose child it becomes. Default: the task a worker
                runs in this thread, if any (`motet.state.current_worker_request`), as Celery
                records tasks sent from inside a task as its children; "" for none.
        """
        if parent_id is None:
            running = state.current_worker_request()
            parent_id = (getattr(running, "id", None) or "") if running is not None else ""
        request = scheduler_pb2.SubmitCanvasRequest(
            canvas=canvas, parent_id=parent_id, traceparent=tracing.current_traceparent()
        )
        reply: scheduler_pb2.SubmitCanvasResponse = self._unary(
            self.settings.scheduler, "submitting the canvas", self._scheduler.SubmitCanvas, request, _SUBMIT_TIMEOUT
        )
        return reply

    def revoke(self, ids: list[str], terminate: bool = False) -> int:
        """Revokes tasks (and everything downstream of them); returns how many were revoked now."""
        request = scheduler_pb2.RevokeTaskRequest(task_ids=ids, terminate=terminate)
        reply = self._unary(self.settings.scheduler, "revoking", self._scheduler.RevokeTask, request, _UNARY_TIMEOUT)
        return int(reply.revoked)

    def inspect_workers(self, destination: list[str] | None = None) -> list[scheduler_pb2.WorkerInfo]:
        """The connected workers (all of them, or those named) and the tasks each holds."""
        request = scheduler_pb2.InspectWorkersRequest(destination=destination or [])
        reply = self._unary(
            self.settings.scheduler, "inspecting workers", self._scheduler.InspectWorkers, request, _UNARY_TIMEOUT
        )
        return list(reply.workers)

    def add_to_chord(self, task_id: str, canvas: canvas_pb2.Canvas) -> scheduler_pb2.AddToChordResponse:
        """Adds a frozen canvas to the chord header that running task `task_id` belongs to.

        Idempotent on the canvas's root id, so a retried call adds it once.

        Raises:
            NotInChord: the task is not running as a member of a chord header.
        """
        request = scheduler_pb2.AddToChordRequest(
            task_id=task_id, canvas=canvas, traceparent=tracing.current_traceparent()
        )
        reply: scheduler_pb2.AddToChordResponse = self._unary(
            self.settings.scheduler, "adding to the chord", self._scheduler.AddToChord, request, _UNARY_TIMEOUT
        )
        return reply

    def get_result(self, task_id: str) -> results_pb2.TaskResult:
        """The current state of one task (PENDING for an id never seen)."""
        request = results_pb2.GetResultRequest(task_id=task_id)
        reply = self._unary(
            self.settings.results, f"reading result {task_id}", self._results.GetResult, request, _UNARY_TIMEOUT
        )
        result: results_pb2.TaskResult = reply.result
        return result

    def get_results(self, task_ids: list[str]) -> list[results_pb2.TaskResult]:
        """The current state of several tasks, in order, in one call per `_RESULTS_PER_CALL` ids."""
        out: list[results_pb2.TaskResult] = []
        for start in range(0, len(task_ids), _RESULTS_PER_CALL):
            request = results_pb2.GetResultsRequest(task_ids=task_ids[start : start + _RESULTS_PER_CALL])
            reply = self._unary(
                self.settings.results, "reading results", self._results.GetResults, request, _UNARY_TIMEOUT
            )
            out.extend(reply.results)
        return out

    def wait(self, ids: list[str], timeout: float | None) -> Iterator[results_pb2.TaskResult]:
        """Yields each task's result once it is ready, over one WaitResult stream for all of them.

        One id is first waited for at the scheduler (AwaitResult): the replica that holds the
        task answers from the commit that writes its result, with no hop through the store's
        watch and the results service. When it does not hold the task (or cannot be asked), the
        wait goes to the results service, as for several ids.

        Results are durable, so a stream broken (or ended early) by a restarting results service
        is opened again for the ids still missing (a few tries). `timeout` is a deadline: the
        pauses between tries never run past it.

        Raises:
            motet.exceptions.TimeoutError: when `timeout` seconds pass first. Its message says
                why, when the services can tell: no connected worker serves the task's name on
                its queue, or the results service could not be reached.
        """
        deadline = None if timeout is None else time.monotonic() + timeout
        if len(ids) == 1 and self._await_here:
            held = self._await_at_scheduler(ids[0], timeout, deadline)
            if held is not None:
                yield held
                return
        # The results service takes _RESULTS_PER_CALL ids per stream: a wider group is waited
        # for chunk after chunk (a join needs them all anyway).
        unique = list(dict.fromkeys(ids))
        for start in range(0, len(unique), _RESULTS_PER_CALL):
            yield from self._wait_stream(unique[start : start + _RESULTS_PER_CALL], timeout, deadline)

    def _wait_stream(
        self, ids: list[str], timeout: float | None, deadline: float | None
    ) -> Iterator[results_pb2.TaskResult]:
        missing = dict.fromkeys(ids)
        retries = 0
        while missing:
            left = None if deadline is None else deadline - time.monotonic()
            if left is not None and left <= 0:
                raise self._timed_out(timeout, list(missing))
            try:
                stream = self._results.WaitResult(
                    results_pb2.WaitResultRequest(task_ids=list(missing)), timeout=left, metadata=self._metadata
                )
                for reply in stream:
                    if reply.result.task_id in missing:
                        del missing[reply.result.task_id]
                        retries = 0
                        yield reply.result
            except grpc.RpcError as err:
                code = err.code()
                if code == grpc.StatusCode.DEADLINE_EXCEEDED:
                    raise self._timed_out(timeout, list(missing)) from None
                if code != grpc.StatusCode.UNAVAILABLE or retries >= _WAIT_RETRIES:
                    raise error_from_rpc(err, self.settings.results, "waiting for results") from None
                if not missing:
                    return
                pause = 0.3 * (retries + 1)
                if deadline is not None and deadline - time.monotonic() <= pause:
                    time.sleep(max(deadline - time.monotonic(), 0.0))
                    raise TimeoutError(
                        f"the operation timed out after {timeout} s waiting for {len(missing)} result(s): "
                        f"the results service at {self.settings.results} is unavailable"
                    ) from None
            if missing:
                retries += 1
                if retries > _WAIT_RETRIES:
                    raise MotetError(f"the results service ended the wait with {len(missing)} result(s) missing")
                pause = 0.3 * retries
                if deadline is not None:
                    pause = min(pause, max(deadline - time.monotonic(), 0.0))
                time.sleep(pause)

    def _await_at_scheduler(
        self, task_id: str, timeout: float | None, deadline: float | None
    ) -> results_pb2.TaskResult | None:
        """Task `task_id`'s ready result from the scheduler holding it, or None when it does
        not hold it or cannot be asked (the caller waits at the results service)."""
        left = None if deadline is None else deadline - time.monotonic()
        try:
            reply = self._scheduler.AwaitResult(
                scheduler_pb2.AwaitResultRequest(task_id=task_id), timeout=left, metadata=self._metadata
            )
        except grpc.RpcError as err:
            if err.code() == grpc.StatusCode.DEADLINE_EXCEEDED:
                raise self._timed_out(timeout, [task_id]) from None
            if err.code() == grpc.StatusCode.UNIMPLEMENTED:
                self._await_here = False  # a scheduler older than AwaitResult: not asked again
            return None  # unavailable, restarting, refused: the results service answers anyway
        return reply.result if reply.held else None

    def _timed_out(self, timeout: float | None, missing: list[str]) -> TimeoutError:
        why = self.why_waiting(missing[:_DIAGNOSED])
        return TimeoutError(
            f"the operation timed out after {timeout} s waiting for {len(missing)} result(s)"
            + (f": {why}" if why else "")
        )

    def why_waiting(self, ids: list[str]) -> str:
        """Why ``ids`` are not ready, or "" when the services cannot tell within a second.

        One GetResults call gives each task's state, name and queue. When a task waits for a
        worker and the scheduler (every replica's view) has none serving its name on its queue,
        that is the reason: "no connected worker serves proj.nope on queue celery". Otherwise
        the states of those ids are counted ("2 STARTED, 1 PENDING"), so a wait on a worker
        busy with them reads differently from a wait on work that never started.
        """
        try:
            results = self._results.GetResults(
                results_pb2.GetResultsRequest(task_ids=ids), timeout=_PROBE_TIMEOUT, metadata=self._metadata
            ).results
            waiting = [r for r in results if r.state == common_pb2.TASK_STATE_PENDING and r.task]
            if waiting:
                workers = self._scheduler.InspectWorkers(
                    scheduler_pb2.InspectWorkersRequest(), timeout=_PROBE_TIMEOUT, metadata=self._metadata
                ).workers
                for result in waiting:
                    queue = result.queue or DEFAULT_QUEUE
                    if not any(result.task in w.task_names and queue in w.queues for w in workers):
                        served = sorted({q for w in workers for q in w.queues if result.task in w.task_names})
                        elsewhere = f" (workers serve it on {', '.join(served)})" if served else ""
                        return (
                            f"no connected worker serves {result.task} on queue {queue}{elsewhere}; "
                            f"task {result.task_id} is waiting for one"
                        )
        except grpc.RpcError:
            return ""
        states = collections.Counter(common_pb2.TaskState.Name(r.state).removeprefix("TASK_STATE_") for r in results)
        counted = ", ".join(f"{n} {name}" for name, n in states.most_common())
        return f"of {len(results)} looked at, {counted}" if counted else ""

    def save_group(self, group: results_pb2.GroupRef) -> None:
        """Saves a group's members under its id."""
        request = results_pb2.SaveGroupRequest(group=group)
        self._unary(self.settings.results, "saving the group", self._results.SaveGroup, request, _UNARY_TIMEOUT)

    def restore_group(self, group_id: str) -> results_pb2.GroupRef:
        """Reads a saved group.

        Raises:
            NotFound: if it was never saved, or was forgotten or expired.
        """
        request = results_pb2.RestoreGroupRequest(group_id=group_id)
        reply = self._unary(
            self.settings.results, f"restoring group {group_id}", self._results.RestoreGroup, request, _UNARY_TIMEOUT
        )
        group: results_pb2.GroupRef = reply.group
        return group

    def forget(self, ids: list[str]) -> int:
        """Deletes results and saved groups; returns how many keys were deleted."""
        request = results_pb2.ForgetResultRequest(ids=ids)
        reply = self._unary(
            self.settings.results, "forgetting results", self._results.ForgetResult, request, _UNARY_TIMEOUT
        )
        return int(reply.deleted)


def _status_details(err: grpc.RpcError) -> tuple[str | None, list[str]]:
    """The ErrorInfo reason and the BadRequest field violations ("field: why") of a failed call."""
    try:
        status = rpc_status.from_call(cast(grpc.Call, err))  # a failed sync call is its grpc.Call
    except ValueError:  # the trailers disagree with the status line: no usable details
        status = None
    reason, violations = None, []
    for detail in status.details if status else []:
        if detail.Is(error_details_pb2.ErrorInfo.DESCRIPTOR):
            info = error_details_pb2.ErrorInfo()
            detail.Unpack(info)
            reason = info.reason or None
        elif detail.Is(error_details_pb2.BadRequest.DESCRIPTOR):
            bad = error_details_pb2.BadRequest()
            detail.Unpack(bad)
            violations += [f"{v.field}: {v.description}" for v in bad.field_violations]
    return reason, violations


def error_from_rpc(err: grpc.RpcError, endpoint: str, what: str) -> MotetError:
    """The MotetError for a failed gRPC call, its `reason` taken from the ErrorInfo detail.

    Args:
        err: The error raised by the stub.
        endpoint: The endpoint called (named in ServiceUnavailable).
        what: What was being done ("submitting the canvas"), for the message.
    """
    code = err.code()
    details = err.details() or ""
    reason, violations = _status_details(err)
    if code == grpc.StatusCode.UNAVAILABLE:
        return ServiceUnavailable(
            f"{what}: no Motet service answers at {endpoint} ({details}). Start a local cluster with "
            "`motet dev --app MODULE`, or point MOTET_SCHEDULER / MOTET_RESULTS at one (host:port)",
            reason=reason,
        )
    if code == grpc.StatusCode.NOT_FOUND:
        return NotFound(f"{what}: {details}", reason=reason)
    if code == grpc.StatusCode.INVALID_ARGUMENT:
        listed = " [" + "; ".join(violations) + "]" if violations else ""
        return CanvasError(f"{what}: {details}{listed}", reason=reason)
    if code == grpc.StatusCode.RESOURCE_EXHAUSTED:
        if reason == "CANVAS_TOO_LARGE":  # the canvas as a whole, not one of its values
            return CanvasError(f"{what}: {details}; split it into several submissions", reason=reason)
        return EncodeError(f"{what}: {details}", reason=reason)
    if code == grpc.StatusCode.FAILED_PRECONDITION and reason == "NOT_IN_CHORD":
        return NotInChord(f"{what}: {details}", reason=reason)
    if code == grpc.StatusCode.FAILED_PRECONDITION and reason == "NAMESPACE_MISMATCH":
        return ImproperlyConfigured(f"{what}: {details} (MOTET_NAMESPACE)", reason=reason)
    if code == grpc.StatusCode.DEADLINE_EXCEEDED:
        return TimeoutError(f"{what}: no answer in time from {endpoint}", reason=reason)
    if code == grpc.StatusCode.UNAUTHENTICATED:
        return NotAuthenticated(f"{what}: {details} (set MOTET_TOKEN)", reason=reason)
    if code == grpc.StatusCode.PERMISSION_DENIED:
        return PermissionDenied(f"{what}: {details}", reason=reason)
    return MotetError(f"{what}: {code.name}: {details}", reason=reason)
