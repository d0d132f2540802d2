"""The scheduler's gRPC surface: SchedulerService (submit, revoke, inspect) and WorkerService (the stream)."""

from __future__ import annotations

import asyncio
import collections
import contextlib
import logging
import time
from collections.abc import Callable, Iterable
from functools import partial
from typing import Any

import grpc

from motet.v1 import canvas_pb2, common_pb2, scheduler_pb2, scheduler_pb2_grpc, worker_pb2, worker_pb2_grpc
from motet_server.config import (
    DEFAULT_QUEUE,
    MAX_CANVAS_NODES,
    MAX_CREDIT,
    MAX_PAYLOAD_BYTES,
    MAX_TASK_NAMES,
    SCHEDULER_DRAIN_GRACE,
    WORKER_SILENCE_LIMIT,
)
from motet_server.rpc import auth, errors, metrics
from motet_server.rpc.guard import Undecodable
from motet_server.scheduler import inspection, nodes, transitions
from motet_server.scheduler.committer import Committer, TooManyConflicts, jittered
from motet_server.scheduler.dispatch import Dispatcher, Session
from motet_server.store.errors import StoreError, StoreUnavailable
from motet_server.store.etcd import Etcd
from motet_server.store.keys import Keys
from motet_server.store.kv import KV, MAX_TXN_OPS, Op
from motet_server.v1 import records_pb2

_WorkerContext = grpc.aio.ServicerContext[worker_pb2.ConnectRequest, worker_pb2.ConnectResponse]

__all__ = ["REPORT_REFUSED_TYPE", "VALUE_REFUSED_TYPE", "SchedulerServicer", "WorkerServicer", "commit_report"]

log = logging.getLogger(__name__)

SESSION_TTL = 10
"""Seconds a worker session's lease outlives a scheduler that stopped renewing it."""


async def _valid_canvas(
    message: canvas_pb2.Canvas, context: grpc.aio.ServicerContext[Any, Any], what: str, *, pickle: bool
) -> canvas_pb2.Canvas:
    """A copy of `message`, validated (polyglot input is untrusted) and with every id assigned.

    Ends the call with INVALID_ARGUMENT (field violations), or RESOURCE_EXHAUSTED for a payload
    over the limit, naming `what` ("the canvas", "the member").
    """
    if nodes.too_many_nodes(message, MAX_CANVAS_NODES):
        await errors.abort(
            context,
            "canvas_too_large",
            f"{what} cannot run: it has more than {MAX_CANVAS_NODES} nodes; split it into several submissions",
        )
    canvas = canvas_pb2.Canvas()
    canvas.CopyFrom(message)
    violations = nodes.validate(canvas, pickle=pickle)
    if violations:
        refused = [v for v in violations if v[0].endswith((".args", ".kwargs", ".items"))]
        if refused:
            metrics.payload_rejected_total.inc(len(refused))
        too_big = [v for v in violations if "exceeds" in v[1]]
        kind = "payload_too_large" if too_big else "invalid_canvas"
        await errors.abort(context, kind, f"{what} cannot run: " + violations[0][1], violations=violations)
    nodes.ensure_ids(canvas)
    return canvas


async def _trace(canvas: canvas_pb2.Canvas, traceparent: str, context: grpc.aio.ServicerContext[Any, Any]) -> None:
    """Carries the caller's trace context into every node of the canvas (`nodes.stamp_traceparent`)."""
    if not traceparent:
        return
    if not nodes.TRACEPARENT.match(traceparent):
        await errors.abort(
            context,
            "invalid_request",
            f"traceparent {traceparent[:80]!r} is not a W3C trace context (00-<32 hex>-<16 hex>-<2 hex>)",
            violations=[("traceparent", "not a W3C traceparent")],
        )
    nodes.stamp_traceparent(canvas, traceparent)


def _count_submitted(canvas: canvas_pb2.Canvas) -> int:
    """Counts a new canvas's tasks in `metrics.tasks_submitted_total`; returns how many."""
    routes = collections.Counter(nodes.task_routes(canvas))  # one labels() per route, not per task
    for (queue, task), n in routes.items():
        metrics.tasks_submitted_total.labels(queue=queue or DEFAULT_QUEUE, task=metrics.task_label(task)).inc(n)
    return sum(routes.values())


