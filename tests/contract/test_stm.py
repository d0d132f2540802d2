"""`store.stm` against a real etcd: conflicts, guards, buffered reads, the outbox."""

from __future__ import annotations

import asyncio

import pytest

from motet_server.store.errors import StoreError
from motet_server.store.etcd import Etcd
from motet_server.store.keys import Keys
from motet_server.store.stm import STM, apply_outbox

pytestmark = pytest.mark.asyncio


async def test_two_readers_of_one_key_only_one_commits(store: Etcd, keys: Keys) -> None:
    key = keys.task("t")
    await store.put(key, b"0")
    a, b = STM(store, keys), STM(store, keys)
    assert await a.get(key) == b"0" and await b.get(key) == b"0"
    a.put(key, b"a")
    b.put(key, b"b")
    assert await a.commit()
    assert not await b.commit()
    assert (await store.get(key)).value == b"a"


async def test_absent_key_guard_lets_one_creator_win(store: Etcd, keys: Keys) -> None:
    key = keys.submit("root")
    stms = [STM(store, keys) for _ in range(4)]
    for i, stm in enumerate(stms):
        assert await stm.get(key) is None
        stm.put(key, str(i).encode())
    results = [await stm.commit() for stm in stms]
    assert results == [True, False, False, False]


async def test_a_key_written_after_the_read_fails_the_commit_even_unwritten_by_us(store: Etcd, keys: Keys) -> None:
    guard, other = keys.join("g"), keys.task("x")
    await store.put(guard, b"1")
    stm = STM(store, keys)
    await stm.get(guard)
    stm.put(other, b"y")
    await store.put(guard, b"2")
    assert not await stm.commit()
    assert await store.get(other) is None


async def test_buffered_writes_are_visible_to_reads(store: Etcd, keys: Keys) -> None:
    await store.put(keys.task("a"), b"old")
    await store.put(keys.join_slot("g", 0), b"s0")
    await store.put(keys.join_slot("g", 1), b"s1")
    stm = STM(store, keys)
    stm.put(keys.task("a"), b"new")
    assert await stm.get(keys.task("a")) == b"new"
    assert stm.reads == 0  # served by the buffer: no compare
    stm.delete(keys.task("a"))
    assert await stm.get(keys.task("a")) is None
    stm.put(keys.join_slot("g", 2), b"s2")
    assert [v for _, v in await stm.get_prefix(keys.join_slot_prefix("g"))] == [b"s0", b"s1", b"s2"]
    stm.delete_prefix(keys.join_slot_prefix("g"))
    assert await stm.get_prefix(keys.join_slot_prefix("g")) == []
    assert await stm.get(keys.join_slot("g", 2)) is None
    # A put after the delete_prefix survives it (etcd would refuse both in one txn as is).
    stm.put(keys.join_slot("g", 1), b"again")
    assert await stm.get_prefix(keys.join_slot_prefix("g")) == [(keys.join_slot("g", 1), b"again")]
    assert stm.writes == 3  # task delete, slot prefix delete, slot 1 put
    assert await stm.commit()
    kvs, _ = await store.get_prefix(keys.join_slot_prefix("g"))
    assert [(kv.key, kv.value) for kv in kvs] == [(keys.join_slot("g", 1), b"again")]
    assert await store.get(keys.task("a")) is None


async def test_get_prefix_records_no_compare_but_a_later_get_does(store: Etcd, keys: Keys) -> None:
    await store.put(keys.join_slot("g", 0), b"s0")
    stm = STM(store, keys)
    assert len(await stm.get_prefix(keys.join_slot_prefix("g"))) == 1
    assert stm.reads == 0
    await store.put(keys.join_slot("g", 1), b"added meanwhile")  # not detected: guard with a counter key
    assert await stm.get(keys.join_slot("g", 0)) == b"s0"
    assert stm.reads == 1
    await store.put(keys.join_slot("g", 0), b"changed")
    stm.put(keys.task("x"), b"1")
    assert not await stm.commit()


async def test_prefetch_and_seed(store: Etcd, keys: Keys) -> None:
    await store.put(keys.task("a"), b"1")
    stm = STM(store, keys)
    await stm.prefetch([keys.task("a"), keys.task("b")])
    assert stm.reads == 0  # fetched, not yet read: no compare for keys the transition skips
    assert await stm.get(keys.task("a")) == b"1" and await stm.get(keys.task("b")) is None
    assert stm.reads == 2
    stm.put(keys.task("b"), b"2")
    assert await stm.commit()
    # A stale seed (from a lagging cache) makes the commit fail instead of writing on stale data.
    stale = await store.get(keys.task("a"))
    await store.put(keys.task("a"), b"newer")
    stm = STM(store, keys)
    stm.seed(keys.task("a"), stale)
    assert await stm.get(keys.task("a")) == b"1"
    stm.put(keys.task("a"), b"from stale")
    assert not await stm.commit()


async def test_too_many_reads_for_one_txn_is_a_clear_error(store: Etcd, keys: Keys) -> None:
    stm = STM(store, keys)
    await stm.prefetch([keys.task(str(i)) for i in range(130)])
    for i in range(130):
        await stm.get(keys.task(str(i)))
    stm.put(keys.task("x"), b"1")
    with pytest.raises(StoreError, match="compares"):
        await stm.commit()


async def test_a_thousand_puts_commit_through_the_outbox(store: Etcd, keys: Keys) -> None:
    stm = STM(store, keys)
    assert await stm.get(keys.join("g")) is None
    for i in range(1000):
        stm.put(keys.task(f"{i:04d}"), b"v" * 200)
    stm.put(keys.join("g"), b"join")
    assert await stm.commit()
    assert stm.txid is not None
    kvs, _ = await store.get_prefix(keys.task_prefix())
    assert len(kvs) == 1000 and all(kv.version == 1 for kv in kvs)
    assert await store.get(keys.join("g")) is not None
    assert await store.count_prefix(keys.outbox_prefix()) == 0


