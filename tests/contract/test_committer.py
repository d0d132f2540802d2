"""Group commit against a real etcd with etcd's default request limit (1.5 MiB): a batch stays
under it, and one bad transition fails alone while its batch-mates commit (invariant 1,
docs/invariants.md)."""

from __future__ import annotations

import asyncio

import pytest

from motet_server.scheduler.committer import Committer, Transition
from motet_server.scheduler.flow import Flow
from motet_server.store.errors import StoreError
from motet_server.store.etcd import Etcd
from motet_server.store.keys import Keys
from motet_server.store.stm import STM

pytestmark = pytest.mark.asyncio


def _put(key: bytes, size: int) -> Transition[int]:
    async def transition(flow: Flow, stm: STM) -> int:
        await stm.get(key)  # a guarded read, as every transition makes
        stm.put(key, b"x" * size)
        return size

    return transition


async def _raises(flow: Flow, stm: STM) -> int:
    stm.put(flow.keys.task("never"), b"half-done")
    raise ValueError("a value this scheduler cannot decode")


async def _run_together(committer: Committer, fns: list[Transition[int]]) -> list[int | BaseException]:
    # Queued before the loop starts: the loop takes them as one batch.
    runs = [asyncio.create_task(committer.run(fn)) for fn in fns]
    await asyncio.sleep(0)
    committer.start()
    try:
        return await asyncio.wait_for(asyncio.gather(*runs, return_exceptions=True), timeout=30)
    finally:
        await committer.stop()


async def test_a_batch_stays_under_etcds_request_limit_and_a_too_large_item_fails_alone(
    small_store: Etcd, keys: Keys
) -> None:
    good = [keys.task(f"good-{i}") for i in range(5)]
    big = keys.task("big")
    # Five of 400 KB each fit one request one or two at a time, never all together.
    fns = [_put(k, 400_000) for k in good[:3]] + [_put(big, 2_000_000)] + [_put(k, 400_000) for k in good[3:]]
    outcomes = await _run_together(Committer(small_store, keys, lambda: 0), fns)
    assert outcomes[:3] + outcomes[4:] == [400_000] * 5
    assert isinstance(outcomes[3], StoreError)
    assert "too large" in str(outcomes[3]) or "larger than max" in str(outcomes[3])
    for key in good:
        kv = await small_store.get(key)
        assert kv is not None and len(kv.value) == 400_000
    assert await small_store.get(big) is None


async def test_a_transition_that_raises_fails_alone_and_its_batch_mates_commit(small_store: Etcd, keys: Keys) -> None:
    good = [keys.task(f"good-{i}") for i in range(4)]
    fns = [_put(k, 10) for k in good[:2]] + [_raises] + [_put(k, 10) for k in good[2:]]
    outcomes = await _run_together(Committer(small_store, keys, lambda: 0), fns)
    assert outcomes[:2] + outcomes[3:] == [10] * 4
    assert isinstance(outcomes[2], ValueError)
    for key in good:
        assert await small_store.get(key) is not None
    assert await small_store.get(keys.task("never")) is None