_WAITS = {o: metrics.result_waits_total.labels(outcome=o) for o in ("answered", "not_held", "released")}
"""`AwaitResult`'s outcome series, bound once (one call per `delay().get()`)."""


class SchedulerServicer(scheduler_pb2_grpc.SchedulerServiceServicer):
    """Accepts canvases and revocations."""

    def __init__(
        self, etcd: Etcd, keys: Keys, committer: Committer, dispatcher: Dispatcher, *, accept_pickle: bool = False
    ) -> None:
        self._accept_pickle = accept_pickle
        self._etcd = etcd
        self._keys = keys
        self._committer = committer
        self._dispatcher = dispatcher

    async def SubmitCanvas(  # noqa: N802 - gRPC method name
        self,
        request: scheduler_pb2.SubmitCanvasRequest,
        context: grpc.aio.ServicerContext[scheduler_pb2.SubmitCanvasRequest, scheduler_pb2.SubmitCanvasResponse],
    ) -> scheduler_pb2.SubmitCanvasResponse:
        canvas = await _valid_canvas(request.canvas, context, "the canvas", pickle=self._accept_pickle)
        await _trace(canvas, request.traceparent, context)
        try:
            # New ids are the common case: assume the submit key and the guarded task and
            # result keys are absent, with no read (the compares check it; a repeated
            # submission or a reused id fails them and re-runs with real reads).
            absent = [self._keys.submit(nodes.first_task_id(canvas)), *transitions.guarded_keys(self._keys, canvas)]
            parent = request.parent_id
            prefetch = [self._keys.task(parent), self._keys.result(parent)] if parent else []
            # The parent's task record will change: its completion must read it, not a snapshot.
            self._dispatcher.known.pop(parent, None)
            submit = partial(transitions.submit, canvas=canvas, parent_id=parent)
            seeds = [(key, None) for key in absent]
            done = await self._committer.run(submit, prefetch=prefetch, seeds=seeds)
        except StoreUnavailable as exc:
            await errors.abort(context, "unavailable", f"the store is unavailable: {exc}")
        except StoreError as exc:
            # The store refused the write set: too large for one submission, not a passing fault.
            await errors.abort(context, "canvas_too_large", f"the canvas is too large to submit at once: {exc}")
        if done.conflict:
            await errors.abort(
                context,
                "task_id_in_use",
                f"the canvas cannot be submitted: {done.conflict}",
                metadata={"task_id": done.conflict_id},
            )
        n = _count_submitted(canvas) if done.created else sum(1 for _ in nodes.all_task_ids(canvas))
        if done.created:
            self._dispatcher.submitted(done.result_id, nodes.kind_of(canvas) or "signature")
        log.debug(
            "canvas %s submitted: %d task(s)%s", done.root_id, n, "" if done.created else " (a repeat: nothing new)"
        )
        return scheduler_pb2.SubmitCanvasResponse(root_id=done.root_id, result_id=done.result_id, created=done.created)

    async def RevokeTask(  # noqa: N802 - gRPC method name
        self,
        request: scheduler_pb2.RevokeTaskRequest,
        context: grpc.aio.ServicerContext[scheduler_pb2.RevokeTaskRequest, scheduler_pb2.RevokeTaskResponse],
    ) -> scheduler_pb2.RevokeTaskResponse:
        ids = list(dict.fromkeys(request.task_ids))
        if not ids:
            await errors.abort(
                context, "invalid_request", "give at least one task id", violations=[("task_ids", "empty")]
            )
        # Revoking a root id cancels the whole canvas: every stored task of that workflow (an
        # index lookup, not a scan of the cache: this loop shares the lease-renewing event loop).
        ids = list(dict.fromkeys(ids + [t for root in ids for t in self._dispatcher.workflow(root)]))
        stored = {t for t in ids if t in self._dispatcher.tasks}  # before revoking drops them
        record = records_pb2.RevokeRecord(terminate=request.terminate).SerializeToString()
        lease = self._committer.flow().result_lease
        try:
            # The marker stops a task that does not exist yet (a later chain step) when it is
            # created; written in transactions of up to MAX_TXN_OPS puts, not one request each.
            for i in range(0, len(ids), MAX_TXN_OPS):
                puts = [Op.put(self._keys.revoked(t), record, lease=lease) for t in ids[i : i + MAX_TXN_OPS]]
                await self._etcd.txn((), puts)
            # Concurrently, so the committer folds them into few transactions.
            holders = await asyncio.gather(*(self._dispatcher.revoke(t) for t in ids))
        except StoreUnavailable as exc:
            await errors.abort(context, "unavailable", f"the store is unavailable: {exc}")
        revoked = 0
        for task_id, session_id in zip(ids, holders, strict=True):
            if session_id is None:
                revoked += 1 if task_id in stored else 0
                continue
            revoked += 1
            session = self._dispatcher.sessions.get(session_id)
            if session is not None:
                session.send(
                    worker_pb2.ConnectResponse(
                        revoke=worker_pb2.RevokeNotice(task_id=task_id, terminate=request.terminate)
                    )
                )
        return scheduler_pb2.RevokeTaskResponse(revoked=revoked)

    async def InspectWorkers(  # noqa: N802 - gRPC method name
        self,
        request: scheduler_pb2.InspectWorkersRequest,
        context: grpc.aio.ServicerContext[scheduler_pb2.InspectWorkersRequest, scheduler_pb2.InspectWorkersResponse],
    ) -> scheduler_pb2.InspectWorkersResponse:
        try:
            sessions, _ = await self._etcd.get_prefix(self._keys.session_prefix())
            claims, _ = await self._etcd.get_prefix(self._keys.claim_prefix())
        except StoreUnavailable as exc:
            await errors.abort(context, "unavailable", f"the store is unavailable: {exc}")
        # The claimed tasks' whole records (the dispatcher's cache keeps no arguments).
        held = [self._keys.task(self._keys.id_from(kv.key, self._keys.claim_prefix())) for kv in claims]
        try:
            found = await self._etcd.get_many(held)
        except StoreUnavailable as exc:
            await errors.abort(context, "unavailable", f"the store is unavailable: {exc}")
        tasks = {rec.id: rec for rec in map(_task_record, found.values())}
        local = self._dispatcher.sessions
        workers = inspection.worker_infos(
            sessions,
            claims,
            tasks,
            claim_prefix=self._keys.claim_prefix(),
            live_counts={sid: dict(session.completed) for sid, session in local.items()},
            live_order={sid: list(session.inflight) for sid, session in local.items()},
            destination=list(request.destination),
        )
        return scheduler_pb2.InspectWorkersResponse(workers=workers)

    async def AwaitResult(  # noqa: N802 - gRPC method name
        self,
        request: scheduler_pb2.AwaitResultRequest,
        context: grpc.aio.ServicerContext[scheduler_pb2.AwaitResultRequest, scheduler_pb2.AwaitResultResponse],
    ) -> scheduler_pb2.AwaitResultResponse:
        if not request.task_id:
            await errors.abort(context, "invalid_request", "task_id is required", violations=[("task_id", "empty")])
        future = self._dispatcher.await_result(request.task_id)
        if future is None:
            _WAITS["not_held"].inc()
            return scheduler_pb2.AwaitResultResponse(held=False)
        try:
            result = await future
        finally:
            self._dispatcher.stop_awaiting(request.task_id, future)
        if result is None:
            _WAITS["released"].inc()
            return scheduler_pb2.AwaitResultResponse(held=False)
        _WAITS["answered"].inc()
        return scheduler_pb2.AwaitResultResponse(held=True, result=result)

    async def AddToChord(  # noqa: N802 - gRPC method name
        self,
        request: scheduler_pb2.AddToChordRequest,
        context: grpc.aio.ServicerContext[scheduler_pb2.AddToChordRequest, scheduler_pb2.AddToChordResponse],
    ) -> scheduler_pb2.AddToChordResponse:
        if not request.task_id:
            await errors.abort(context, "invalid_request", "name the running task", violations=[("task_id", "empty")])
        canvas = await _valid_canvas(request.canvas, context, "the member", pickle=self._accept_pickle)
        await _trace(canvas, request.traceparent, context)
        try:
            added = await self._committer.run(
                partial(transitions.add_to_chord, task_id=request.task_id, canvas=canvas),
                prefetch=[self._keys.task(request.task_id)],
            )
        except StoreUnavailable as exc:
            await errors.abort(context, "unavailable", f"the store is unavailable: {exc}")
        if added.refused:
            await errors.abort(context, "not_in_chord", added.refused, metadata={"task_id": request.task_id})
        if added.created:
            _count_submitted(canvas)
        return scheduler_pb2.AddToChordResponse(
            group_id=added.group_id, group_index=added.group_index, result_id=added.result_id, created=added.created
        )


