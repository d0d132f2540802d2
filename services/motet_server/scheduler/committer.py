"""Group commit: transitions that arrive together share one etcd transaction.

Each transition keeps its own compares (an STM records one per key read), so batching never
weakens invariant 1 (docs/invariants.md): if the combined transaction fails because any one
compare failed, or etcd refused it, every transition of the batch is re-run alone on a fresh
STM, with fresh reads, until it commits (or, alone, fails with its own error). A transition
that raises while its batch runs is taken back and re-run alone too, so its batch-mates commit
without it. A batch is bounded by writes, reads and bytes, under etcd's per-request limits.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from collections import deque
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, Generic, Protocol, TypeVar

from motet_server.rpc import metrics
from motet_server.scheduler.flow import Flow
from motet_server.store.errors import StoreUnavailable
from motet_server.store.etcd import Etcd
from motet_server.store.keys import Keys
from motet_server.store.kv import KV
from motet_server.store.stm import STM

__all__ = ["BATCH_BYTES", "RETRIES", "CommitHooks", "Committer", "TooManyConflicts", "Transition", "jittered"]

T = TypeVar("T")
Transition = Callable[[Flow, STM], Awaitable[T]]

log = logging.getLogger(__name__)

# A batch stops growing at this many buffered writes: etcd refuses a txn over 128 operations,
# and a batch that stays under the limit commits without spilling to the outbox.
_BATCH_WRITES = 96
_MAX_BATCH = 64
# etcd also refuses more than 128 compares in one txn; every key a transition reads is one.
_BATCH_READS = 96
BATCH_BYTES = 1024 * 1024
"""Bytes of writes a batch stops at. etcd 3.4 refuses a request over its default
--max-request-bytes (1.5 MiB); the rest is headroom for compares, keys and framing. A single
transition larger than this still runs, alone (the STM spills it into outbox parts)."""
RETRIES = 20
"""Conflicts in a row after which a transition gives up with `TooManyConflicts`."""


class TooManyConflicts(RuntimeError):
    """A transition lost its compares `RETRIES` times in a row (a permanent error for its caller)."""


class CommitHooks(Protocol):
    """What the dispatcher does around each commit."""

    async def before_commit(self, stm: STM, flow: Flow) -> Any:
        """May add writes (claims of tasks the write set creates) and reads; returns a token."""

    def after_commit(self, stm: STM, flow: Flow, token: Any, committed: bool) -> None:
        """Acts on the outcome (send assignments, or give reserved credit back)."""


@dataclass
class _Pending(Generic[T]):
    fn: Transition[T]
    prefetch: list[bytes]
    seeds: list[tuple[bytes, KV | None]]
    future: asyncio.Future[T] = field(default_factory=lambda: asyncio.get_running_loop().create_future())
    enqueued: float = field(default_factory=time.monotonic)
    """When the transition was asked for (a report's arrival): the start of a join's latency."""

    @property
    def op(self) -> str:
        """The transition's name (``claim``, ``finish`` ...): the ``op`` label of its txn."""
        return str(getattr(getattr(self.fn, "func", self.fn), "__name__", "transition"))


class Committer:
    """Runs transitions, folding the ones that arrive together into one transaction."""

    def __init__(
        self,
        etcd: Etcd,
        keys: Keys,
        result_lease: Callable[[], int],
        *,
        loops: int = 1,
        hooks: CommitHooks | None = None,
    ) -> None:
        self._etcd = etcd
        self._keys = keys
        self._result_lease = result_lease
        self._queue: deque[_Pending[Any]] = deque()
        self._wakeup = asyncio.Event()
        self._loops = loops
        self._tasks: list[asyncio.Task[None]] = []
        self.hooks = hooks
        """Sees every write set just before and after its commit (the dispatcher's hand-off)."""

    def start(self) -> None:
        """Starts the commit loops (several, so one slow txn does not stall the rest)."""
        self._tasks = [asyncio.create_task(self._loop()) for _ in range(self._loops)]

    async def stop(self) -> None:
        """Stops the loops; queued transitions are cancelled."""
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        while self._queue:
            self._queue.popleft().future.cancel()

    async def run(
        self, fn: Transition[T], prefetch: Iterable[bytes] = (), seeds: Iterable[tuple[bytes, KV | None]] = ()
    ) -> T:
        """Runs one transition and returns its result once it has committed.

        Args:
            fn: The transition; may run more than once (on conflicts), only its last run counts.
            prefetch: Keys the transition will read; a batch reads all of them in one round trip.
            seeds: Snapshots the caller already knows (from its own last commit); they save the
                read. A stale seed only costs a re-run: its compare fails, and re-runs read afresh.
        """
        pending: _Pending[T] = _Pending(fn, list(prefetch), list(seeds))
        self._queue.append(pending)
        self._wakeup.set()
        return await pending.future

    def flow(self) -> Flow:
        """A Flow for one transaction attempt (one clock reading for the whole attempt)."""
        return Flow(keys=self._keys, result_lease=self._result_lease(), now=time.time())

    async def _next_batch(self) -> list[_Pending[Any]]:
        while not self._queue:
            self._wakeup.clear()
            await self._wakeup.wait()
        batch: list[_Pending[Any]] = []
        while self._queue and len(batch) < _MAX_BATCH:
            batch.append(self._queue.popleft())
        return batch

    async def _loop(self) -> None:
        while True:
            batch = await self._next_batch()
            if len(batch) == 1 and not batch[0].seeds:
                await self._run_alone(batch[0])
                continue
            await self._run_batch(batch)

    def _requeue(self, items: list[_Pending[Any]]) -> None:
        """Puts items back at the front of the queue, in order, for the next batch."""
        self._queue.extendleft(reversed(items))
        self._wakeup.set()

    async def _run_batch(self, batch: list[_Pending[Any]]) -> None:
        flow = self.flow()
        stm = STM(self._etcd, self._keys)
        stm.op = batch[0].op if len(batch) == 1 else "batch"
        for item in batch:
            for key, kv in item.seeds:
                stm.seed(key, kv)
        seeded = {key for item in batch for key, _ in item.seeds}
        try:
            await stm.prefetch([k for item in batch for k in item.prefetch if k not in seeded])
        except Exception as exc:  # noqa: BLE001 - the store is unreachable: tell every caller
            for item in batch:
                item.future.set_exception(exc)
            return
        results: list[Any] = []
        fired: list[tuple[float, int]] = []  # (when asked for, joins it completed)
        ran: list[_Pending[Any]] = []
        failed: list[_Pending[Any]] = []  # raised in the batch: each re-runs alone afterwards
        for n, item in enumerate(batch):
            if ran and _full(stm, at_least=True):
                # Full: the rest goes back to the front of the queue for the next batch.
                self._requeue(batch[n:])
                break
            mark, collected = stm.savepoint(), flow.mark()
            try:
                result = await item.fn(flow, stm)
            except Exception:  # noqa: BLE001 - re-run alone below, which reports the error
                # Take back whatever it buffered: its batch-mates commit without it.
                stm.rollback(mark)
                flow.undo(collected)
                failed.append(item)
                continue
            if ran and _full(stm, at_least=False):
                # This one made the batch too large for one etcd request: take it back, it
                # starts the next batch (alone at worst, where the STM's outbox handles size).
                stm.rollback(mark)
                flow.undo(collected)
                self._requeue(batch[n:])
                break
            results.append(result)
            ran.append(item)
            if len(flow.joins_fired) > collected[2]:  # this transition completed a join
                fired.append((item.enqueued, len(flow.joins_fired) - collected[2]))
        committed = False
        if len(ran) > 1 and not stm.fits():
            # The batch would spill to the outbox: each runs alone (below), so writes pinned to
            # the commit txn (claims, guards) never crowd each other out of it.
            pass
        elif ran:
            try:
                committed = await self._commit(stm, flow, fired)
            except StoreUnavailable as exc:
                # The outcome is unknown: never retry a txn blindly; every caller decides.
                for item in ran:
                    item.future.set_exception(exc)
                ran = []
            except Exception:  # noqa: BLE001 - refused (too large, a bad value ...): each alone
                log.warning("a batch of %d transitions was refused; re-running each alone", len(ran), exc_info=True)
                committed = False
        if committed:
            for item, result in zip(ran, results, strict=True):
                item.future.set_result(result)
            ran = []
        # A conflict, or a refusal one item caused: each re-runs alone with fresh reads, so a
        # bad item fails alone and its batch-mates commit.
        for item in [*ran, *failed]:
            await self._run_alone(item)

    async def _commit(self, stm: STM, flow: Flow, fired: Iterable[tuple[float, int]] = ()) -> bool:
        token = await self.hooks.before_commit(stm, flow) if self.hooks is not None else None
        committed = False
        outcome = "error"  # stays so when the commit raises (store unavailable, write set refused)
        try:
            committed = await stm.commit()
            outcome = "committed" if committed else "conflict"
        finally:
            if self.hooks is not None:
                self.hooks.after_commit(stm, flow, token, committed)
            metrics.etcd_txn_total.labels(outcome=outcome).inc()
            if outcome == "conflict":
                metrics.etcd_txn_conflicts_total.labels(op=stm.op).inc()
        if committed:
            metrics.chord_joins_total.inc(len(flow.joins_fired))
            now = time.monotonic()
            for enqueued, n in fired:
                for _ in range(n):
                    metrics.chord_join_seconds.observe(now - enqueued)
            for join_id in flow.joins_fired:
                log.debug("join %s completed: its body or next step is created", join_id)
        return committed

    async def _run_alone(self, item: _Pending[Any]) -> None:
        if item.future.done():
            return
        for attempt in range(RETRIES):
            flow = self.flow()
            stm = STM(self._etcd, self._keys)
            stm.op = item.op
            try:
                await stm.prefetch(item.prefetch)
                result = await item.fn(flow, stm)
                committed = await self._commit(stm, flow, [(item.enqueued, len(flow.joins_fired))])
            except Exception as exc:  # noqa: BLE001 - handed to the caller
                item.future.set_exception(exc)
                return
            if committed:
                item.future.set_result(result)
                return
            # Contention on one key (a busy chord counter): back off a little, then re-read. The
            # jitter keeps transitions that conflicted together from retrying in lockstep.
            await asyncio.sleep(jittered(min(0.001 * (2**attempt), 0.05)))
        item.future.set_exception(TooManyConflicts(f"the transition did not commit after {RETRIES} conflicts in a row"))


def _full(stm: STM, *, at_least: bool) -> bool:
    """Whether a batch's STM is at (``at_least``) or over its limits of writes, reads and bytes."""
    sizes = ((stm.writes, _BATCH_WRITES), (stm.reads, _BATCH_READS), (stm.write_bytes, BATCH_BYTES))
    return any(n >= limit if at_least else n > limit for n, limit in sizes)


def jittered(delay: float) -> float:
    """``delay`` scaled by a random factor in [0.5, 1.5): callers that failed together retry apart."""
    return delay * (0.5 + random.random())  # noqa: S311 - spreading retries, not cryptography
