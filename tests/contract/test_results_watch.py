"""The results service's shared watch against a real etcd (issue 8, defect 13): a result written
while the watch reconnects still reaches its waiter, even when the first read after the break
fails too."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest

from motet.v1 import common_pb2, results_pb2
from motet_server.results.service import ResultsServicer
from motet_server.store.errors import StoreUnavailable
from motet_server.store.etcd import Etcd
from motet_server.store.keys import Keys
from motet_server.store.kv import KV, WatchEvent
from motet_server.v1 import records_pb2

pytestmark = pytest.mark.asyncio


def _result(task_id: str) -> bytes:
    result = results_pb2.TaskResult(task_id=task_id, state=common_pb2.TASK_STATE_SUCCESS)
    return records_pb2.ResultRecord(result=result).SerializeToString()


async def test_a_result_written_while_the_watch_reconnects_reaches_its_waiter(
    store: Etcd, keys: Keys, monkeypatch: pytest.MonkeyPatch
) -> None:
    real_watch, real_get_many = store.watch_prefix, store.get_many
    broken = asyncio.Event()
    opened = 0
    fail_reads = 0

    async def watch_prefix(prefix: bytes, *, start_revision: int, **kw: Any) -> AsyncIterator[list[WatchEvent]]:
        nonlocal opened
        opened += 1
        if opened == 1:
            # The first watch sees nothing and breaks when told: etcd's leader went away.
            await broken.wait()
            raise StoreUnavailable("etcd watch ended: injected")
        async for events in real_watch(prefix, start_revision=start_revision, **kw):
            yield events

    async def get_many(wanted: Any) -> dict[bytes, KV]:
        nonlocal fail_reads
        if fail_reads:
            fail_reads -= 1
            raise StoreUnavailable("etcd txn failed: UNAVAILABLE: injected")
        return await real_get_many(wanted)

    monkeypatch.setattr(store, "watch_prefix", watch_prefix)
    monkeypatch.setattr(store, "get_many", get_many)
    servicer = ResultsServicer(store, keys, lambda: 0)
    await servicer.start()
    try:
        task_id = "t-written-during-the-gap"
        wait = servicer.WaitResult(results_pb2.WaitResultRequest(task_ids=[task_id]), None)  # type: ignore[arg-type]
        first = asyncio.ensure_future(wait.__anext__())
        await asyncio.sleep(0.3)  # the wait registered and read: nothing yet
        assert not first.done()
        # The result lands while the watch is down, and the first read after the break fails.
        await store.put(keys.result(task_id), _result(task_id))
        fail_reads = 1
        broken.set()
        response = await asyncio.wait_for(first, timeout=10)
        assert response.result.task_id == task_id
        assert response.result.state == common_pb2.TASK_STATE_SUCCESS
    finally:
        await servicer.stop()
