"""Which ready task goes to which worker: the scheduler's view of the queues.

The view is a cache of `task/`, `claim/` and `revoked/` kept by etcd watches (opened at the
revision of the initial read, so no event is missed). It only decides what to *try*: every
hand-over is a claim transaction whose compares are the truth, so several scheduler replicas
can share the keyspace and a stale view costs a failed compare, never a double delivery.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import heapq
import logging
import time
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from functools import partial
from typing import Any

from motet.v1 import results_pb2, worker_pb2
from motet_server.config import DEFAULT_QUEUE, METRICS_EVERY, READY_STATES
from motet_server.rpc import metrics
from motet_server.rpc.auth import Principal
from motet_server.scheduler import transitions
from motet_server.scheduler.committer import Committer
from motet_server.scheduler.flow import Flow, request_context
from motet_server.store.errors import StoreError, WatchCompacted
from motet_server.store.etcd import Etcd
from motet_server.store.keys import Keys
from motet_server.store.kv import KV, MAX_TXN_OPS, WatchEvent
from motet_server.store.stm import STM
from motet_server.v1 import records_pb2

__all__ = ["Dispatcher", "Session"]

log = logging.getLogger(__name__)


_MAX_READS = MAX_TXN_OPS - 8
"""Compares a write set may carry before the hand-off stops adding revocation-marker reads."""
ORPHAN_CHECK_DELAY = 0.5
"""Seconds after seeing a claim of a local session that no assignment went out for, before it is
looked at again (and, if still held and unsent, sent): long enough for a claim whose commit
this process is still finishing to be sent by its own path."""
_RECENT_SECONDS = 2.0
_RECENT_RESULTS = 1024
_RECENT_BYTES = 16 * 1024
"""A wait that comes within `_RECENT_SECONDS` of the commit (the common `delay().get()` of a
quick task: the worker had the task before the client had its SubmitCanvas reply) is answered
from the last `_RECENT_RESULTS` results of up to `_RECENT_BYTES` each (16 MiB at most)."""

_CANVASES_TIMED = 100_000
"""Canvases whose end-to-end time a replica follows at once (the oldest unfinished are dropped)."""
RECONCILE_EVERY = 5.0
"""Seconds between sweeps comparing the claims local sessions hold with what they were sent."""


@dataclass(eq=False)
class Session:
    """One connected worker: its lease, what it serves, its credit and its outgoing frames."""

    id: int
    worker_id: str
    queues: frozenset[str]
    names: frozenset[str]
    ignore_result_tasks: frozenset[str] = frozenset()
    available: int = 0
    inflight: dict[str, float] = field(default_factory=dict)
    """Tasks handed to the worker and not reported yet -> when they were sent (monotonic s)."""
    out: asyncio.Queue[worker_pb2.ConnectResponse | None] = field(default_factory=asyncio.Queue)
    closed: bool = False
    hello: worker_pb2.WorkerHello = field(default_factory=worker_pb2.WorkerHello)
    """What the worker announced (for inspection)."""
    connected_at: float = field(default_factory=time.time)
    completed: dict[str, int] = field(default_factory=dict)
    """Reports received in this session, by task name (for inspection)."""
    last_seen: float = field(default_factory=time.monotonic)
    """When the worker last sent a frame (monotonic seconds): its proof of life."""
    draining: bool = False
    """The worker withdrew credit (a graceful stop): its end is not a lost worker."""
    principal: Principal | None = None
    """Whose token opened the stream (None when the scheduler checks no tokens): what a
    replacement the worker reports may contain."""

    def send(self, frame: worker_pb2.ConnectResponse) -> None:
        """Queues a frame for the worker (dropped once the session is closed)."""
        if not self.closed:
            self.out.put_nowait(frame)


@dataclass(order=True)
class _Entry:
    priority: int
    not_before: float
    created_at: float
    task_id: str = field(compare=False)


class Dispatcher:
    """Matches ready tasks to worker sessions and claims them through the committer."""

    def __init__(self, etcd: Etcd, keys: Keys, committer: Committer) -> None:
        self._etcd = etcd
        self._keys = keys
        self._committer = committer
        self.tasks: dict[str, records_pb2.TaskRecord] = {}
        self.claims: dict[str, int] = {}
        """Claimed task id -> the session (lease id) holding it, as the claim watch says."""
        self.by_root: dict[str, set[str]] = {}
        """Root id -> ids of the cached tasks of that workflow (what revoking a root cancels)."""
        self.revoked: dict[str, records_pb2.RevokeRecord] = {}
        self.sessions: dict[int, Session] = {}
        self._claiming: set[str] = set()
        self._handing: set[str] = set()
        """Tasks claimed inside a write set being committed (sent, or not, by after_commit)."""
        self._queued: set[str] = set()
        self._ready: dict[tuple[str, str], list[_Entry]] = {}
        self._delayed: list[_Entry] = []
        self._kick = asyncio.Event()
        self._background: set[asyncio.Task[object]] = set()
        self._loops: list[asyncio.Task[None]] = []
        self.known: dict[str, tuple[KV, KV]] = {}
        """Task and claim snapshots from this process's own claim commits, by task id."""
        self.on_revoke_running: Callable[[str, records_pb2.RevokeRecord], None] | None = None
        self.unserved = 0
        """Ready tasks whose name and queue no connected worker serves (checked every 5 s)."""
        self._unserved_routes: set[tuple[str, str]] = set()
        self._canvases: dict[str, tuple[str, float]] = {}
        """Result id of a canvas this replica accepted -> (its kind, when): end-to-end timing."""
        self._gauged: set[tuple[str, str]] = set()
        self._awaiting: dict[str, list[asyncio.Future[results_pb2.TaskResult | None]]] = {}
        """Task id -> AwaitResult calls waiting for its result to be committed here."""
        self._recent: collections.OrderedDict[str, tuple[float, results_pb2.TaskResult]] = collections.OrderedDict()
        """Small ready results this replica committed in the last `_RECENT_SECONDS`: a wait that
        arrives just after the commit (a quick task) is answered without a read."""

    # ------------------------------------------------------------------ lifecycle

    async def start(self) -> None:
        """Loads the current state and follows it with watches from the same revision.

        Every prefix is read (in pages) at one revision, the revision of the first read, so
        the cache is one snapshot and each watch starts right after it. A compaction passing
        that revision mid-read restarts the read.
        """
        for attempt in range(5):
            loaded: list[tuple[list[KV], Callable[[list[WatchEvent]], None]]] = []
            revision = 0
            try:
                for prefix, handler in self._feeds():
                    kvs, revision = await self._etcd.get_prefix(prefix, revision=revision)
                    loaded.append((kvs, handler))
                break
            except StoreError as exc:
                if "compacted" not in str(exc) or attempt == 4:
                    raise
                log.info("the store was compacted during the initial read; reading again")
        for kvs, handler in loaded:
            handler([WatchEvent(kind="put", kv=kv) for kv in kvs])
        for prefix, handler in self._feeds():
            self._loops.append(asyncio.create_task(self._follow(prefix, revision + 1, handler)))
        self._loops.append(asyncio.create_task(self._dispatch_loop()))
        self._loops.append(asyncio.create_task(self._reconcile_loop()))
        self._loops.append(asyncio.create_task(self._gauge_loop()))
        self.kick()

    async def stop(self) -> None:
        """Stops the loops and background claims."""
        for task in [*self._loops, *self._background]:
            task.cancel()
        for task in [*self._loops, *self._background]:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task

    def _feeds(self) -> list[tuple[bytes, Callable[[list[WatchEvent]], None]]]:
        return [
            (self._keys.revoked_prefix(), self._on_revoked),
            (self._keys.claim_prefix(), self._on_claims),
            (self._keys.task_prefix(), self._on_tasks),
        ]

    async def _follow(self, prefix: bytes, start: int, handler: Callable[[list[WatchEvent]], None]) -> None:
        while True:
            try:
                async for events in self._etcd.watch_prefix(prefix, start_revision=start):
                    handler(events)
                    start = max(e.kv.mod_revision for e in events) + 1
            except asyncio.CancelledError:
                raise
            except WatchCompacted:
                # The history the watch needs is gone: what changed meanwhile is only known by
                # reading the prefix again (never silently carry on with a stale cache).
                log.warning("watch on %r fell behind a compaction; reloading", prefix)
                start = await self._reload_until_read(prefix)
            except Exception:  # noqa: BLE001 - the store blinked: reload and follow again
                log.warning("watch on %r broke; reloading", prefix, exc_info=True)
                await asyncio.sleep(0.5)
                start = await self._reload_until_read(prefix)

    async def _reload_until_read(self, prefix: bytes) -> int:
        """Reads ``prefix`` afresh into the cache (retrying while the store is away); returns
        the revision to watch from."""
        while True:
            try:
                kvs, rev = await self._etcd.get_prefix(prefix)
            except StoreError:
                log.warning("reading %r failed; trying again", prefix, exc_info=True)
                await asyncio.sleep(0.5)
                continue
            self._reload(prefix, kvs)
            return rev + 1

    def _reload(self, prefix: bytes, kvs: list[KV]) -> None:
        if prefix == self._keys.task_prefix():
            self.tasks.clear()
            self.by_root.clear()
            self._queued.clear()
            self._ready.clear()
            self._delayed.clear()
            self._on_tasks([WatchEvent(kind="put", kv=kv) for kv in kvs])
            for task_id in [t for t in self._awaiting if t not in self.tasks]:  # gone in the gap
                self._spawn(self._settle_from_store(task_id))
        elif prefix == self._keys.claim_prefix():
            self.claims.clear()
            self._on_claims([WatchEvent(kind="put", kv=kv) for kv in kvs])
            for task_id in list(self.tasks):
                self._schedule(task_id)
        else:
            self.revoked.clear()
            self._on_revoked([WatchEvent(kind="put", kv=kv) for kv in kvs])

    # ------------------------------------------------------------------ cache

    def _on_tasks(self, events: list[WatchEvent]) -> None:
        prefix = self._keys.task_prefix()
        for event in events:
            task_id = self._keys.id_from(event.kv.key, prefix)
            if event.kind == "delete":
                self._forget(task_id)
                if task_id in self._awaiting:  # not settled by a commit of this replica
                    self._spawn(self._settle_from_store(task_id))
                continue
            self._remember(records_pb2.TaskRecord.FromString(event.kv.value))
            self._schedule(task_id)
        self.kick()

    def _remember(self, rec: records_pb2.TaskRecord) -> None:
        """Caches a task record without its payloads (arguments, errback inputs): routing,
        scheduling, revocation and reports read only the rest, and a claim reads the whole
        record from the store. Keeps the cache small with many tasks waiting."""
        if rec.HasField("args") or rec.HasField("kwargs") or rec.HasField("errback_failure"):
            slim = records_pb2.TaskRecord()
            slim.CopyFrom(rec)
            for name in ("args", "kwargs", "errback_failure", "errback_request"):
                slim.ClearField(name)
            rec = slim
        old = self.tasks.get(rec.id)
        if old is not None and old.root_id != rec.root_id:
            self._unindex(old)
        self.tasks[rec.id] = rec
        self.by_root.setdefault(rec.root_id or rec.id, set()).add(rec.id)

    def _forget(self, task_id: str) -> None:
        rec = self.tasks.pop(task_id, None)
        if rec is not None:
            self._unindex(rec)

    def _unindex(self, rec: records_pb2.TaskRecord) -> None:
        root = rec.root_id or rec.id
        ids = self.by_root.get(root)
        if ids is not None:
            ids.discard(rec.id)
            if not ids:
                del self.by_root[root]

    def workflow(self, root_id: str) -> list[str]:
        """Ids of the cached tasks of the workflow whose root is ``root_id`` (the root too)."""
        return sorted(self.by_root.get(root_id, ()))

    # ------------------------------------------------------------------ hand-off

    async def before_commit(self, stm: STM, flow: Flow) -> list[tuple[Session, records_pb2.TaskRecord]]:
        """Claims tasks this write set creates for workers with spare credit, in the same txn.

        A chain step then costs one transaction (complete + create + claim the next step) and
        no watch hop; the claim is written by `transitions.write_claim`, as a claim made by
        `_claim` is, and it reads the task's revocation marker through this STM (seeded from the
        cache: no round trip), so a revocation the cache has not seen yet fails the commit.
        Only while the whole write set still commits in one txn: a spilled write set may leave
        the task's join or earlier records to an outbox part, and a worker must not run a task
        before what it completes into is stored.
        """
        handoffs: list[tuple[Session, records_pb2.TaskRecord]] = []
        now = time.time()
        candidates: list[tuple[Session, records_pb2.TaskRecord]] = []
        credit = {s.id: s.available for s in self.sessions.values()}
        for rec in flow.created:
            if not any(n > 0 for n in credit.values()) or stm.reads + len(candidates) >= _MAX_READS:
                break  # no credit left, or the txn could not carry another marker compare
            if not stm.fits(extra_puts=len(candidates) + 1):  # each claim is one more put
                break
            if rec.deliveries or rec.not_before > now or rec.expires_at or rec.id in self.revoked:
                continue
            session = self._session_for(rec, credit)
            if session is None:
                continue
            credit[session.id] -= 1
            candidates.append((session, rec))
        if not candidates:
            return handoffs
        for _, rec in candidates:
            # The cache says no revocation marker exists (else the task was skipped above):
            # trust it instead of a round trip. The read still records its "never created"
            # compare, so a revocation the cache has not seen yet fails this commit.
            stm.seed(self._keys.revoked(rec.id), None)
            # Until after_commit: a claim watch event of this commit is not an orphan.
            self._handing.add(rec.id)
        try:
            for session, rec in candidates:
                if session.available <= 0:
                    continue
                # This write set creates the task, so it is stored and unclaimed when it commits.
                claimed = await transitions.write_claim(
                    flow, stm, rec, session_id=session.id, worker_id=session.worker_id
                )
                if claimed is None:
                    continue  # revoked or not due: the dispatcher's own path ends or delays it
                session.available -= 1
                handoffs.append((session, claimed))
        except BaseException:
            for _, rec in candidates:
                self._handing.discard(rec.id)
            raise
        return handoffs

    def after_commit(
        self, stm: STM, flow: Flow, handoffs: list[tuple[Session, records_pb2.TaskRecord]], committed: bool
    ) -> None:
        """Sends the hand-offs of a committed write set, or gives their credit back.

        Not committed includes an unknown outcome (the txn may have landed): a claim that did
        land is then seen on the claim watch, held by a local session with nothing sent, and
        sent by `_check_claim`.
        """
        for rec in flow.created:
            self._handing.discard(rec.id)
        if not committed:
            for session, _ in handoffs:
                session.available += 1
            return
        for result in flow.ready:
            self.finished(result.task_id)  # a task's, a group's: succeeded, failed downstream, revoked
            self._committed(result)
        handed = set()
        for session, rec in handoffs:
            handed.add(rec.id)
            self._remember(rec)
            self.claims[rec.id] = session.id
            session.inflight[rec.id] = time.monotonic()
            _dispatched(rec)
            session.send(worker_pb2.ConnectResponse(assignment=assignment(rec)))
        # Every key of a committed txn has mod_revision == the txn's revision: remember the
        # claimed records, so their completion compares against them without reading them. A
        # key applied later from an outbox part has another revision: never seed a guess.
        for rec, claim in flow.claimed:
            if stm.spilled(self._keys.task(rec.id)) or stm.spilled(self._keys.claim(rec.id)):
                self.known.pop(rec.id, None)
                continue
            self.known[rec.id] = (
                KV(
                    key=self._keys.task(rec.id),
                    value=rec.SerializeToString(),
                    create_revision=0,
                    mod_revision=stm.revision,
                    version=1,
                    lease=0,
                ),
                KV(
                    key=self._keys.claim(rec.id),
                    value=claim.SerializeToString(),
                    create_revision=0,
                    mod_revision=stm.revision,
                    version=1,
                    lease=0,
                ),
            )
        # Tasks left unclaimed are known now, without waiting for the watch to echo them (not a
        # task still queued in an outbox part: it is not stored yet; the watch brings it).
        created = False
        for rec in flow.created:
            if rec.id not in handed and not stm.spilled(self._keys.task(rec.id)):
                self._remember(rec)
                self._schedule(rec.id)
                created = True
        if created:
            self.kick()

    def _session_for(self, rec: records_pb2.TaskRecord, credit: dict[int, int]) -> Session | None:
        queue, name = _route(rec)
        best = None
        for session in self.sessions.values():
            spare = credit.get(session.id, 0)
            if spare > 0 and not session.closed and queue in session.queues and name in session.names:
                if best is None or spare > credit.get(best.id, 0):
                    best = session
        return best

    def _on_claims(self, events: list[WatchEvent]) -> None:
        prefix = self._keys.claim_prefix()
        loop = asyncio.get_running_loop()
        for event in events:
            task_id = self._keys.id_from(event.kv.key, prefix)
            if event.kind == "put":
                session_id = records_pb2.ClaimRecord.FromString(event.kv.value).session_id
                self.claims[task_id] = session_id
                session = self.sessions.get(session_id)
                if session is not None and task_id not in session.inflight:
                    # Held by a worker of this process that was sent nothing (yet): a claim
                    # whose commit outcome was unknown to its caller. Look again shortly.
                    loop.call_later(ORPHAN_CHECK_DELAY, self._check_claim, task_id)
            else:
                self.claims.pop(task_id, None)
                # A claim that vanished while its task still exists is a lost worker (or a
                # retry): the task is ready again. The task's own delete, when it completed,
                # arrives on the other watch; give it a moment before rescheduling.
                loop.call_later(0.05, self._reschedule, task_id)

    def _on_revoked(self, events: list[WatchEvent]) -> None:
        prefix = self._keys.revoked_prefix()
        for event in events:
            task_id = self._keys.id_from(event.kv.key, prefix)
            if event.kind == "delete":
                self.revoked.pop(task_id, None)
                continue
            record = records_pb2.RevokeRecord.FromString(event.kv.value)
            self.revoked[task_id] = record
            if task_id in self.claims and self.on_revoke_running is not None:
                self.on_revoke_running(task_id, record)
            elif task_id in self.tasks:
                self._schedule(task_id)
        self.kick()

    def _reschedule(self, task_id: str) -> None:
        if task_id in self.tasks and task_id not in self.claims:
            self._schedule(task_id)
            self.kick()

    # ------------------------------------------------------------------ reconciling claims

    def _check_claim(self, task_id: str) -> None:
        """Sends a claimed task to its local session if the claim is held and nothing was sent."""
        session = self.sessions.get(self.claims.get(task_id, 0))
        if (
            session is None
            or session.closed
            or task_id in session.inflight
            or task_id in self._claiming
            or task_id in self._handing
        ):
            return
        self._spawn(self._adopt(session, task_id))

    async def _adopt(self, session: Session, task_id: str) -> None:
        try:
            found = await self._etcd.get_many([self._keys.task(task_id), self._keys.claim(task_id)])
        except StoreError:
            # Unreachable: the sweep looks again (and the claim lapses with the session anyway).
            log.warning("could not read the claim of %s; looking again later", task_id, exc_info=True)
            return
        task_kv, claim_kv = found.get(self._keys.task(task_id)), found.get(self._keys.claim(task_id))
        if task_kv is None or claim_kv is None:
            return  # finished or released meanwhile
        rec = records_pb2.TaskRecord.FromString(task_kv.value)
        claim = records_pb2.ClaimRecord.FromString(claim_kv.value)
        if claim.session_id != session.id or claim.delivery != rec.deliveries:
            return
        if session.closed or task_id in session.inflight or task_id in self._claiming or task_id in self._handing:
            return  # sent by its own path after all
        log.warning(
            "task %s was claimed for worker %s by a commit whose outcome was unknown; sending it now",
            task_id,
            session.worker_id,
        )
        session.available -= 1
        session.inflight[task_id] = time.monotonic()
        metrics.reconciler_repairs_total.labels(what="claim_resent").inc()
        session.send(worker_pb2.ConnectResponse(assignment=assignment(rec)))

    async def _reconcile_loop(self) -> None:
        """Every `RECONCILE_EVERY` s, compares the claims each local session holds with the
        assignments it was sent (a claim event seen while its session was not registered yet,
        or a reload, is caught here)."""
        while True:
            await asyncio.sleep(RECONCILE_EVERY)
            for task_id, session_id in list(self.claims.items()):
                session = self.sessions.get(session_id)
                if session is not None and task_id not in session.inflight:
                    self._check_claim(task_id)
            try:
                await self._check_unserved()
            except StoreError:
                log.debug("could not read the workers' sessions", exc_info=True)

    async def _check_unserved(self) -> None:
        """Logs (once, until it changes) each task name and queue that ready tasks wait in while
        no connected worker of any replica serves it, and counts those tasks in `unserved`."""
        waiting: dict[tuple[str, str], int] = {}
        for route, heap in self._ready.items():
            if any(route[0] in s.queues and route[1] in s.names for s in self.sessions.values() if not s.closed):
                continue
            n = sum(1 for e in heap if e.task_id in self.tasks and e.task_id not in self.claims)
            if n:
                waiting[route] = n
        if waiting:
            # Workers of other replicas: their session records (one range read, only then).
            kvs, _ = await self._etcd.get_prefix(self._keys.session_prefix())
            hellos = [records_pb2.SessionRecord.FromString(kv.value).hello for kv in kvs]
            waiting = {
                (queue, name): n
                for (queue, name), n in waiting.items()
                if not any(queue in (h.queues or [DEFAULT_QUEUE]) and name in h.task_names for h in hellos)
            }
        for queue, name in sorted(waiting.keys() - self._unserved_routes):
            log.warning(
                "no connected worker serves task %s on queue %s; %d task(s) wait for one",
                name,
                queue,
                waiting[(queue, name)],
            )
        for queue, name in sorted(self._unserved_routes - waiting.keys()):
            log.info("tasks %s on queue %s no longer wait for a worker", name, queue)
        self._unserved_routes = set(waiting)
        self.unserved = sum(waiting.values())
        metrics.tasks_unserved.set(self.unserved)

    def _schedule(self, task_id: str) -> None:
        rec = self.tasks.get(task_id)
        if rec is None or task_id in self.claims or task_id in self._queued:
            return
        if task_id in self.revoked:
            # Revoked before it was created (a later chain step): it ends REVOKED, never runs.
            self._spawn(self.revoke(task_id))
            return
        entry = _Entry(
            priority=-(rec.options.priority if rec.options.HasField("priority") else 0),
            not_before=rec.not_before,
            created_at=rec.created_at,
            task_id=task_id,
        )
        self._queued.add(task_id)
        if rec.not_before > time.time():
            heapq.heappush(self._delayed, entry)
        else:
            heapq.heappush(self._ready.setdefault(_route(rec), []), entry)

    # ------------------------------------------------------------------ metrics

    def submitted(self, result_id: str, kind: str) -> None:
        """Starts the end-to-end clock of a new canvas (`finished` stops it)."""
        self._canvases[result_id] = (kind, time.monotonic())
        while len(self._canvases) > _CANVASES_TIMED:
            self._canvases.pop(next(iter(self._canvases)))  # the oldest: never finished here

    # ------------------------------------------------------------------ waits

    def await_result(self, task_id: str) -> asyncio.Future[results_pb2.TaskResult | None] | None:
        """A future of task `task_id`'s ready result, or None when this replica does not hold
        the task (the caller waits at the results service).

        The result comes from the commit that writes it when that commit is this replica's
        (`after_commit`), or, when that commit came just before the wait, from the results kept
        a moment after it (`_committed`): no read, no watch. When the task's record goes away
        otherwise (another replica completed it) the result is read once; if there is no ready
        result then (a task replaced by a group, one whose result is ignored) the future gets
        None, and the caller waits elsewhere.
        """
        future: asyncio.Future[results_pb2.TaskResult | None] = asyncio.get_running_loop().create_future()
        recent = self._recent.get(task_id)
        if recent is not None and time.monotonic() - recent[0] < _RECENT_SECONDS:
            future.set_result(recent[1])
            return future
        if task_id not in self.tasks:
            return None
        self._awaiting.setdefault(task_id, []).append(future)
        return future

    def stop_awaiting(self, task_id: str, future: asyncio.Future[results_pb2.TaskResult | None]) -> None:
        """Forgets a wait that ended (answered, timed out, cancelled)."""
        futures = self._awaiting.get(task_id)
        if futures is not None and future in futures:
            futures.remove(future)
            if not futures:
                del self._awaiting[task_id]

    def _committed(self, result: results_pb2.TaskResult) -> None:
        """A result this replica just committed: answers its waits and keeps it a moment."""
        if result.state not in READY_STATES:
            return  # a RETRY: the task's record stays, the wait goes on
        if result.task_id in self._awaiting:
            self._settle(result.task_id, result)
        if result.ByteSize() > _RECENT_BYTES:
            return
        self._recent[result.task_id] = (time.monotonic(), result)
        self._recent.move_to_end(result.task_id)
        while len(self._recent) > _RECENT_RESULTS:
            self._recent.popitem(last=False)

    def _settle(self, task_id: str, result: results_pb2.TaskResult | None) -> None:
        """Answers every wait for `task_id` with a ready result, or None (wait elsewhere)."""
        for future in self._awaiting.pop(task_id, ()):
            if not future.done():
                future.set_result(result)

    async def _settle_from_store(self, task_id: str) -> None:
        result = None
        try:
            kv = await self._etcd.get(self._keys.result(task_id))
            if kv is not None:
                result = records_pb2.ResultRecord.FromString(kv.value).result
        except StoreError:
            pass  # None: the caller waits at the results service, which reads it again
        if task_id in self.tasks:
            return  # created again meanwhile (a replacement took its id): still held
        self._settle(task_id, result if result is not None and result.state in READY_STATES else None)

    def release_waits(self) -> None:
        """Ends every wait with None (the replica is stopping: the callers wait elsewhere)."""
        for task_id in list(self._awaiting):
            self._settle(task_id, None)

    def finished(self, result_id: str) -> None:
        """A result was written (`Flow.ready`): the end of a canvas timed by `submitted`."""
        timed = self._canvases.pop(result_id, None)
        if timed is not None:
            metrics.canvas_end_to_end_seconds.labels(kind=timed[0]).observe(time.monotonic() - timed[1])

    def snapshot_gauges(self) -> None:
        """Sets the queue-depth, oldest-ready and worker-slot gauges from the cache."""
        # Every queue a worker serves (and the default one) has its series, 0 when empty.
        served = {DEFAULT_QUEUE}.union(*(session.queues for session in self.sessions.values()))
        depth: dict[tuple[str, str], int] = dict.fromkeys(self._gauged, 0)
        depth.update(dict.fromkeys(((q, st) for q in served for st in ("ready", "delayed", "running")), 0))
        oldest: dict[str, float] = dict.fromkeys({q for q, _ in depth}, 0.0)
        now = time.time()
        for (queue, _), heap in self._ready.items():
            for entry in heap:
                if entry.task_id not in self.tasks or entry.task_id in self.claims:
                    continue  # finished, revoked or claimed meanwhile: its entry goes when popped
                depth[(queue, "ready")] = depth.get((queue, "ready"), 0) + 1
                age = now - max(entry.created_at, entry.not_before)
                oldest[queue] = max(oldest.get(queue, 0.0), age)
        for entry in self._delayed:
            rec = self.tasks.get(entry.task_id)
            if rec is not None:
                key = (_route(rec)[0], "delayed")
                depth[key] = depth.get(key, 0) + 1
        for task_id in self.claims:
            rec = self.tasks.get(task_id)
            if rec is not None:
                key = (_route(rec)[0], "running")
                depth[key] = depth.get(key, 0) + 1
        for (queue, state), n in depth.items():
            metrics.queue_depth.labels(queue=queue, state=state).set(n)
        for queue, age in oldest.items():
            metrics.queue_oldest_ready_age_seconds.labels(queue=queue).set(age)
        self._gauged = set(depth)  # a queue that empties reads 0, not its last value
        slots = busy = 0
        for session in self.sessions.values():
            concurrency = max(session.hello.concurrency, 1)
            slots += concurrency
            busy += min(len(session.inflight), concurrency)
        metrics.worker_slots.labels(state="busy").set(busy)
        metrics.worker_slots.labels(state="free").set(slots - busy)

    async def _gauge_loop(self) -> None:
        while True:
            self.snapshot_gauges()
            await asyncio.sleep(METRICS_EVERY)

    # ------------------------------------------------------------------ sessions

    def add_session(self, session: Session) -> None:
        """Registers a connected worker."""
        self.sessions[session.id] = session
        metrics.workers_connected.set(len(self.sessions))

    def remove_session(self, session: Session) -> None:
        """Forgets a worker; its claims vanish with its lease."""
        session.closed = True
        self.sessions.pop(session.id, None)
        for task_id in session.inflight:
            self.known.pop(task_id, None)
        metrics.workers_connected.set(len(self.sessions))

    def kick(self) -> None:
        """Asks the dispatch loop to look for work to hand out."""
        self._kick.set()

    # ------------------------------------------------------------------ dispatch

    async def _dispatch_loop(self) -> None:
        while True:
            await self._kick.wait()
            self._kick.clear()
            self._promote_delayed()
            self._hand_out()
            delay = self._delayed[0].not_before - time.time() if self._delayed else None
            if delay is not None and not self._kick.is_set():
                with contextlib.suppress(asyncio.TimeoutError):
                    await asyncio.wait_for(self._kick.wait(), timeout=max(delay, 0.001))
                self._kick.set()

    def _promote_delayed(self) -> None:
        now = time.time()
        while self._delayed and self._delayed[0].not_before <= now:
            entry = heapq.heappop(self._delayed)
            rec = self.tasks.get(entry.task_id)
            if rec is None:
                self._queued.discard(entry.task_id)
                continue
            heapq.heappush(self._ready.setdefault(_route(rec), []), entry)

    def _hand_out(self) -> None:
        progress = True
        while progress:
            progress = False
            for session in list(self.sessions.values()):
                if session.available <= 0 or session.closed:
                    continue
                task_id = self._pop_for(session)
                if task_id is None:
                    continue
                progress = True
                rec = self.tasks[task_id]
                if task_id in self.revoked or (rec.expires_at and time.time() > rec.expires_at):
                    reason = "revoked" if task_id in self.revoked else "expired"
                    self._spawn(self.revoke(task_id, reason))
                    continue
                session.available -= 1
                self._claiming.add(task_id)
                self._spawn(self._claim(session, task_id))

    def _pop_for(self, session: Session) -> str | None:
        while True:
            best: tuple[_Entry, tuple[str, str]] | None = None
            for queue in session.queues:
                for name in session.names:
                    heap = self._ready.get((queue, name))
                    if heap and (best is None or heap[0] < best[0]):
                        best = (heap[0], (queue, name))
            if best is None:
                return None
            entry = heapq.heappop(self._ready[best[1]])
            self._queued.discard(entry.task_id)
            rec = self.tasks.get(entry.task_id)
            if rec is None or entry.task_id in self.claims or entry.task_id in self._claiming:
                continue
            if rec.not_before != entry.not_before:
                self._schedule(entry.task_id)  # retried meanwhile: re-file under its new time
                continue
            return entry.task_id

    def _spawn(self, coro: Coroutine[Any, Any, object]) -> None:
        task = asyncio.ensure_future(coro)
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    async def _claim(self, session: Session, task_id: str) -> None:
        keys = [self._keys.task(task_id), self._keys.claim(task_id), self._keys.revoked(task_id)]
        rec = None
        try:
            rec = await self._committer.run(
                partial(transitions.claim, task_id=task_id, session_id=session.id, worker_id=session.worker_id),
                prefetch=keys,
            )
        except Exception:  # noqa: BLE001 - the store is unreachable; the task stays ready
            log.warning("claim of %s failed", task_id, exc_info=True)
        finally:
            self._claiming.discard(task_id)
        if rec is None:
            session.available += 1
            self._reschedule(task_id)
            self.kick()
            return
        self.claims[task_id] = session.id
        session.inflight[task_id] = time.monotonic()
        _dispatched(rec)
        session.send(worker_pb2.ConnectResponse(assignment=assignment(rec)))

    async def revoke(self, task_id: str, reason: str = "revoked") -> int | None:
        """Revokes a task no worker holds; returns the holding session id if one does."""
        return await self._committer.run(
            partial(transitions.revoke, task_id=task_id, reason=reason),
            prefetch=[self._keys.task(task_id), self._keys.claim(task_id)],
        )


def _dispatched(rec: records_pb2.TaskRecord) -> None:
    """Counts a task handed to a worker, and how long it waited ready."""
    metrics.task_transitions_total.labels(to="DISPATCHED").inc()
    metrics.task_queue_wait_seconds.observe(max(time.time() - max(rec.created_at, rec.not_before), 0.0))


def _route(rec: records_pb2.TaskRecord) -> tuple[str, str]:
    return (rec.options.queue or DEFAULT_QUEUE, rec.task)


def assignment(rec: records_pb2.TaskRecord) -> worker_pb2.Assignment:
    """The frame that hands a claimed task to its worker."""
    return worker_pb2.Assignment(
        task_id=rec.id,
        task=rec.task,
        args=rec.args,
        kwargs=rec.kwargs,
        call=rec.call,
        delivery=rec.deliveries,
        request=request_context(rec),
        errback_failure=rec.errback_failure,
        failed_request=rec.errback_request,
    )