class WorkerServicer(worker_pb2_grpc.WorkerServiceServicer):
    """Serves one long-lived stream per worker: assignments out, reports in."""

    def __init__(
        self,
        etcd: Etcd,
        keys: Keys,
        committer: Committer,
        dispatcher: Dispatcher,
        *,
        max_credit: int = MAX_CREDIT,
        accept_pickle: bool = False,
    ) -> None:
        self._max_credit = max_credit
        self._accept_pickle = accept_pickle
        self._etcd = etcd
        self._keys = keys
        self._committer = committer
        self._dispatcher = dispatcher
        self._streams: set[Session] = set()
        self._stopping = False
        dispatcher.on_revoke_running = self._notify_revoke

    def _notify_revoke(self, task_id: str, record: records_pb2.RevokeRecord) -> None:
        for session in self._dispatcher.sessions.values():
            if task_id in session.inflight:
                session.send(
                    worker_pb2.ConnectResponse(
                        revoke=worker_pb2.RevokeNotice(task_id=task_id, terminate=record.terminate)
                    )
                )

    async def shutdown(self, reason: str, grace: float = SCHEDULER_DRAIN_GRACE) -> None:
        """Drains the connected workers: each is told to stop taking tasks, to finish and report
        what it holds, then to close its stream (and reconnect elsewhere). Streams still open
        after `grace` seconds are ended; only their unfinished tasks run again elsewhere."""
        self._stopping = True
        sessions = list(self._dispatcher.sessions.values())
        for session in sessions:
            session.available = -(10**9)  # no more hand-offs to a draining session
            session.send(worker_pb2.ConnectResponse(shutdown=worker_pb2.Shutdown(reason=reason)))
        loop = asyncio.get_running_loop()
        deadline = loop.time() + grace
        while loop.time() < deadline and any(s.id in self._dispatcher.sessions for s in sessions):
            await asyncio.sleep(0.05)
        for session in sessions:
            if session.id in self._dispatcher.sessions:
                log.warning("worker %s did not drain within %.0f s; ending its session", session.worker_id, grace)
                session.out.put_nowait(None)

    async def Connect(  # type: ignore[override]  # noqa: N802 - gRPC method name
        # grpc.aio lets a stream handler write through `context` and return None; the generated
        # base class types only the iterator style.
        self,
        request_iterator: object,
        context: _WorkerContext,
    ) -> None:
        first: object = await context.read()  # grpc.aio.EOF too, whatever the stubs say
        if not isinstance(first, worker_pb2.ConnectRequest) or first.WhichOneof("frame") != "hello":
            await errors.abort(context, "failed_precondition", "the first frame of a worker stream must be hello")
        hello = first.hello
        if not hello.task_names:
            await errors.abort(
                context,
                "invalid_request",
                "a worker must declare the task names it serves",
                violations=[("hello.task_names", "empty")],
            )
        if len(hello.task_names) > MAX_TASK_NAMES:
            await errors.abort(
                context,
                "invalid_request",
                f"a worker may declare at most {MAX_TASK_NAMES} task names (got {len(hello.task_names)})",
                violations=[("hello.task_names", f"more than {MAX_TASK_NAMES}")],
            )
        principal = auth.PRINCIPAL.get()
        if principal is not None:
            denied = principal.may_serve(list(hello.task_names), list(hello.queues or [DEFAULT_QUEUE]))
            if denied:
                await errors.abort(
                    context,
                    "permission_denied",
                    f"token {principal.name!r} does not allow this worker to serve {', '.join(denied[:5])}"
                    + (f" and {len(denied) - 5} more" if len(denied) > 5 else ""),
                    metadata={"denied": ",".join(denied[:20])},
                )
        lease = await self._etcd.lease_grant(SESSION_TTL)
        session = Session(
            id=lease,
            worker_id=hello.worker_id or context.peer(),
            queues=frozenset(hello.queues or [DEFAULT_QUEUE]),
            names=frozenset(hello.task_names),
            ignore_result_tasks=frozenset(hello.ignore_result_tasks),
            hello=hello,
            principal=principal,
        )
        if not hello.worker_id:
            session.hello.worker_id = session.worker_id
        # Inspection reads connected workers from the store (any replica answers for all); the
        # record lives under the session's lease, so it goes when the session does.
        await self._etcd.put(self._keys.session(lease), self._session_record(session), lease=lease)
        await context.write(
            worker_pb2.ConnectResponse(welcome=worker_pb2.Welcome(session_id=lease, lease_ttl=SESSION_TTL))
        )
        self._dispatcher.add_session(session)
        log.info("worker %s connected (session %x, %d tasks)", session.worker_id, lease, len(session.names))
        tasks = [
            asyncio.create_task(self._keepalive(session)),
            asyncio.create_task(self._read(session, context)),
            asyncio.create_task(self._write(session, context)),
        ]
        reason = "worker_lost"  # unless the worker stopped gracefully: killed, silent, cut off
        try:
            done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
            reader = tasks[1]
            ended = reader in done and not reader.cancelled() and reader.exception() is None
            if ended and session.draining:  # it withdrew its credit, then closed: a stop, not a loss
                reason = "worker_stopped"
        finally:
            if self._stopping:
                reason = "scheduler_stopping"
            if reason == "worker_lost":
                metrics.worker_lost_total.inc()
            if session.inflight:
                metrics.redeliveries_total.labels(reason=reason).inc(len(session.inflight))
            self._dispatcher.remove_session(session)
            for task in tasks:
                task.cancel()
            for task in tasks:
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task
            # Revoking the lease deletes the session's claims at once: its tasks are ready again.
            with contextlib.suppress(Exception):
                await self._etcd.lease_revoke(lease)
            self._dispatcher.kick()
            log.info("worker %s disconnected", session.worker_id)

    def _session_record(self, session: Session) -> bytes:
        return inspection.session_record(session.hello, session.connected_at, session.completed)

    async def _keepalive(self, session: Session) -> None:
        loop = asyncio.get_running_loop()
        renewed = loop.time()
        written = dict(session.completed)
        while True:
            await asyncio.sleep(SESSION_TTL / 3)
            # The lease is renewed only for a worker that proves it is alive: a frozen process
            # or a half-open connection keeps TCP up but sends nothing, and must not keep its
            # claims (its tasks go to other workers once the stream ends and the lease goes).
            silent = time.monotonic() - session.last_seen
            if silent > WORKER_SILENCE_LIMIT:
                log.warning(
                    "worker %s sent nothing for %.0f s; ending its session %x", session.worker_id, silent, session.id
                )
                return
            try:
                ttl = await self._etcd.lease_keepalive_once(session.id)
            except StoreError:
                # A store blip: the lease may still be alive; give up only once it must be gone.
                if loop.time() - renewed > SESSION_TTL:
                    log.warning("session %x could not be renewed for %d s; closing the stream", session.id, SESSION_TTL)
                    return
                continue
            if ttl <= 0:
                log.warning("session %x lost its lease; closing the stream", session.id)
                return
            renewed = loop.time()
            if session.completed != written:
                # Report counts for inspection by the other replicas: once per renewal at most.
                with contextlib.suppress(StoreError):
                    snapshot = dict(session.completed)
                    record = self._session_record(session)
                    await self._etcd.put(self._keys.session(session.id), record, lease=session.id)
                    written = snapshot

    async def _write(self, session: Session, context: _WorkerContext) -> None:
        while True:
            frame = await session.out.get()
            if frame is None:
                return
            await context.write(frame)

    async def _read(self, session: Session, context: _WorkerContext) -> None:
        pending: set[asyncio.Task[None]] = set()
        while True:
            frame: object = await context.read()  # grpc.aio.EOF too, whatever the stubs say
            if isinstance(frame, Undecodable):
                await errors.abort(
                    context, "invalid_request", f"a frame is not a motet.v1.ConnectRequest ({frame.error})"
                )
            if not isinstance(frame, worker_pb2.ConnectRequest):  # grpc.aio.EOF: the worker closed its side
                break
            session.last_seen = time.monotonic()
            kind = frame.WhichOneof("frame")
            if kind == "credit":
                session.draining = session.draining or frame.credit.n < 0
                # A worker cannot swallow the queue: what it holds unreported plus what it may
                # still be sent is capped, however often it announces credit.
                room = self._max_credit - len(session.inflight)
                if session.available + frame.credit.n > room:
                    log.warning(
                        "worker %s asked for credit beyond its cap of %d tasks; capped",
                        session.worker_id,
                        self._max_credit,
                    )
                session.available = min(session.available + frame.credit.n, room)
                self._dispatcher.kick()
            elif kind == "started":
                task = asyncio.create_task(self._started(session, frame.started))
                pending.add(task)
                task.add_done_callback(pending.discard)
            elif kind in ("succeeded", "failed", "retry", "replaced"):
                report = _report(session, frame, kind)
                report.accept_pickle = self._accept_pickle
                task = asyncio.create_task(self._report(session, report))
                pending.add(task)
                task.add_done_callback(pending.discard)
        if pending:
            await asyncio.wait(pending)

    async def _started(self, session: Session, started: worker_pb2.TaskStarted) -> None:
        # The claim changes: the completion must read it afresh rather than use the snapshot.
        self._dispatcher.known.pop(started.task_id, None)
        try:
            await self._committer.run(
                partial(transitions.start, task_id=started.task_id, session_id=session.id, delivery=started.delivery),
                prefetch=[self._keys.task(started.task_id), self._keys.claim(started.task_id)],
            )
            metrics.task_transitions_total.labels(to="STARTED").inc()
        except StoreError:
            log.warning("STARTED for %s not recorded (store unavailable)", started.task_id)

    async def _report(self, session: Session, report: transitions.Report) -> None:
        report.revoked = report.task_id in self._dispatcher.revoked
        known = self._dispatcher.known.pop(report.task_id, None)
        prefetch = [self._keys.task(report.task_id), self._keys.claim(report.task_id)]
        rec = self._dispatcher.tasks.get(report.task_id)
        if rec is not None and not rec.continuation.remaining and rec.continuation.HasField("slot"):
            # A join member reads its join and its slot: fetch them in the batch's one read.
            slot = rec.continuation.slot
            prefetch += [self._keys.join(slot.join_id), self._keys.join_slot(slot.join_id, slot.index)]
        seeds = [(known[0].key, known[0]), (known[1].key, known[1])] if known else []
        applied: transitions.Report | None = None
        try:
            applied = await commit_report(
                self._committer, report, prefetch=prefetch, seeds=seeds, closed=lambda: session.closed
            )
        finally:
            sent = session.inflight.pop(report.task_id, None)
            if sent is not None:  # a report for a task this session was not sent earns nothing
                name = rec.task if rec is not None else ""
                metrics.task_run_seconds.labels(task=metrics.task_label(name)).observe(time.monotonic() - sent)
                session.available += 1
                self._dispatcher.kick()
                if rec is not None:
                    session.completed[rec.task] = session.completed.get(rec.task, 0) + 1
        if applied is not None:  # a duplicate or stale report changed nothing: not a completion
            state = _report_state(applied)
            metrics.tasks_completed_total.labels(state=state).inc()
            metrics.task_transitions_total.labels(to=state).inc()


