"""Guards of the claim transition against a real etcd (invariant 4, docs/invariants.md): only
lost deliveries count toward WorkerLost."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from functools import partial

import pytest

from motet.v1 import common_pb2
from motet_server.scheduler import transitions
from motet_server.scheduler.committer import Committer
from motet_server.store.etcd import Etcd
from motet_server.store.keys import Keys
from motet_server.store.result_lease import ResultLease
from motet_server.v1 import records_pb2
from tests.support.canvases import payload, sig

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
