"""`store.etcd.Etcd` against a real etcd: reads, txn compare semantics, leases, watches, errors."""

from __future__ import annotations

import asyncio
import contextlib
from pathlib import Path

import pytest

from motet_server.ports import free_port
from motet_server.store.errors import StoreError, StoreUnavailable, WatchCompacted
from motet_server.store.etcd import Etcd
from motet_server.store.etcd_process import EtcdProcess
from motet_server.store.keys import Keys
from motet_server.store.kv import Compare, Op, WatchEvent, prefix_end

pytestmark = pytest.mark.asyncio


async def test_put_get_delete_and_prefix_reads(store: Etcd, keys: Keys) -> None:
    rev = await store.put(keys.task("a"), b"1")
    kv = await store.get(keys.task("a"))
    assert kv is not None and kv.value == b"1" and kv.mod_revision == rev == kv.create_revision and kv.version == 1
    assert await store.get(keys.task("missing")) is None
    for i in range(5):
        await store.put(keys.task(f"b{i}"), str(i).encode())
    kvs, read_rev = await store.get_prefix(keys.task_prefix())
    assert [k.key for k in kvs] == sorted(k.key for k in kvs) and len(kvs) == 6
    assert read_rev == await store.revision()
    limited, _ = await store.get_prefix(keys.task_prefix(), limit=2)
    assert len(limited) == 2
    old, r = await store.get_prefix(keys.task_prefix(), revision=rev)
    assert r == rev and [k.key for k in old] == [keys.task("a")]
    many = await store.get_many(
        [keys.task("a"), keys.task("b1"), keys.task("nope")] + [keys.task(f"x{i}") for i in range(200)]
    )
    assert set(many) == {keys.task("a"), keys.task("b1")}
    assert await store.count_prefix(keys.task_prefix()) == 6
    assert await store.delete(keys.task("a")) == 1
    assert await store.delete(keys.task("a")) == 0
    assert await store.delete_prefix(keys.task_prefix()) == 5
    assert await store.is_healthy()


async def test_prefix_end() -> None:
    assert prefix_end(b"a/") == b"a0"
    assert prefix_end(b"a\xff") == b"b"
    assert prefix_end(b"\xff\xff") == b"\0"


async def test_txn_never_created_guard_succeeds_once(store: Etcd, keys: Keys) -> None:
    key = keys.submit("root")
    guard = Compare.create(key, "==", 0)
    first = await store.txn([guard], [Op.put(key, b"1")], [Op.get(key)])
    second = await store.txn([guard], [Op.put(key, b"2")], [Op.get(key)])
    assert first.succeeded and first.responses == [0]
    assert not second.succeeded
    [kvs] = second.responses
    assert [kv.value for kv in kvs] == [b"1"]
    assert second.revision == first.revision  # the failed txn wrote nothing


async def test_txn_compare_targets(store: Etcd, keys: Keys) -> None:
    key = keys.join("g")
    rev = await store.put(key, b"v1")
    lease = await store.lease_grant(30)
    ok = await store.txn(
        [
            Compare.mod(key, "==", rev),
            Compare.version(key, "==", 1),
            Compare.value(key, "==", b"v1"),
            Compare.lease(key, "==", 0),
        ],
        [Op.put(key, b"v2", lease=lease), Op.put(keys.join_slot("g", 0), b"s"), Op.get_prefix(keys.join_prefix("g"))],
    )
    assert ok.succeeded
    assert ok.responses[0] == 0 and [kv.value for kv in ok.responses[2]] == [b"s"]
    stale = await store.txn([Compare.mod(key, "==", rev)], [Op.delete(key)])
    assert not stale.succeeded
    assert (await store.txn([Compare.lease(key, "==", lease), Compare.mod(key, ">", rev)], [Op.delete(key)])).succeeded
    deleted = await store.txn([], [Op.delete_prefix(keys.join_prefix("g"))])
    assert deleted.responses == [1]
    with pytest.raises(ValueError):
        Compare.mod(key, "=", 1)
    await store.lease_revoke(lease)


async def test_txn_over_etcd_op_limit_is_refused_not_truncated(store: Etcd, keys: Keys) -> None:
    with pytest.raises(StoreError, match="too many operations"):
        await store.txn([], [Op.put(keys.task(str(i)), b"x") for i in range(129)])
    assert await store.count_prefix(keys.task_prefix()) == 0
    # Compares and ops are limited separately (etcd 3.4: 128 each).
    res = await store.txn(
        [Compare.create(keys.task(f"c{i}"), "==", 0) for i in range(120)],
        [Op.put(keys.task(str(i)), b"x") for i in range(120)],
    )
    assert res.succeeded


async def test_lease_expiry_deletes_its_keys(store: Etcd, keys: Keys) -> None:
    lease = await store.lease_grant(1)
    rev = await store.put(keys.claim("t"), b"c", lease=lease)
    assert await store.lease_keepalive_once(lease) >= 1
    assert (await store.get(keys.claim("t"))).lease == lease
    watch = store.watch_prefix(keys.claim("t"), start_revision=rev + 1)
    async with contextlib.aclosing(watch):
        events = await asyncio.wait_for(anext(watch), timeout=10)
    assert [e.kind for e in events] == ["delete"]
    assert await store.get(keys.claim("t")) is None
    assert await store.lease_keepalive_once(lease) == 0
    assert await store.lease_ttl(lease) == -1
    await store.lease_revoke(lease)  # already gone: fine