REPORT_REFUSED_TYPE = "motet.exceptions.MotetError"
"""The exception class of a task whose report the scheduler could not apply (not a value error)."""
VALUE_REFUSED_TYPE = "motet.exceptions.EncodeError"
"""The exception class of a task whose reported value (or failure) is too large or undecodable."""
PERMISSION_DENIED_TYPE = "motet.exceptions.PermissionDenied"
"""The exception class of a task whose worker reported a replacement its token does not allow."""


async def commit_report(
    committer: Committer,
    report: transitions.Report,
    *,
    prefetch: Iterable[bytes] = (),
    seeds: Iterable[tuple[bytes, KV | None]] = (),
    closed: Callable[[], bool] = lambda: False,
) -> transitions.Report | None:
    """Commits a worker's report (`transitions.finish`).

    Returns:
        The report that changed its task — the worker's, or the failure that replaced a
        refused one — or None when none did: a stale or duplicate report (its task already
        completed, its claim gone or held by another delivery), or a report given up on.

    Errors are sorted in two: a store that is unreachable is transient (the outcome is
    unknown, and finish is idempotent: a report that did land finds its task gone), so the
    report is tried again, with jittered backoff, while its session lives (a closed session's
    claim lapses and the task is redelivered). Anything else is permanent — a value over the
    payload limit, a write set etcd refuses, a value or canvas that cannot be decoded or
    expanded, `TooManyConflicts` — and is never retried as is: the task fails instead with a
    TaskFailure naming what was wrong, in a small transaction of its own, so everything
    downstream fails too and nothing waits forever.
    """
    problem = _refused_payload(report)
    if problem is not None:
        metrics.payload_rejected_total.inc()
        report = _failed_instead(report, VALUE_REFUSED_TYPE, problem)
    failing_instead = problem is not None
    keys, seeds = list(prefetch), list(seeds)
    delay = 0.2
    while True:
        try:
            changed = await committer.run(partial(transitions.finish, report=report), prefetch=keys, seeds=seeds)
            return report if changed else None
        except StoreUnavailable:
            if closed():
                log.warning("report for %s not committed; its task will be redelivered", report.task_id)
                return None
            seeds = []
            await asyncio.sleep(jittered(delay))
            delay = min(delay * 2, 2.0)
        except Exception as exc:  # noqa: BLE001 - permanent: fail the task rather than retry it forever
            if failing_instead:
                # Even the small failure did not go in: leave the task to redelivery (its claim
                # lapses with the session) rather than loop.
                log.error("task %s could not be failed either: %s", report.task_id, exc, exc_info=True)
                return None
            failing_instead = True
            log.warning("report for %s refused (%s); failing the task", report.task_id, exc)
            exc_type, message = _describe_refusal(report, exc)
            report = _failed_instead(report, exc_type, message)
            seeds = []


