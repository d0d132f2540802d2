"""A worker's report that cannot be applied as sent fails its task with a clear error, in a small
transaction of its own, instead of being retried forever (or raising): the task and everything
downstream finish (invariant 2, docs/invariants.md). Driven through `WorkerServicer._report`,
the scheduler's handling of a report frame, against a real etcd."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from functools import partial
from types import SimpleNamespace
from typing import Any

import pytest
import pytest_asyncio

from motet.v1 import common_pb2
from motet_server.config import MAX_PAYLOAD_BYTES
from motet_server.scheduler import transitions
from motet_server.scheduler.committer import RETRIES, Committer, TooManyConflicts
from motet_server.scheduler.service import WorkerServicer
from motet_server.store.etcd import Etcd
from motet_server.store.keys import Keys
from motet_server.store.result_lease import ResultLease
from motet_server.v1 import records_pb2
from tests.support.canvases import chain, payload, sig

pytestmark = pytest.mark.asyncio


class _Scheduler:
    """A committer and the worker servicer over one store, with a stand-in dispatcher."""

    def __init__(self, store: Etcd, keys: Keys, committer: Committer) -> None:
        self.store, self.keys, self.committer = store, keys, committer
        dispatcher: Any = SimpleNamespace(revoked=set(), known={}, tasks={}, sessions={}, kick=lambda: None)
        self.servicer = WorkerServicer(store, keys, committer, dispatcher)

    async def claimed(self, canvas: Any, task_id: str) -> tuple[Any, int]:
        """Submits ``canvas`` and claims ``task_id`` for a new session: (session, delivery)."""
        await self.committer.run(partial(transitions.submit, canvas=canvas))
        lease = await self.store.lease_grant(60)
        rec = await self.committer.run(partial(transitions.claim, task_id=task_id, session_id=lease, worker_id="w"))
        assert rec is not None
        session = SimpleNamespace(
            id=lease, closed=False, inflight={task_id: 1}, available=0, completed={}, ignore_result_tasks=frozenset()
        )
        return session, rec.deliveries

    async def report(self, session: Any, report: transitions.Report) -> None:
        # Before the fix, some of these reports were retried forever: give up after a while.
        await asyncio.wait_for(self.servicer._report(session, report), timeout=15)

    async def result(self, task_id: str) -> records_pb2.ResultRecord:
        kv = await self.store.get(self.keys.result(task_id))
        assert kv is not None, f"no result for {task_id}"
        return records_pb2.ResultRecord.FromString(kv.value)


async def _scheduler(store: Etcd, keys: Keys) -> AsyncIterator[_Scheduler]:
    lease = ResultLease(store, expires=600)
    await lease.start()
    committer = Committer(store, keys, lease)
    committer.start()
    try:
        yield _Scheduler(store, keys, committer)
    finally:
        await committer.stop()
        await lease.stop()


@pytest_asyncio.fixture
async def scheduler(store: Etcd, keys: Keys) -> AsyncIterator[_Scheduler]:
    """On the session's etcd (10 MiB requests)."""
    async for s in _scheduler(store, keys):
        yield s


@pytest_asyncio.fixture
async def small_scheduler(small_store: Etcd, keys: Keys) -> AsyncIterator[_Scheduler]:
    """On an etcd with its default 1.5 MiB request limit."""
    async for s in _scheduler(small_store, keys):
        yield s


async def _assert_failed(s: _Scheduler, task_id: str, exc_type: str, words: str) -> common_pb2.TaskFailure:
    stored = await s.result(task_id)
    assert stored.result.state == common_pb2.TASK_STATE_FAILURE
    assert stored.result.failure.exc_type == exc_type
    assert words in stored.result.failure.message, stored.result.failure.message
    assert await s.store.get(s.keys.task(task_id)) is None
    assert await s.store.get(s.keys.claim(task_id)) is None
    return stored.result.failure


async def test_a_value_over_the_payload_limit_fails_the_task_and_its_chain(scheduler: _Scheduler) -> None:
    first, second = sig("produce"), sig("consume")
    first_id, second_id = first.signature.options.task_id, second.signature.options.task_id
    session, delivery = await scheduler.claimed(chain(first, second), first_id)
    # The SDK refuses such a value; a worker in another language may send one anyway.
    value = payload("x" * MAX_PAYLOAD_BYTES)
    await scheduler.report(session, transitions.Report(first_id, session.id, delivery, value=value))
    failure = await _assert_failed(
        scheduler, first_id, "motet.exceptions.EncodeError", f"too large to store: {len(value.data)} bytes"
    )
    assert str(MAX_PAYLOAD_BYTES) in failure.message
    downstream = await scheduler.result(second_id)
    assert downstream.result.state == common_pb2.TASK_STATE_FAILURE
    assert await scheduler.store.get(scheduler.keys.task(second_id)) is None
    assert session.inflight == {} and session.available == 1