async def test_outbox_keeps_order_across_parts(store: Etcd, keys: Keys) -> None:
    await store.put(keys.join_slot("g", 5), b"old")
    stm = STM(store, keys)
    for i in range(400):
        stm.put(keys.task(f"{i:04d}"), b"v")
    stm.delete_prefix(keys.join_slot_prefix("g"))  # lands in a later part than the head
    for i in range(300):
        stm.put(keys.join_slot("g", i), b"new")  # later still: must survive the delete
    assert await stm.commit()
    kvs, _ = await store.get_prefix(keys.join_slot_prefix("g"))
    assert len(kvs) == 300 and {kv.value for kv in kvs} == {b"new"}
    assert await store.count_prefix(keys.task_prefix()) == 400


async def test_a_crash_after_commit_is_finished_by_apply_outbox(store: Etcd, keys: Keys) -> None:
    stm = STM(store, keys)
    for i in range(1000):
        stm.put(keys.task(f"{i:04d}"), b"v")
    assert await stm.commit(apply=False)  # the committer "dies" here
    pending = await store.count_prefix(keys.outbox_prefix())
    assert pending >= 8
    assert await store.count_prefix(keys.task_prefix()) < 1000
    assert await apply_outbox(store, keys) == pending
    assert await store.count_prefix(keys.task_prefix()) == 1000
    assert await store.count_prefix(keys.outbox_prefix()) == 0
    assert await apply_outbox(store, keys) == 0  # idempotent


async def test_eight_racing_reconcilers_apply_each_part_exactly_once(store: Etcd, keys: Keys) -> None:
    txids = []
    for w in range(3):
        stm = STM(store, keys)
        for i in range(700):
            stm.put(keys.task(f"{w}-{i:04d}"), b"v")
        assert await stm.commit(apply=False)
        txids.append(stm.txid)
    pending = await store.count_prefix(keys.outbox_prefix())
    counts = await asyncio.gather(*(apply_outbox(store, keys) for _ in range(8)))
    assert sum(counts) == pending  # every part applied by exactly one caller
    kvs, _ = await store.get_prefix(keys.task_prefix())
    assert len(kvs) == 2100
    assert {kv.version for kv in kvs} == {1}  # a part applied twice would have put its keys twice
    assert await store.count_prefix(keys.outbox_prefix()) == 0


async def test_thirty_two_racing_increments_end_at_thirty_two(store: Etcd, keys: Keys) -> None:
    counter = keys.join("counter")
    await store.put(counter, b"0")
    conflicts = 0

    async def increment() -> None:
        nonlocal conflicts
        while True:
            stm = STM(store, keys)
            value = int(await stm.get(counter) or b"0")
            await asyncio.sleep(0)  # let the others read the same revision
            stm.put(counter, str(value + 1).encode())
            if await stm.commit():
                return
            conflicts += 1

    await asyncio.gather(*(increment() for _ in range(32)))
    assert (await store.get(counter)).value == b"32"
    assert conflicts > 0  # the race really happened


async def test_outbox_namespace_follows_the_writes_when_keys_are_not_given(store: Etcd, keys: Keys) -> None:
    stm = STM(store)
    for i in range(200):
        stm.put(keys.task(f"{i:04d}"), b"v")
    assert await stm.commit(apply=False)
    assert await store.count_prefix(keys.outbox_prefix()) > 0
    await apply_outbox(store, keys)
    assert await store.count_prefix(keys.task_prefix()) == 200


async def test_a_part_whose_lease_expired_still_applies_without_that_put(store: Etcd, keys: Keys) -> None:
    lease = await store.lease_grant(60)
    stm = STM(store, keys)
    for i in range(300):
        stm.put(keys.task(f"{i:04d}"), b"v")
    stm.put(keys.claim("late"), b"c", lease=lease)  # lands in the last part
    assert await stm.commit(apply=False)
    await store.lease_revoke(lease)  # the worker session ends before the part is applied
    await apply_outbox(store, keys)
    assert await store.count_prefix(keys.task_prefix()) == 300
    assert await store.get(keys.claim("late")) is None
    assert await store.count_prefix(keys.outbox_prefix()) == 0


async def test_a_rollback_undoes_what_came_after_the_savepoint_and_keeps_pins(store: Etcd, keys: Keys) -> None:
    pinned, other, read_later = keys.task("pinned"), keys.task("other"), keys.task("read-later")
    await store.put(read_later, b"v1")
    stm = STM(store, keys, max_ops=4)  # small txns: the write set below spills into outbox parts
    for i in range(6):
        stm.put(keys.task(f"filler-{i}"), b"x")
    stm.put(pinned, b"first", head=True)  # last in order: only its pin keeps it in the commit txn
    mark = stm.savepoint()
    # A transition taken back out of the batch: it read a key, overwrote the pinned one,
    # wrote another and deleted a prefix.
    await stm.get(read_later)
    stm.put(pinned, b"second")
    stm.put(other, b"y")
    stm.delete_prefix(keys.task("filler-"))
    stm.rollback(mark)
    await store.put(read_later, b"v2")  # changes what the undone read saw: no compare remains
    assert await stm.commit()
    assert (await store.get(pinned)).value == b"first"
    assert await store.get(other) is None
    assert [(await store.get(keys.task(f"filler-{i}"))).value for i in range(6)] == [b"x"] * 6
    assert not stm.spilled(pinned)  # still pinned to the commit txn after the rollback