def _refused_payload(report: transitions.Report) -> str | None:
    """Why the report's value or failure is over the payload limit (checked before committing:
    the SDK refuses such values, a worker in another language may not), else None."""
    if report.value is not None and len(report.value.data) > MAX_PAYLOAD_BYTES:
        return (
            f"the task's result is too large to store: {len(report.value.data)} bytes "
            f"(the limit is {MAX_PAYLOAD_BYTES} bytes)"
        )
    if report.value is not None and not report.accept_pickle and nodes.holds_pickle(report.value.data):
        return f"the task's result {nodes.PICKLE_REFUSED}"
    if report.failure is not None:
        size = report.failure.ByteSize()
        if size > MAX_PAYLOAD_BYTES:
            return (
                f"the task's failure ({report.failure.exc_type}) is too large to store: {size} bytes "
                f"(the limit is {MAX_PAYLOAD_BYTES} bytes)"
            )
    return None


def _describe_refusal(report: transitions.Report, exc: Exception) -> tuple[str, str]:
    """(exception class, message) for a task whose report could not be applied because of ``exc``."""
    what = (
        "result"
        if report.value is not None
        else "retry"
        if report.retry_countdown is not None
        else "replacement canvas"
        if report.replacement is not None
        else "failure"
    )
    if isinstance(exc, TooManyConflicts):
        return REPORT_REFUSED_TYPE, f"the task's {what} could not be stored: {exc}"
    if isinstance(exc, StoreError):
        text = str(exc)
        if "too large" in text or "larger than max" in text:
            size = _report_bytes(report)
            return VALUE_REFUSED_TYPE, f"the task's {what} is too large to store: {size} bytes ({text})"
        return REPORT_REFUSED_TYPE, f"the task's {what} could not be stored: {text}"
    if isinstance(exc, ValueError) and report.value is not None:
        return VALUE_REFUSED_TYPE, f"the task's result cannot be decoded: {type(exc).__name__}: {exc}"
    return REPORT_REFUSED_TYPE, f"the task's {what} could not be applied: {type(exc).__name__}: {exc}"