async def test_a_write_set_etcd_refuses_fails_the_task_instead_of_retrying_forever(
    small_scheduler: _Scheduler,
) -> None:
    # Under the payload limit, but the result and the next step's arguments together are over
    # etcd's request limit: etcd refuses the completion's transaction every time.
    first, second = sig("produce"), sig("consume")
    first_id, second_id = first.signature.options.task_id, second.signature.options.task_id
    session, delivery = await small_scheduler.claimed(chain(first, second), first_id)
    value = payload("x" * 900_000)
    await small_scheduler.report(session, transitions.Report(first_id, session.id, delivery, value=value))
    await _assert_failed(small_scheduler, first_id, "motet.exceptions.EncodeError", "too large to store")
    downstream = await small_scheduler.result(second_id)
    assert downstream.result.state == common_pb2.TASK_STATE_FAILURE


async def test_a_value_that_cannot_be_decoded_fails_the_task_and_its_callback(scheduler: _Scheduler) -> None:
    callback = sig("notify")
    task = sig("produce", link=[callback])
    task_id, callback_id = task.signature.options.task_id, callback.signature.options.task_id
    session, delivery = await scheduler.claimed(task, task_id)
    # A link callback needs the value decoded; this one is not the JSON it claims to be.
    value = common_pb2.Payload(encoding="json", data=b"{not json")
    await scheduler.report(session, transitions.Report(task_id, session.id, delivery, value=value))
    await _assert_failed(scheduler, task_id, "motet.exceptions.EncodeError", "cannot be decoded")
    downstream = await scheduler.result(callback_id)
    assert downstream.result.state == common_pb2.TASK_STATE_FAILURE


async def test_a_good_report_still_succeeds(scheduler: _Scheduler) -> None:
    first, second = sig("produce"), sig("consume")
    first_id, second_id = first.signature.options.task_id, second.signature.options.task_id
    session, delivery = await scheduler.claimed(chain(first, second), first_id)
    await scheduler.report(session, transitions.Report(first_id, session.id, delivery, value=payload([1, 2])))
    stored = await scheduler.result(first_id)
    assert stored.result.state == common_pb2.TASK_STATE_SUCCESS
    kv = await scheduler.store.get(scheduler.keys.task(second_id))
    assert kv is not None
    assert json.loads(records_pb2.TaskRecord.FromString(kv.value).args.data) == [[1, 2]]


async def test_reports_committed_together_fail_only_the_bad_one(small_scheduler: _Scheduler) -> None:
    s = small_scheduler
    tasks = [sig("produce") for _ in range(5)]
    ids = [t.signature.options.task_id for t in tasks]
    claimed = [await s.claimed(t, i) for t, i in zip(tasks, ids, strict=True)]
    values = [payload(n) for n in range(5)]
    # Over the payload limit; all five reports arrive at once and may share a batch.
    values[2] = common_pb2.Payload(encoding="json", data=b'"' + b"x" * (MAX_PAYLOAD_BYTES + 1) + b'"')
    reports = [
        transitions.Report(i, session.id, delivery, value=v)
        for i, (session, delivery), v in zip(ids, claimed, values, strict=True)
    ]
    await asyncio.gather(*(s.report(session, r) for (session, _), r in zip(claimed, reports, strict=True)))
    await _assert_failed(s, ids[2], "motet.exceptions.EncodeError", "too large to store")
    for n in (0, 1, 3, 4):
        stored = await s.result(ids[n])
        assert stored.result.state == common_pb2.TASK_STATE_SUCCESS
        assert json.loads(stored.result.value.data) == n


async def test_a_report_that_keeps_conflicting_fails_the_task_with_a_clear_error(scheduler: _Scheduler) -> None:
    first, second = sig("produce"), sig("consume")
    first_id, second_id = first.signature.options.task_id, second.signature.options.task_id
    session, delivery = await scheduler.claimed(chain(first, second), first_id)
    real_run = scheduler.committer.run
    calls = 0

    async def conflicting_once(fn: Any, prefetch: Any = (), seeds: Any = ()) -> Any:
        nonlocal calls
        calls += 1
        if calls == 1:  # what the committer raises after RETRIES conflicts in a row
            raise TooManyConflicts(f"the transition did not commit after {RETRIES} conflicts in a row")
        return await real_run(fn, prefetch=prefetch, seeds=seeds)

    scheduler.committer.run = conflicting_once  # type: ignore[method-assign]
    await scheduler.report(session, transitions.Report(first_id, session.id, delivery, value=payload(1)))
    await _assert_failed(scheduler, first_id, "motet.exceptions.MotetError", f"after {RETRIES} conflicts")
    downstream = await scheduler.result(second_id)
    assert downstream.result.state == common_pb2.TASK_STATE_FAILURE
