"""ResultsService: reads results, and pushes them to waiters from one etcd watch per process."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import defaultdict
from collections.abc import AsyncIterator, Callable
from typing import Any

import grpc

from motet.v1 import common_pb2, results_pb2, results_pb2_grpc
from motet_server.config import DEFAULT_QUEUE, MAX_RESULTS_PER_CALL, READY_STATES
from motet_server.rpc import errors, metrics
from motet_server.store.errors import StoreError, StoreUnavailable, WatchCompacted
from motet_server.store.etcd import Etcd
from motet_server.store.keys import Keys
from motet_server.store.kv import KV, WatchEvent
from motet_server.v1 import records_pb2

__all__ = ["ResultsServicer"]

log = logging.getLogger(__name__)

_READ_CHUNK = 100  # keys per read txn: etcd allows 128 operations in one txn


class ResultsServicer(results_pb2_grpc.ResultsServiceServicer):
    """The read side. Holds no state a restart could lose: only the current waiters."""

    def __init__(self, etcd: Etcd, keys: Keys, result_lease: Callable[[], int]) -> None:
        self._etcd = etcd
        self._keys = keys
        self._lease = result_lease
        self._waiters: dict[str, set[asyncio.Queue[results_pb2.TaskResult]]] = defaultdict(set)
        self._watch: asyncio.Task[None] | None = None

    async def start(self) -> None:
        """Opens the shared watch on results at the current revision."""
        start = await self._etcd.revision() + 1
        self._watch = asyncio.create_task(self._follow(start))

    async def stop(self) -> None:
        """Closes the shared watch."""
        if self._watch is not None:
            self._watch.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._watch

    async def _follow(self, start: int) -> None:
        """Pushes every result put from revision ``start`` on to its waiters.

        A broken watch resumes from the revision after the last one seen, so a result written
        while it reconnects still arrives. Only when that history is compacted away does it
        jump to the present, and then it first re-reads every current waiter's result (until
        the read succeeds): nothing written in the gap is skipped.
        """
        prefix = self._keys.result_prefix()
        while True:
            try:
                async for events in self._etcd.watch_prefix(prefix, start_revision=start):
                    self._publish(events)
                    start = max(e.kv.mod_revision for e in events) + 1
            except asyncio.CancelledError:
                raise
            except WatchCompacted:
                log.warning("results watch fell behind a compaction; re-reading what waiters wait for")
                start = await self._catch_up()
            except Exception:  # noqa: BLE001 - the store blinked: resume from the last revision seen
                log.warning("results watch broke; resuming from revision %d", start, exc_info=True)
                await asyncio.sleep(0.2)

    async def _catch_up(self) -> int:
        """Reads the results of every current waiter; returns the revision to watch from."""
        while True:
            try:
                start = await self._etcd.revision() + 1
                for task_id, result in (await self._read(list(self._waiters))).items():
                    self._push(task_id, result)
                return start
            except StoreError:
                log.warning("re-reading waited-for results failed; trying again", exc_info=True)
                await asyncio.sleep(0.2)

    def _publish(self, events: list[WatchEvent]) -> None:
        prefix = self._keys.result_prefix()
        for event in events:
            if event.kind != "put":
                continue
            task_id = self._keys.id_from(event.kv.key, prefix)
            if task_id in self._waiters:
                self._push(task_id, records_pb2.ResultRecord.FromString(event.kv.value).result)

    def _push(self, task_id: str, result: results_pb2.TaskResult) -> None:
        for queue in self._waiters.get(task_id, ()):
            queue.put_nowait(result)

    async def _read(self, ids: list[str]) -> dict[str, results_pb2.TaskResult]:
        out: dict[str, results_pb2.TaskResult] = {}
        for start in range(0, len(ids), _READ_CHUNK):
            chunk = ids[start : start + _READ_CHUNK]
            found = await self._etcd.get_many([self._keys.result(i) for i in chunk])
            for task_id in chunk:
                kv = found.get(self._keys.result(task_id))
                if kv is not None:
                    out[task_id] = records_pb2.ResultRecord.FromString(kv.value).result
        return out

    async def _current(self, ids: list[str]) -> list[results_pb2.TaskResult]:
        """Each task's current state, in order: its stored result, else PENDING, RECEIVED or
        STARTED from its task record and claim (PENDING for an id never seen, as in Celery).
        Three keys per id, read `_READ_CHUNK // 3` ids per transaction."""
        found: dict[bytes, KV] = {}
        unique = list(dict.fromkeys(ids))
        per_txn = _READ_CHUNK // 3
        for start in range(0, len(unique), per_txn):
            chunk = unique[start : start + per_txn]
            keys = [k for i in chunk for k in (self._keys.result(i), self._keys.task(i), self._keys.claim(i))]
            found.update(await self._etcd.get_many(keys))
        by_id = {task_id: self._state(task_id, found) for task_id in unique}
        return [by_id[task_id] for task_id in ids]

    def _state(self, task_id: str, found: dict[bytes, KV]) -> results_pb2.TaskResult:
        result_kv = found.get(self._keys.result(task_id))
        if result_kv is not None:
            return records_pb2.ResultRecord.FromString(result_kv.value).result
        result = results_pb2.TaskResult(task_id=task_id, state=common_pb2.TASK_STATE_PENDING)
        task_kv = found.get(self._keys.task(task_id))
        if task_kv is not None:
            rec = records_pb2.TaskRecord.FromString(task_kv.value)
            result.task = rec.task
            result.parent_id = rec.parent_id
            result.root_id = rec.root_id
            result.group_id = rec.options.group_id
            result.retries = rec.retries
            result.queue = rec.options.queue or DEFAULT_QUEUE
            claim_kv = found.get(self._keys.claim(task_id))
            # ignore_result: nothing is recorded for the task, so it reads PENDING throughout.
            if claim_kv is not None and not rec.options.ignore_result:
                claim = records_pb2.ClaimRecord.FromString(claim_kv.value)
                result.state = common_pb2.TASK_STATE_STARTED if claim.started else common_pb2.TASK_STATE_RECEIVED
        return result

    @staticmethod
    async def _check_ids(ids: list[str], context: grpc.aio.ServicerContext[Any, Any]) -> None:
        """Ends the call with INVALID_ARGUMENT unless 1 to MAX_RESULTS_PER_CALL non-empty ids."""
        if ids and len(ids) <= MAX_RESULTS_PER_CALL and all(ids):
            return
        if not ids:
            why = "empty"
        elif len(ids) > MAX_RESULTS_PER_CALL:
            why = f"more than {MAX_RESULTS_PER_CALL} ids"
        else:
            why = "an empty id"
        await errors.abort(
            context,
            "invalid_request",
            f"task_ids: {why} (give 1 to {MAX_RESULTS_PER_CALL} non-empty ids)",
            violations=[("task_ids", why)],
        )

    @errors.unavailable_when_the_store_is
    async def GetResult(  # noqa: N802 - gRPC method name
        self,
        request: results_pb2.GetResultRequest,
        context: grpc.aio.ServicerContext[results_pb2.GetResultRequest, results_pb2.GetResultResponse],
    ) -> results_pb2.GetResultResponse:
        metrics.result_requests_total.labels(method="GetResult").inc()
        if not request.task_id:
            await errors.abort(context, "invalid_request", "task_id is required", violations=[("task_id", "empty")])
        (result,) = await self._current([request.task_id])
        return results_pb2.GetResultResponse(result=result)

    @errors.unavailable_when_the_store_is
    async def GetResults(  # noqa: N802 - gRPC method name
        self,
        request: results_pb2.GetResultsRequest,
        context: grpc.aio.ServicerContext[results_pb2.GetResultsRequest, results_pb2.GetResultsResponse],
    ) -> results_pb2.GetResultsResponse:
        metrics.result_requests_total.labels(method="GetResults").inc()
        ids = list(request.task_ids)
        await self._check_ids(ids, context)
        return results_pb2.GetResultsResponse(results=await self._current(ids))

    async def WaitResult(  # noqa: N802 - gRPC method name
        self,
        request: results_pb2.WaitResultRequest,
        context: grpc.aio.ServicerContext[results_pb2.WaitResultRequest, results_pb2.WaitResultResponse],
    ) -> AsyncIterator[results_pb2.WaitResultResponse]:
        metrics.result_requests_total.labels(method="WaitResult").inc()
        ids = list(dict.fromkeys(request.task_ids))
        await self._check_ids(list(request.task_ids), context)
        queue: asyncio.Queue[results_pb2.TaskResult] = asyncio.Queue()
        # Register before reading: a result written after the read arrives through the watch,
        # one written before it is in the read; duplicates are dropped by `pending`.
        for task_id in ids:
            self._waiters[task_id].add(queue)
        metrics.wait_streams.inc()
        try:
            pending = set(ids)
            try:
                found = await self._read(ids)
            except StoreUnavailable as exc:
                # UNAVAILABLE, not UNKNOWN: the client reopens the wait (results are durable).
                await errors.abort(context, "unavailable", f"the store is unavailable: {exc}")
            for result in found.values():
                queue.put_nowait(result)
            while pending:
                result = await queue.get()
                if result.task_id in pending and result.state in READY_STATES:
                    pending.discard(result.task_id)
                    yield results_pb2.WaitResultResponse(result=result)
        finally:
            metrics.wait_streams.dec()
            for task_id in ids:
                waiters = self._waiters.get(task_id)
                if waiters is not None:
                    waiters.discard(queue)
                    if not waiters:
                        del self._waiters[task_id]

    @errors.unavailable_when_the_store_is
    async def SaveGroup(  # noqa: N802 - gRPC method name
        self,
        request: results_pb2.SaveGroupRequest,
        context: grpc.aio.ServicerContext[results_pb2.SaveGroupRequest, results_pb2.SaveGroupResponse],
    ) -> results_pb2.SaveGroupResponse:
        if not request.group.group_id:
            await errors.abort(
                context, "invalid_request", "group.group_id is required", violations=[("group.group_id", "empty")]
            )
        record = records_pb2.GroupRecord(group=request.group)
        await self._etcd.put(self._keys.group(request.group.group_id), record.SerializeToString(), lease=self._lease())
        return results_pb2.SaveGroupResponse()

    @errors.unavailable_when_the_store_is
    async def RestoreGroup(  # noqa: N802 - gRPC method name
        self,
        request: results_pb2.RestoreGroupRequest,
        context: grpc.aio.ServicerContext[results_pb2.RestoreGroupRequest, results_pb2.RestoreGroupResponse],
    ) -> results_pb2.RestoreGroupResponse:
        kv = await self._etcd.get(self._keys.group(request.group_id))
        if kv is None:
            await errors.abort(
                context, "not_found", f"no saved group with id {request.group_id!r} (never saved, forgotten or expired)"
            )
        return results_pb2.RestoreGroupResponse(group=records_pb2.GroupRecord.FromString(kv.value).group)

    @errors.unavailable_when_the_store_is
    async def ForgetResult(  # noqa: N802 - gRPC method name
        self,
        request: results_pb2.ForgetResultRequest,
        context: grpc.aio.ServicerContext[results_pb2.ForgetResultRequest, results_pb2.ForgetResultResponse],
    ) -> results_pb2.ForgetResultResponse:
        deleted = 0
        for task_id in request.ids:
            deleted += await self._etcd.delete(self._keys.result(task_id)) or 0
            deleted += await self._etcd.delete(self._keys.group(task_id)) or 0
        return results_pb2.ForgetResultResponse(deleted=deleted)