def _report_bytes(report: transitions.Report) -> int:
    if report.value is not None:
        return report.value.ByteSize()
    if report.replacement is not None:
        return report.replacement.ByteSize()
    return report.failure.ByteSize() if report.failure is not None else 0


def _failed_instead(report: transitions.Report, exc_type: str, message: str) -> transitions.Report:
    """The same delivery's report, as a failure naming why the original could not be applied."""
    failure = common_pb2.TaskFailure(
        exc_type=exc_type, message=message, task_id=report.task_id, kind=common_pb2.FAILURE_KIND_RAISED
    )
    return transitions.Report(
        task_id=report.task_id,
        session_id=report.session_id,
        delivery=report.delivery,
        failure=failure,
        revoked=report.revoked,
        ignore_result_tasks=report.ignore_result_tasks,
    )


def _report(session: Session, frame: worker_pb2.ConnectRequest, kind: str) -> transitions.Report:
    body = getattr(frame, kind)
    report = transitions.Report(
        task_id=body.task_id,
        session_id=session.id,
        delivery=body.delivery,
        ignore_result_tasks=session.ignore_result_tasks,
    )
    if kind == "succeeded":
        report.value = body.value
        report.traceparent = body.traceparent
    elif kind == "failed":
        report.failure = body.failure
    elif kind == "retry":
        report.retry_countdown = body.countdown
        report.failure = body.failure
        if body.HasField("max_retries"):
            report.retry_max = body.max_retries
    else:
        refusal = _beyond_token(session.principal, body.canvas)
        if refusal:
            return _failed_instead(report, PERMISSION_DENIED_TYPE, f"task {body.task_id} cannot be replaced: {refusal}")
        report.replacement = body.canvas
    return report


