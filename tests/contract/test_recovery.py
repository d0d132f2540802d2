"""Invariants 2, 4 and 7 (docs/invariants.md) against a real etcd: crash repair by the outbox,
lease expiry redelivery, results expiring with their lease."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator
from functools import partial

import pytest

from motet.v1 import common_pb2
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


async def test_a_crash_between_commit_and_outbox_is_repaired_by_the_reconciler(store: Etcd, keys: Keys) -> None:
    width = 400  # 400 task records + join: far more than one txn may hold
    canvas = chord([sig("add", i, i) for i in range(width)], sig("tsum"))
    stm = STM(store, keys)
    flow = Flow(keys=keys)
    await transitions.submit(flow, stm, canvas)
    # The "crash": the commit lands, the process dies before applying the spilled parts.
    assert await stm.commit(apply=False)
    kvs, _ = await store.get_prefix(keys.task_prefix())
    assert len(kvs) < width
    assert (await store.get_prefix(keys.outbox_prefix()))[0]
    await apply_outbox(store, keys)  # what every replica's reconciler runs
    kvs, _ = await store.get_prefix(keys.task_prefix())
    assert sorted(json.loads(records_pb2.TaskRecord.FromString(kv.value).args.data)[0] for kv in kvs) == list(
        range(width)
    )
    assert (await store.get_prefix(keys.outbox_prefix()))[0] == []
    # A second reconciler pass (another replica) changes nothing.
    rev = await store.revision()
    await apply_outbox(store, keys)
    assert await store.revision() == rev


async def test_an_expired_worker_lease_makes_the_task_ready_again(store: Etcd, keys: Keys) -> None:
    lease = ResultLease(store, expires=600)
    await lease.start()
    committer = Committer(store, keys, lease)
    committer.start()
    dispatcher = Dispatcher(store, keys, committer)
    await dispatcher.start()
    task = sig("add", 1, 1)
    task_id = task.signature.options.task_id
    await committer.run(partial(transitions.submit, canvas=task))
    # A worker whose scheduler died: its session lease is not renewed and runs out.
    lost = await store.lease_grant(1)
    rec = await committer.run(partial(transitions.claim, task_id=task_id, session_id=lost, worker_id="lost"))
    assert rec is not None and rec.deliveries == 1
    survivor = Session(
        id=await store.lease_grant(60), worker_id="w2", queues=frozenset({"celery"}), names=frozenset({"add"})
    )
    survivor.available = 1
    dispatcher.add_session(survivor)
    dispatcher.kick()
    frame = await asyncio.wait_for(survivor.out.get(), timeout=10)
    assert frame is not None
    assert frame.assignment.task_id == task_id
    assert frame.assignment.delivery == 2
    held = records_pb2.ClaimRecord.FromString((await store.get(keys.claim(task_id))).value)
    assert held.session_id == survivor.id
    await dispatcher.stop()
    await committer.stop()
    await lease.stop()


@contextlib.asynccontextmanager
async def _committer_with_a_submitted_task(
    store: Etcd, keys: Keys, expires: int
) -> AsyncIterator[tuple[Committer, str]]:
    """A running committer (results kept `expires` s) and the id of one submitted `add` task."""
    lease = ResultLease(store, expires=expires)
    await lease.start()
    committer = Committer(store, keys, lease)
    committer.start()
    task = sig("add", 1, 1)
    await committer.run(partial(transitions.submit, canvas=task))
    try:
        yield committer, task.signature.options.task_id
    finally:
        await committer.stop()
        await lease.stop()


async def test_results_expire_with_their_lease(store: Etcd, keys: Keys) -> None:
    async with _committer_with_a_submitted_task(store, keys, expires=1) as (committer, task_id):
        session = await store.lease_grant(60)
        rec = await committer.run(partial(transitions.claim, task_id=task_id, session_id=session, worker_id="w"))
        report = transitions.Report(task_id=task_id, session_id=session, delivery=rec.deliveries, value=payload(2))
        assert await committer.run(partial(transitions.finish, report=report))
        assert await store.get(keys.result(task_id)) is not None
        deadline = asyncio.get_running_loop().time() + 10
        while await store.get(keys.result(task_id)) is not None:
            assert asyncio.get_running_loop().time() < deadline, "the result outlived its lease"
            await asyncio.sleep(0.2)


async def test_a_task_whose_worker_is_lost_on_every_delivery_fails_with_worker_lost(store: Etcd, keys: Keys) -> None:
    async with _committer_with_a_submitted_task(store, keys, expires=600) as (committer, task_id):
        for delivery in range(1, transitions.MAX_DELIVERIES + 1):
            # Each worker dies holding the task: its session lease goes, and the claim with it.
            session = await store.lease_grant(60)
            rec = await committer.run(partial(transitions.claim, task_id=task_id, session_id=session, worker_id="w"))
            assert rec is not None and rec.deliveries == delivery
            await store.lease_revoke(session)
        last = await store.lease_grant(60)
        assert await committer.run(partial(transitions.claim, task_id=task_id, session_id=last, worker_id="w")) is None
        result = records_pb2.ResultRecord.FromString((await store.get(keys.result(task_id))).value).result
        assert result.state == common_pb2.TASK_STATE_FAILURE
        assert (result.failure.exc_type, result.failure.kind) == (
            transitions.WORKER_LOST_TYPE,
            common_pb2.FAILURE_KIND_WORKER_LOST,
        )
        assert await store.get(keys.task(task_id)) is None  # nothing is left to hand out
