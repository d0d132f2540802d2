"""A worker's session with the scheduler: connect, hello, credit, run assignments, report, reconnect.

One bidirectional stream per session (WorkerService.Connect). Delivery is at least once: if
the stream drops while tasks run, they finish but their reports are dropped (the scheduler has
handed them to another session by then, or will once this session's lease lapses); the loop
reconnects with backoff and announces itself again.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import time
from collections.abc import AsyncIterator

import grpc

from motet import App
from motet.channels import credentials
from motet.exceptions import SoftTimeLimitExceeded, TaskRevokedError, TimeLimitExceeded
from motet.failures import failure_from_exception
from motet.settings import ClientSettings
from motet.v1 import common_pb2, worker_pb2, worker_pb2_grpc
from motet_server.config import WORKER_HEARTBEAT
from motet_server.logs import task_fields
from motet_server.rpc import metrics
from motet_server.rpc.channels import open_channel
from motet_server.worker.pool import Pool
from motet_server.worker.runtime import Running, interrupt

__all__ = ["HEARTBEAT", "Worker"]

log = logging.getLogger(__name__)

HEARTBEAT = WORKER_HEARTBEAT
"""Seconds of silence after which the worker sends a heartbeat frame (the scheduler ends a
session silent for `motet_server.config.WORKER_SILENCE_LIMIT`)."""


class Worker:
    """One worker process's session loop: a stream to the scheduler, reopened until stopped.

    Args:
        app: The user's App (its registered task names are what the worker serves).
        module: The App's module name (process-pool children import it again).
        scheduler: host:port of a scheduler.
        concurrency: Tasks run at once.
        queues: Queues served.
        prefetch: Credit per unit of concurrency (Celery's prefetch multiplier).
        grace: Seconds a graceful stop waits for running tasks to report.
        pool: "threads" or "processes".
    """

    def __init__(
        self,
        app: App,
        module: str,
        scheduler: str,
        concurrency: int,
        queues: list[str],
        prefetch: int,
        grace: float,
        pool: str = "threads",
    ) -> None:
        self.app = app
        self.scheduler = scheduler
        self.concurrency = concurrency
        self.queues = queues
        self.prefetch = prefetch
        self.grace = grace
        self.running = Running()
        self.pool = Pool(pool, app, module, concurrency, self.running)
        self.inflight: dict[str, asyncio.Future[worker_pb2.ConnectRequest]] = {}
        self.stopping = asyncio.Event()
        self.worker_id = f"{socket.gethostname()}.{os.getpid()}"
        self.announced = False
        self.welcomed = False
        """Whether the current stream got its welcome (else a failure means "unreachable")."""
        self.terminated: set[str] = set()
        self.deliveries: dict[str, int] = {}
        self.received: dict[str, float] = {}
        self.names: dict[str, str] = {}
        """Task name by id of what this worker holds (for its log lines)."""
        self.roots: dict[str, str] = {}
        """Workflow (root) id by task id of what this worker holds (for its log lines)."""
        self.reporting: set[asyncio.Future[None]] = set()
        self.outgoing: asyncio.Queue[worker_pb2.ConnectRequest | None] | None = None

    async def run(self) -> int:
        """Keeps a session open, reconnecting with backoff, until `stopping` is set.

        Returns:
            The process exit code: 0, or 2 when the scheduler refused the worker's token.
        """
        backoff = 0.1
        unreachable_said = False
        while not self.stopping.is_set():
            self.welcomed = False
            try:
                await self._session()
                backoff = 0.1
            except grpc.aio.AioRpcError as err:
                if self.stopping.is_set():
                    pass
                elif err.code() in (grpc.StatusCode.UNAUTHENTICATED, grpc.StatusCode.PERMISSION_DENIED):
                    # Retrying cannot help: the token (MOTET_TOKEN / --token) must change.
                    log.error("the scheduler at %s refused this worker: %s", self.scheduler, err.details())
                    self.pool.shutdown()
                    return 2
                elif err.code() == grpc.StatusCode.UNAVAILABLE and not self.welcomed:
                    if not unreachable_said:
                        # Said once per outage, not once per retry: the line is the news.
                        log.warning("cannot reach the scheduler at %s (%s); retrying", self.scheduler, err.code().name)
                        unreachable_said = True
                else:
                    log.warning("scheduler stream ended (%s); reconnecting", err.code().name)
            if self.welcomed:
                unreachable_said = False
            if self.stopping.is_set():
                break
            await asyncio.sleep(backoff)
            backoff = min(backoff * 2, 2.0)
        self.pool.shutdown()
        return 0

    async def _session(self) -> None:
        outgoing: asyncio.Queue[worker_pb2.ConnectRequest | None] = asyncio.Queue()
        self.outgoing = outgoing
        hello = worker_pb2.WorkerHello(
            worker_id=self.worker_id,
            queues=self.queues,
            task_names=sorted(self.app.tasks),
            concurrency=self.concurrency,
            ignore_result_tasks=sorted(name for name, task in self.app.tasks.items() if task.ignore_result),
            hostname=socket.gethostname(),
            pid=os.getpid(),
        )
        outgoing.put_nowait(worker_pb2.ConnectRequest(hello=hello))
        outgoing.put_nowait(worker_pb2.ConnectRequest(credit=worker_pb2.Credit(n=self.concurrency * self.prefetch)))

        async def frames() -> AsyncIterator[worker_pb2.ConnectRequest]:
            while True:
                try:
                    frame = await asyncio.wait_for(outgoing.get(), timeout=HEARTBEAT)
                except TimeoutError:
                    frame = worker_pb2.ConnectRequest(heartbeat=worker_pb2.Heartbeat())
                if frame is None:
                    return
                yield frame

        tls = ClientSettings.resolve()  # MOTET_TLS_CA / _CERT / _KEY, as the SDK reads them
        channel = open_channel(self.scheduler, credentials=credentials(tls.tls_ca, tls.tls_cert, tls.tls_key))
        try:
            token = (("authorization", f"Bearer {tls.token}"),) if tls.token else ()
            call = worker_pb2_grpc.WorkerServiceStub(channel).Connect(frames(), metadata=token)

            async def stop_when_asked() -> None:
                await self.stopping.wait()
                await self._drain(outgoing)
                outgoing.put_nowait(None)  # half-close: the scheduler ends the stream

            stopper = asyncio.ensure_future(stop_when_asked())
            try:
                async for frame in call:
                    kind = frame.WhichOneof("frame")
                    if kind == "welcome":
                        self.welcomed = True
                        if not self.announced:
                            print(
                                f"motet worker ready worker_id={self.worker_id} scheduler={self.scheduler} "
                                f"tasks={len(self.app.tasks)}",
                                flush=True,
                            )
                            self.announced = True
                    elif kind == "assignment":
                        self._start(frame.assignment, outgoing)
                    elif kind == "revoke":
                        self._revoke(frame.revoke)
                    elif kind == "shutdown":
                        # The scheduler is stopping: finish and report what we hold on this
                        # stream (so nothing re-runs), then close it and reconnect.
                        await self._drain(outgoing)
                        break
            finally:
                stopper.cancel()
                outgoing.put_nowait(None)
        finally:
            await channel.close(grace=0.5)

    async def _drain(self, outgoing: asyncio.Queue[worker_pb2.ConnectRequest | None]) -> None:
        """Graceful stop: withdraw all credit, let in-flight tasks finish and report (up to the
        grace period); what is still running then is handed back when the stream closes."""
        outgoing.put_nowait(worker_pb2.ConnectRequest(credit=worker_pb2.Credit(n=-self.concurrency * self.prefetch)))
        if self.reporting:
            n = len(self.reporting)
            log.warning("draining: waiting for %d task%s to finish, up to %g s", n, "" if n == 1 else "s", self.grace)
            _, left = await asyncio.wait(list(self.reporting), timeout=self.grace)
            if left:
                log.warning(
                    "drained: %d task%s still running after %g s are handed back (they run again elsewhere)",
                    len(left),
                    "" if len(left) == 1 else "s",
                    self.grace,
                )
            else:
                log.info("drained: every task finished and reported")
        deadline = asyncio.get_running_loop().time() + 2.0
        while not outgoing.empty() and asyncio.get_running_loop().time() < deadline:
            await asyncio.sleep(0.01)  # the last reports leave through the stream
        await asyncio.sleep(0.05)

    def _start(self, a: worker_pb2.Assignment, outgoing: asyncio.Queue[worker_pb2.ConnectRequest | None]) -> None:
        log.info("Task %s[%s] received", a.task, a.task_id, extra=_fields(a))
        future = self.pool.submit(a)
        if getattr(self.app.tasks.get(a.task), "track_started", False):
            # Celery's task_track_started: the state reads STARTED once the pool has the task.
            outgoing.put_nowait(
                worker_pb2.ConnectRequest(started=worker_pb2.TaskStarted(task_id=a.task_id, delivery=a.delivery))
            )
        self.inflight[a.task_id] = future
        self.deliveries[a.task_id] = a.delivery
        self.received[a.task_id] = time.monotonic()
        self.names[a.task_id] = a.task
        self.roots[a.task_id] = a.request.root_id
        metrics.worker_tasks_in_flight.set(len(self.inflight))
        limit = a.request.time_limit or getattr(self.app.tasks.get(a.task), "time_limit", None) or 0
        soft = a.request.soft_time_limit or getattr(self.app.tasks.get(a.task), "soft_time_limit", None) or 0
        report = asyncio.ensure_future(self._report(a, future, outgoing, limit, soft))
        self.reporting.add(report)
        report.add_done_callback(self.reporting.discard)

    async def _report(
        self,
        a: worker_pb2.Assignment,
        future: asyncio.Future[worker_pb2.ConnectRequest],
        outgoing: asyncio.Queue[worker_pb2.ConnectRequest | None],
        limit: float,
        soft: float,
    ) -> None:
        try:
            if soft:
                done, _ = await asyncio.wait([future], timeout=soft)
                if not done:
                    thread = self.running.thread_of(a.task_id)
                    if thread is not None:
                        interrupt(thread, SoftTimeLimitExceeded)
            if limit:
                try:
                    frame = await asyncio.wait_for(
                        asyncio.shield(future), timeout=max(limit - (soft or 0), 0.001) if soft else limit
                    )
                except TimeoutError:
                    thread = self.running.thread_of(a.task_id)
                    if thread is not None:
                        interrupt(thread, TimeLimitExceeded)
                    exc = TimeLimitExceeded(f"task {a.task}[{a.task_id}] exceeded its time limit of {limit} s")
                    frame = worker_pb2.ConnectRequest(
                        failed=worker_pb2.TaskFailed(
                            task_id=a.task_id,
                            delivery=a.delivery,
                            failure=failure_from_exception(exc, task_id=a.task_id),
                        )
                    )
            else:
                frame = await future
            if a.task_id not in self.terminated:  # a terminated task was reported by `_revoke`
                self._send_report(a.task_id, frame, outgoing)
        finally:
            self.inflight.pop(a.task_id, None)
            self.deliveries.pop(a.task_id, None)
            self.received.pop(a.task_id, None)
            self.names.pop(a.task_id, None)
            self.roots.pop(a.task_id, None)
            self.terminated.discard(a.task_id)
            self.pool.forget(a.task_id)
            metrics.worker_tasks_in_flight.set(len(self.inflight))

    def _send_report(
        self,
        task_id: str,
        frame: worker_pb2.ConnectRequest,
        outgoing: asyncio.Queue[worker_pb2.ConnectRequest | None],
    ) -> None:
        """Sends a task's one report, counts it and logs it (each task reports once per delivery)."""
        received = self.received.pop(task_id, None)
        seconds = time.monotonic() - received if received is not None else 0.0
        if received is not None:
            metrics.worker_task_run_seconds.observe(seconds)
        metrics.worker_tasks_executed_total.labels(state=_reported_state(frame)).inc()
        _log_outcome(self.names.get(task_id, "?"), task_id, frame, seconds, self.roots.get(task_id, ""))
        outgoing.put_nowait(frame)

    def _revoke(self, notice: worker_pb2.RevokeNotice, delivery: int | None = None) -> None:
        if not notice.terminate:
            # Celery: a revoked task this worker holds but has not started is discarded and ends
            # REVOKED (the pool reports it so when its turn comes); a running one goes on.
            if notice.task_id in self.inflight:
                self.pool.drop(notice.task_id)
            return
        if notice.task_id not in self.inflight or notice.task_id in self.terminated:
            # Not held, or already terminated: the scheduler sends a notice from RevokeTask
            # and another when its watch sees the revocation, and the task reports once.
            return
        thread = self.running.thread_of(notice.task_id)
        if thread is not None:
            # Python code stops at its next bytecode; code blocked in C (sleep, I/O) cannot be
            # stopped from outside a thread, so the task is reported revoked now and whatever it
            # returns later is dropped.
            interrupt(thread, TaskRevokedError)
        self.terminated.add(notice.task_id)
        exc = TaskRevokedError(f"task {notice.task_id} was revoked (terminate=True)")
        if self.outgoing is not None and notice.task_id in self.deliveries:
            failed = worker_pb2.TaskFailed(
                task_id=notice.task_id,
                delivery=self.deliveries[notice.task_id],
                failure=failure_from_exception(exc, task_id=notice.task_id),
            )
            self._send_report(notice.task_id, worker_pb2.ConnectRequest(failed=failed), self.outgoing)


def _reported_state(frame: worker_pb2.ConnectRequest) -> str:
    """The state a report frame reaches: SUCCESS, FAILURE, REVOKED, RETRY or REPLACED."""
    kind = frame.WhichOneof("frame")
    if kind == "failed":
        return "REVOKED" if frame.failed.failure.kind == common_pb2.FAILURE_KIND_REVOKED else "FAILURE"
    return {"succeeded": "SUCCESS", "retry": "RETRY", "replaced": "REPLACED"}.get(kind or "", "UNKNOWN")


def _fields(a: worker_pb2.Assignment) -> dict[str, str]:
    r = a.request
    return task_fields(a.task_id, a.task, r.root_id, parent_id=r.parent_id, group_id=r.group_id)


def _log_outcome(task: str, task_id: str, frame: worker_pb2.ConnectRequest, seconds: float, root_id: str = "") -> None:
    """One line per finished task, in Celery's worker wording (the failure with its traceback)."""
    kind = frame.WhichOneof("frame")
    extra = task_fields(task_id, task, root_id)
    if kind == "succeeded":
        value = _short(frame.succeeded.value.data)
        log.info("Task %s[%s] succeeded in %.3fs: %s", task, task_id, seconds, value, extra=extra)
    elif kind == "failed" and frame.failed.failure.kind == common_pb2.FAILURE_KIND_REVOKED:
        log.warning("Task %s[%s] revoked: %s", task, task_id, frame.failed.failure.message, extra=extra)
    elif kind == "failed":
        failure = frame.failed.failure
        log.error(
            "Task %s[%s] raised unexpected: %s: %s\n%s",
            task,
            task_id,
            failure.exc_type,
            failure.message,
            failure.traceback.rstrip(),
            extra=extra,
        )
    elif kind == "retry":
        failure = frame.retry.failure
        log.info(
            "Task %s[%s] retry: Retry in %gs: %s: %s",
            task,
            task_id,
            frame.retry.countdown,
            failure.exc_type,
            failure.message,
            extra=extra,
        )
    elif kind == "replaced":
        log.info("Task %s[%s] replaced by a new canvas in %.3fs", task, task_id, seconds, extra=extra)


def _short(data: bytes, limit: int = 200) -> str:
    text = data.decode(errors="replace")
    return text if len(text) <= limit else text[:limit] + "..."