def _beyond_token(principal: auth.Principal | None, canvas: canvas_pb2.Canvas) -> str | None:
    """Why a worker's replacement canvas is beyond its token, or None when it is not.

    A replacement is a submission: a token with the client role may submit anything of its
    namespace; a worker-only token only what it may serve itself, links and errbacks included,
    or a worker token would be a way to run any task on any queue."""
    if principal is None or "client" in principal.roles:
        return None
    routes = set(nodes.task_routes(canvas, DEFAULT_QUEUE, links=True))
    denied = principal.may_serve(sorted({n for _, n in routes}), sorted({q for q, _ in routes}))
    if not denied:
        return None
    more = f" and {len(denied) - 5} more" if len(denied) > 5 else ""
    return f"token {principal.name!r} (without the client role) does not allow {', '.join(denied[:5])}{more}"


def _task_record(kv: KV) -> records_pb2.TaskRecord:
    return records_pb2.TaskRecord.FromString(kv.value)


def _report_state(report: transitions.Report) -> str:
    if report.retry_countdown is not None:
        return "RETRY"
    if report.replacement is not None:
        return "REPLACED"
    if report.failure is None:
        return "SUCCESS"  # revoked while running without terminate too: its own result stands
    return "REVOKED" if report.failure.kind == common_pb2.FAILURE_KIND_REVOKED else "FAILURE"
