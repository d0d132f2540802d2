"""Invariants 1-4 (docs/invariants.md) for write sets that spill into the outbox, against a
real etcd: a submission retried after an unknown outcome is applied once, and a task handed
to a worker by the in-txn hand-off commits together with its claim."""

from __future__ import annotations

import json
from functools import partial

import pytest

from motet_server.config import DEFAULT_QUEUE
from motet_server.scheduler import transitions
from motet_server.scheduler.committer import Committer
from motet_server.scheduler.dispatch import Dispatcher, Session
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


async def test_a_spilled_hand_off_never_separates_a_task_from_its_claim(store: Etcd, keys: Keys) -> None:
    lease = await _lease(store)
    committer = Committer(store, keys, lease)
    dispatcher = Dispatcher(store, keys, committer)
    committer.hooks = dispatcher
    worker_lease = await store.lease_grant(60)
    session = Session(
        id=worker_lease,
        worker_id="w",
        queues=frozenset({DEFAULT_QUEUE}),
        names=frozenset({"add", "tsum"}),
        available=10 * WIDTH,
    )
    dispatcher.add_session(session)
    committer.start()
    _, rev = await store.get_prefix(keys.root)
    canvas = chord([sig("add", i, i) for i in range(WIDTH)], sig("tsum"))
    submitted = await committer.run(partial(transitions.submit, canvas=canvas))
    assert submitted.created
    await apply_outbox(store, keys)
    handed = []
    while not session.out.empty():
        frame = session.out.get_nowait()
        assert frame is not None
        handed.append(frame.assignment.task_id)

    # Every put of the write set, with the revision of the txn that wrote it.
    puts: dict[bytes, list[int]] = {}
    end = await store.revision()
    async for events in store.watch_prefix(keys.root, start_revision=rev + 1):
        for event in events:
            if event.kind == "put":
                puts.setdefault(event.kv.key, []).append(event.kv.mod_revision)
        if max(e.kv.mod_revision for e in events) >= end:
            break
    claims = [k for k in puts if k.startswith(keys.claim_prefix())]
    assert sorted(keys.id_from(k, keys.claim_prefix()) for k in claims) == sorted(handed)
    for key in claims:
        task_id = keys.id_from(key, keys.claim_prefix())
        assert len(puts[key]) == 1, f"task {task_id} claimed twice"
        # The claim commits in the txn that stores the task record it claims, never apart.
        assert puts[key] == puts[keys.task(task_id)], f"task {task_id} and its claim in different txns"
        claimed = records_pb2.TaskRecord.FromString((await store.get(keys.task(task_id))).value)
        assert claimed.deliveries == 1
    # A seed handed to a completion is the key's real revision, never a guess.
    for task_kv, claim_kv in dispatcher.known.values():
        for kv in (task_kv, claim_kv):
            real = await store.get(kv.key)
            assert real is not None and real.mod_revision == kv.mod_revision, f"stale seed for {kv.key!r}"
    # Whatever was not handed off is stored unclaimed, ready for an ordinary claim.
    kvs, _ = await store.get_prefix(keys.task_prefix())
    assert len(kvs) == WIDTH
    for kv in kvs:
        rec = records_pb2.TaskRecord.FromString(kv.value)
        assert (rec.id in handed) == (rec.deliveries == 1)
        assert (await store.get(keys.claim(rec.id)) is not None) == (rec.id in handed)
    await committer.stop()
    await dispatcher.stop()


async def test_a_claim_sharing_a_spilled_write_set_commits_in_its_first_txn(store: Etcd, keys: Keys) -> None:
    lease = await _lease(store)
    task = sig("add", 1, 1)
    task_id = task.signature.options.task_id
    stm = STM(store, keys)
    assert (await transitions.submit(Flow(keys=keys, result_lease=lease()), stm, task)).created
    assert await stm.commit()
    worker_lease = await store.lease_grant(60)
    # One STM: a big submission first, then a claim, so the claim's writes come last.
    stm = STM(store, keys)
    flow = Flow(keys=keys, result_lease=lease())
    await transitions.submit(flow, stm, chord([sig("add", i, i) for i in range(WIDTH)], sig("tsum")))
    assert await transitions.claim(flow, stm, task_id, session_id=worker_lease, worker_id="w") is not None
    assert not stm.fits()
    assert await stm.commit(apply=False)
    assert stm.txid is not None  # it spilled
    for key in (keys.task(task_id), keys.claim(task_id)):
        assert not stm.spilled(key)
        kv = await store.get(key)
        assert kv is not None and kv.mod_revision == stm.revision
    await apply_outbox(store, keys)