async def test_lease_revoke_deletes_at_once(store: Etcd, keys: Keys) -> None:
    lease = await store.lease_grant(60)
    await store.put(keys.claim("r"), b"c", lease=lease)
    await store.lease_revoke(lease)
    assert await store.get(keys.claim("r")) is None


async def test_watch_from_a_revision_sees_every_later_event_in_order(store: Etcd, keys: Keys) -> None:
    _, rev = await store.get_prefix(keys.result_prefix())
    for i in range(50):
        await store.put(keys.result(f"{i:03d}"), b"r")
    await store.txn([], [Op.put(keys.result("t1"), b"a"), Op.put(keys.result("t2"), b"b")])
    await store.delete(keys.result("000"))
    seen: list[WatchEvent] = []
    watch = store.watch_prefix(keys.result_prefix(), start_revision=rev + 1)
    async with contextlib.aclosing(watch):
        async for events in watch:
            seen.extend(events)
            if len(seen) >= 53:
                break
    assert [e.kind for e in seen] == ["put"] * 52 + ["delete"]
    assert [e.kv.key for e in seen[:50]] == [keys.result(f"{i:03d}") for i in range(50)]
    revs = [e.kv.mod_revision for e in seen]
    assert revs == sorted(revs) and revs[50] == revs[51]  # one txn, one revision
    # Events after the watch opened arrive too; other prefixes do not.
    watch = store.watch_prefix(keys.revoked_prefix(), start_revision=await store.revision() + 1)
    async with contextlib.aclosing(watch):
        await store.put(keys.task("elsewhere"), b"x")
        await store.put(keys.revoked("x"), b"1")
        events = await asyncio.wait_for(anext(watch), timeout=5)
    assert [(e.kind, e.kv.key, e.kv.value) for e in events] == [("put", keys.revoked("x"), b"1")]


async def test_watch_from_a_compacted_revision_raises(store: Etcd, keys: Keys) -> None:
    first = await store.put(keys.task("c"), b"1")
    await store.put(keys.task("c"), b"2")
    now = await store.put(keys.task("c"), b"3")
    await store.compact(now)
    watch = store.watch_prefix(keys.task_prefix(), start_revision=first)
    with pytest.raises(WatchCompacted) as err:
        async with contextlib.aclosing(watch):
            await asyncio.wait_for(anext(watch), timeout=5)
    assert err.value.compact_revision == now + 1 or err.value.compact_revision == now


async def test_closing_a_watch_cancels_it(store: Etcd, keys: Keys) -> None:
    # (Each event here predates its watch's creation -- the generator starts on first anext --
    # so etcd delivers it from its unsynced-watcher loop, which runs every 100 ms.)
    for _ in range(5):
        watch = store.watch_prefix(keys.task_prefix(), start_revision=await store.revision() + 1)
        await store.put(keys.task("w"), b"x")
        await asyncio.wait_for(anext(watch), timeout=5)
        await asyncio.wait_for(watch.aclose(), timeout=2)
    assert await store.is_healthy()


async def test_unreachable_etcd_is_store_unavailable() -> None:
    with pytest.raises(StoreUnavailable):
        await Etcd.connect(f"127.0.0.1:{free_port()}", timeout=0.3)
    client = await Etcd.connect(f"127.0.0.1:{free_port()}", timeout=0.3, check=False)
    try:
        assert not await client.is_healthy()
        with pytest.raises(StoreUnavailable):
            await client.txn([], [Op.put(b"/motet/x", b"1")])
    finally:
        await client.close()


async def test_several_endpoints_fail_over_to_a_live_one(etcd_server: object) -> None:
    dead = f"127.0.0.1:{free_port()}"
    client = await Etcd.connect([dead, etcd_server.endpoint], timeout=3)
    try:
        assert await client.revision() > 0
    finally:
        await client.close()


@pytest.mark.fault
async def test_a_client_survives_an_etcd_kill_and_restart(tmp_path: Path) -> None:
    proc = await EtcdProcess(tmp_path / "etcd").astart()
    try:
        client = await Etcd.connect(proc.endpoint, timeout=0.5)
        try:
            rev = await client.put(b"/motet/restart/k", b"1")
            proc.kill()
            with pytest.raises(StoreUnavailable):
                await client.txn([Compare.mod(b"/motet/restart/k", "==", rev)], [Op.put(b"/motet/restart/k", b"2")])
            assert not await client.is_healthy()
            await asyncio.to_thread(proc.restart)
            client.timeout = 5.0
            kv = await client.get(b"/motet/restart/k")
            assert kv is not None and kv.value == b"1" and kv.mod_revision == rev  # fsynced before the ack
            assert await client.is_healthy()
        finally:
            await client.close()
    finally:
        proc.stop()
