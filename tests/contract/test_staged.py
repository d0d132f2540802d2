"""Write sets too large for one transaction, against a real etcd: their parts are staged
(stage/<txid>/<part>, one txn each) before the commit, which puts one pointer to them; they
then apply in order, each exactly once, also when the writer dies right after its commit and
racing reconcilers finish them. Parts of a write set that never committed are swept, and a
commit whose staged parts were swept fails instead of pointing at nothing."""

from __future__ import annotations

import asyncio
import time
from functools import partial

import pytest

from motet_server.scheduler import transitions
from motet_server.scheduler.flow import Flow
from motet_server.store.etcd import Etcd
from motet_server.store.keys import Keys
from motet_server.store.kv import Op
from motet_server.store.result_lease import ResultLease
from motet_server.store.stm import STAGE_BYTES, STM, apply_outbox, clean_stages
from motet_server.v1 import records_pb2
from tests.support.canvases import chord, sig

pytestmark = pytest.mark.asyncio

N = 40_000
"""Writes in the big write set: about 300 parts, more than one txn can put (127)."""


def _fill(stm: STM, keys: Keys, n: int = N) -> list[bytes]:
    out = [keys.root + b"big/%06d" % i for i in range(n)]
    for i, key in enumerate(out):
        stm.put(key, b"v%d" % i)
    return out


async def _count(store: Etcd, prefix: bytes) -> int:
    return await store.count_prefix(prefix)


async def _staging_left(store: Etcd, keys: Keys) -> tuple[int, int]:
    return await _count(store, keys.stage_prefix()), await _count(store, keys.outbox_prefix())


async def test_a_write_set_beyond_one_txn_commits_whole_and_leaves_no_part(store: Etcd, keys: Keys) -> None:
    stm = STM(store, keys)
    _fill(stm, keys)
    assert await stm.commit()
    assert await _count(store, keys.root + b"big/") == N
    assert (await store.get(keys.root + b"big/%06d" % (N - 1))).value == b"v%d" % (N - 1)
    assert await _staging_left(store, keys) == (0, 0)


async def test_parts_committed_but_not_applied_are_applied_once_by_racing_reconcilers(store: Etcd, keys: Keys) -> None:
    stm = STM(store, keys)
    _fill(stm, keys)
    assert await stm.commit(apply=False)  # the writer dies right after its commit
    assert stm.txid is not None
    head_only = await _count(store, keys.root + b"big/")
    assert 0 < head_only < N
    staged, pointers = await _staging_left(store, keys)
    assert staged > 127 and pointers == 1
    # A sweep never takes parts whose write set committed, however old.
    assert await clean_stages(store, keys, older_than=0) == 0
    applied = await asyncio.gather(apply_outbox(store, keys), apply_outbox(store, keys), apply_outbox(store, keys))
    applied_more = await apply_outbox(store, keys)
    assert sum(applied) + applied_more == staged  # each part applied exactly once
    assert await _count(store, keys.root + b"big/") == N
    assert await _staging_left(store, keys) == (0, 0)


async def test_parts_of_a_write_set_that_never_committed_are_swept_when_old(store: Etcd, keys: Keys) -> None:
    old = f"{int(time.time()) - 3600}tdeadbeef"
    young = f"{int(time.time())}tcafe"
    for txid in (old, young):
        for n in range(3):
            await store.put(keys.stage(txid, n), records_pb2.OutboxPart().SerializeToString())
    assert await clean_stages(store, keys) == 1
    left = {keys.parse_stage(kv.key)[0] for kv in (await store.get_prefix(keys.stage_prefix(), keys_only=True))[0]}
    assert left == {young}
    await store.delete_prefix(keys.stage_prefix())


async def test_a_commit_whose_staged_parts_were_swept_fails_and_writes_nothing(
    store: Etcd, keys: Keys, monkeypatch: pytest.MonkeyPatch
) -> None:
    stm = STM(store, keys)
    _fill(stm, keys)
    real_txn = store.txn

    async def sweep_then_commit(compares, ops):  # type: ignore[no-untyped-def]
        # The sweep got there between the staging and the commit (a writer stalled 10 min).
        await real_txn([], [Op.delete_prefix(keys.stage_prefix())])
        return await real_txn(compares, ops)

    monkeypatch.setattr(store, "txn", sweep_then_commit)
    assert not await stm.commit()
    monkeypatch.undo()
    assert await _count(store, keys.root + b"big/") == 0
    assert await _staging_left(store, keys) == (0, 0)


async def test_a_conflicting_staged_commit_removes_its_own_parts(store: Etcd, keys: Keys) -> None:
    guard = keys.root + b"guard"
    stm = STM(store, keys)
    assert await stm.get(guard) is None
    _fill(stm, keys)
    await store.put(guard, b"taken")  # a racing writer: this STM's compare fails
    assert not await stm.commit()
    assert await _count(store, keys.root + b"big/") == 0
    assert await _staging_left(store, keys) == (0, 0)
    await store.delete(guard)


async def test_a_chord_of_twenty_thousand_members_is_one_submission(store: Etcd, keys: Keys) -> None:
    lease = ResultLease(store, expires=600)
    await lease.start()
    try:
        header = [sig("add", i, i) for i in range(20_000)]
        canvas = chord(header, sig("tsum"))
        stm = STM(store, keys)
        submitted = await partial(transitions.submit, canvas=canvas)(Flow(keys=keys, result_lease=lease()), stm)
        assert submitted.created
        assert stm.write_bytes > STAGE_BYTES or stm.writes > 127 * 127
        assert await stm.commit()
        assert await _count(store, keys.task_prefix()) == 20_000
        join = records_pb2.JoinRecord.FromString((await store.get(keys.join(canvas.chord.options.group_id))).value)
        assert join.size == 20_000
        assert await _staging_left(store, keys) == (0, 0)
    finally:
        await lease.stop()
