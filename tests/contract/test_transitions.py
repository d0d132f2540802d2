"""Guards of the claim and submit transitions against a real etcd (invariants 1, 4 and 6,
docs/invariants.md): only lost deliveries count toward WorkerLost, a claim re-reads the task's
time window and revocation inside its own transaction, and a submission never overwrites a
stored task or result."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from functools import partial

import pytest

from motet.v1 import common_pb2
from motet_server.scheduler import transitions
from motet_server.scheduler.committer import Committer
from motet_server.scheduler.flow import Flow
from motet_server.store.etcd import Etcd
from motet_server.store.keys import Keys
from motet_server.store.result_lease import ResultLease
from motet_server.store.stm import STM
from motet_server.v1 import records_pb2
from tests.support.canvases import chain, payload, sig

pytestmark = pytest.mark.asyncio


@contextlib.asynccontextmanager
async def _committer(store: Etcd, keys: Keys) -> AsyncIterator[Committer]:
    lease = ResultLease(store, expires=600)
    await lease.start()
    committer = Committer(store, keys, lease)
    committer.start()
    try:
        yield committer
    finally:
        await committer.stop()
        await lease.stop()


async def _claim(committer: Committer, task_id: str, session: int) -> records_pb2.TaskRecord | None:
    return await committer.run(partial(transitions.claim, task_id=task_id, session_id=session, worker_id="w"))


async def _result(store: Etcd, keys: Keys, task_id: str) -> common_pb2.TaskState.ValueType | None:
    kv = await store.get(keys.result(task_id))
    return None if kv is None else records_pb2.ResultRecord.FromString(kv.value).result.state


# ---------------------------------------------------------------------------- lost deliveries


async def test_retries_do_not_count_toward_worker_lost(store: Etcd, keys: Keys) -> None:
    async with _committer(store, keys) as committer:
        task = sig("flaky", max_retries=10)
        task_id = task.signature.options.task_id
        await committer.run(partial(transitions.submit, canvas=task))
        session = await store.lease_grant(60)
        for delivery in range(1, 2 * transitions.MAX_DELIVERIES + 1):
            rec = await _claim(committer, task_id, session)
            assert rec is not None, f"claim {delivery} refused: retries were counted as lost workers"
            assert rec.deliveries == delivery  # the delivery number the worker sees still grows
            retry = transitions.Report(task_id=task_id, session_id=session, delivery=delivery, retry_countdown=0.0)
            assert await committer.run(partial(transitions.finish, report=retry))
        rec = await _claim(committer, task_id, session)
        assert rec is not None
        # A late report of an older delivery is still ignored; the current one completes it.
        late = transitions.Report(task_id=task_id, session_id=session, delivery=rec.deliveries - 1, value=payload(1))
        assert not await committer.run(partial(transitions.finish, report=late))
        done = transitions.Report(task_id=task_id, session_id=session, delivery=rec.deliveries, value=payload(2))
        assert await committer.run(partial(transitions.finish, report=done))
        assert await _result(store, keys, task_id) == common_pb2.TASK_STATE_SUCCESS


async def test_lost_deliveries_between_retries_still_end_in_worker_lost(store: Etcd, keys: Keys) -> None:
    async with _committer(store, keys) as committer:
        task = sig("flaky", max_retries=10)
        task_id = task.signature.options.task_id
        await committer.run(partial(transitions.submit, canvas=task))
        for lost in range(transitions.MAX_DELIVERIES):
            # A delivery that ends in a retry, then one whose worker vanishes without a report.
            session = await store.lease_grant(60)
            rec = await _claim(committer, task_id, session)
            assert rec is not None
            retry = transitions.Report(task_id=task_id, session_id=session, delivery=rec.deliveries, retry_countdown=0)
            assert await committer.run(partial(transitions.finish, report=retry))
            rec = await _claim(committer, task_id, session)
            assert rec is not None, f"refused after {lost} lost deliveries"
            await store.lease_revoke(session)
        assert await _claim(committer, task_id, await store.lease_grant(60)) is None
        result = records_pb2.ResultRecord.FromString((await store.get(keys.result(task_id))).value).result
        assert result.state == common_pb2.TASK_STATE_FAILURE
        assert result.failure.kind == common_pb2.FAILURE_KIND_WORKER_LOST


# ---------------------------------------------------------------------------- claim re-checks


async def test_claim_refuses_a_task_whose_start_time_is_ahead(store: Etcd, keys: Keys) -> None:
    async with _committer(store, keys) as committer:
        task = sig("add", 1, 1, countdown=60)
        task_id = task.signature.options.task_id
        await committer.run(partial(transitions.submit, canvas=task))
        assert await _claim(committer, task_id, await store.lease_grant(60)) is None
        assert await store.get(keys.claim(task_id)) is None
        assert await store.get(keys.task(task_id)) is not None  # still waiting for its time


async def test_claim_revokes_an_expired_task(store: Etcd, keys: Keys) -> None:
    async with _committer(store, keys) as committer:
        task = sig("add", 1, 1, expires=0.05)
        task_id = task.signature.options.task_id
        await committer.run(partial(transitions.submit, canvas=task))
        await asyncio.sleep(0.1)
        assert await _claim(committer, task_id, await store.lease_grant(60)) is None
        assert await store.get(keys.claim(task_id)) is None
        assert await store.get(keys.task(task_id)) is None
        result = records_pb2.ResultRecord.FromString((await store.get(keys.result(task_id))).value).result
        assert result.state == common_pb2.TASK_STATE_REVOKED
        assert result.failure.message == "expired"


async def test_claim_revokes_a_task_with_a_revoked_marker(store: Etcd, keys: Keys) -> None:
    async with _committer(store, keys) as committer:
        task = sig("add", 1, 1)
        task_id = task.signature.options.task_id
        await committer.run(partial(transitions.submit, canvas=task))
        await store.put(keys.revoked(task_id), records_pb2.RevokeRecord().SerializeToString())
        assert await _claim(committer, task_id, await store.lease_grant(60)) is None
        assert await store.get(keys.claim(task_id)) is None
        assert await _result(store, keys, task_id) == common_pb2.TASK_STATE_REVOKED


async def test_a_revocation_between_claim_read_and_commit_fails_the_claim(store: Etcd, keys: Keys) -> None:
    async with _committer(store, keys) as committer:
        task = sig("add", 1, 1)
        task_id = task.signature.options.task_id
        await committer.run(partial(transitions.submit, canvas=task))
    session = await store.lease_grant(60)
    stm = STM(store, keys)
    assert await transitions.claim(Flow(keys=keys), stm, task_id, session, "w") is not None
    await store.put(keys.revoked(task_id), records_pb2.RevokeRecord().SerializeToString())
    assert not await stm.commit()  # the marker's absence was part of the claim's compares
    assert await store.get(keys.claim(task_id)) is None


async def test_write_claim_refuses_a_revoked_or_delayed_task(store: Etcd, keys: Keys) -> None:
    session = await store.lease_grant(60)
    revoked = sig("add", 1, 1)
    delayed = sig("add", 2, 2, countdown=60)
    await store.put(keys.revoked(revoked.signature.options.task_id), records_pb2.RevokeRecord().SerializeToString())
    for canvas in (revoked, delayed):
        # The dispatcher's in-transaction hand-off of a task the same write set creates.
        flow = Flow(keys=keys)
        stm = STM(store, keys)
        await transitions.submit(flow, stm, canvas)
        (rec,) = flow.created
        assert await transitions.write_claim(flow, stm, rec, session_id=session, worker_id="w") is None
        assert await stm.commit()
        task_id = canvas.signature.options.task_id
        assert await store.get(keys.claim(task_id)) is None
        assert await store.get(keys.task(task_id)) is not None  # left for the dispatcher to revoke / delay


# ---------------------------------------------------------------------------- task ids in use


async def test_a_submission_reusing_a_live_task_id_is_refused(store: Etcd, keys: Keys) -> None:
    async with _committer(store, keys) as committer:
        live = sig("add", 1, 1)
        task_id = live.signature.options.task_id
        first = await committer.run(partial(transitions.submit, canvas=live))
        assert first.created
        before = (await store.get(keys.task(task_id))).value
        # A different canvas (new root) whose second step reuses the live task's id.
        clash = chain(sig("add", 2, 2), sig("mul", 3, task_id=task_id))
        done = await committer.run(partial(transitions.submit, canvas=clash))
        assert not done.created and task_id in done.conflict
        assert (await store.get(keys.task(task_id))).value == before  # not overwritten
        assert await store.get(keys.task(clash.chain.tasks[0].signature.options.task_id)) is None
        # The same submission repeated is still accepted, as before (idempotent on its root id).
        again = await committer.run(partial(transitions.submit, canvas=live))
        assert not again.created and not again.conflict


async def test_a_submission_reusing_a_finished_task_id_is_refused(store: Etcd, keys: Keys) -> None:
    async with _committer(store, keys) as committer:
        first = sig("add", 1, 1)
        task_id = first.signature.options.task_id
        await committer.run(partial(transitions.submit, canvas=first))
        session = await store.lease_grant(60)
        rec = await _claim(committer, task_id, session)
        assert rec is not None
        report = transitions.Report(task_id=task_id, session_id=session, delivery=rec.deliveries, value=payload(2))
        assert await committer.run(partial(transitions.finish, report=report))
        # Its submit record gone (expired, say), a new canvas with the same id must not overwrite the result.
        await store.delete(keys.submit(task_id))
        done = await committer.run(partial(transitions.submit, canvas=sig("add", 5, 5, task_id=task_id)))
        assert not done.created and task_id in done.conflict
        assert await store.get(keys.task(task_id)) is None
        assert await _result(store, keys, task_id) == common_pb2.TASK_STATE_SUCCESS


async def test_a_task_id_created_between_read_and_commit_fails_the_submission(store: Etcd, keys: Keys) -> None:
    canvas = sig("add", 1, 1)
    task_id = canvas.signature.options.task_id
    stm = STM(store, keys)
    assert (await transitions.submit(Flow(keys=keys), stm, canvas)).created
    await store.put(keys.task(task_id), records_pb2.TaskRecord(id=task_id, task="other").SerializeToString())
    assert not await stm.commit()  # the absence of task/<id> was compared
    rec = records_pb2.TaskRecord.FromString((await store.get(keys.task(task_id))).value)
    assert rec.task == "other"
