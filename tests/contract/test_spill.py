"""Invariants 1-4 (docs/invariants.md) for write sets that spill into the outbox, against a
real etcd: a submission retried after an unknown outcome is applied once, and a task handed
to a worker by the in-txn hand-off commits together with its claim."""

from __future__ import annotations

import json
from functools import partial

import pytest

from motet_server.scheduler import transitions
from motet_server.scheduler.committer import Committer
from motet_server.scheduler.flow import Flow
from motet_server.store.etcd import Etcd
from motet_server.store.keys import Keys
from motet_server.store.result_lease import ResultLease
from motet_server.store.stm import STM, apply_outbox
from motet_server.v1 import records_pb2
from tests.support.canvases import chord, payload, sig

pytestmark = pytest.mark.asyncio

WIDTH = 300  # a join + 300 task records: far more than one txn holds


async def _lease(store: Etcd) -> ResultLease:
    lease = ResultLease(store, expires=600)
    await lease.start()
    return lease


async def _snapshot(store: Etcd, keys: Keys) -> dict[bytes, tuple[bytes, int]]:
    kvs, _ = await store.get_prefix(keys.root)
    return {kv.key: (kv.value, kv.mod_revision) for kv in kvs}


async def test_a_spilled_submission_retried_after_an_unknown_outcome_runs_once(store: Etcd, keys: Keys) -> None:
    header = [sig("add", i, i) for i in range(WIDTH)]
    ids = [h.signature.options.task_id for h in header]
    body = sig("tsum")
    canvas = chord(header, body)
    lease = await _lease(store)
    # The first SubmitCanvas: its txn commits, its spilled parts are still pending, and the
    # client never hears back (UNAVAILABLE), so the SDK sends the same submission again.
    stm = STM(store, keys)
    first = await transitions.submit(Flow(keys=keys, result_lease=lease()), stm, canvas)
    assert first.created
    assert await stm.commit(apply=False)
    assert stm.txid is not None
    committer = Committer(store, keys, lease)
    committer.start()
    session = await store.lease_grant(60)
    # A member stored by the first txn runs to completion meanwhile.
    stored = {records_pb2.TaskRecord.FromString(kv.value).id for kv in (await store.get_prefix(keys.task_prefix()))[0]}
    early = next(t for t in ids if t in stored)
    rec = await committer.run(partial(transitions.claim, task_id=early, session_id=session, worker_id="w"))
    assert rec is not None
    report = transitions.Report(
        task_id=early, session_id=session, delivery=rec.deliveries, value=payload(ids.index(early))
    )
    assert await committer.run(partial(transitions.finish, report=report))

    before = await _snapshot(store, keys)
    again = await committer.run(partial(transitions.submit, canvas=canvas))
    assert not again.created
    assert await _snapshot(store, keys) == before  # the retry changes nothing

    await apply_outbox(store, keys)
    for i, task_id in enumerate(ids):
        if task_id == early:
            continue
        rec = await committer.run(partial(transitions.claim, task_id=task_id, session_id=session, worker_id="w"))
        assert rec is not None, f"member {i} is missing or claimed"
        report = transitions.Report(task_id=task_id, session_id=session, delivery=rec.deliveries, value=payload(i))
        assert await committer.run(partial(transitions.finish, report=report))
    assert await store.get(keys.task(early)) is None  # the completed member was not re-activated
    kvs, _ = await store.get_prefix(keys.task_prefix())
    bodies = [r for r in (records_pb2.TaskRecord.FromString(kv.value) for kv in kvs) if r.task == "tsum"]
    assert len(bodies) == 1
    assert bodies[0].id == body.signature.options.task_id
    assert json.loads(bodies[0].args.data) == [list(range(WIDTH))]
    assert await store.get(keys.join(canvas.chord.options.group_id)) is None
    await committer.stop()
