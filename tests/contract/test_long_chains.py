"""Long chains against a real etcd: a step's record carries at most CHAIN_INLINE_STEPS steps
and the rest are stored once, in chain segments read as the chain reaches them. So a chain of
n steps writes O(n) bytes in all (each record had carried the whole rest: O(n^2)), every step
still starts with its parent's value, and no segment outlives the chain, run or failed."""

from __future__ import annotations

import contextlib
import json
from collections.abc import AsyncIterator
from functools import partial

import pytest

from motet.v1 import canvas_pb2, common_pb2
from motet_server.config import CHAIN_INLINE_STEPS
from motet_server.scheduler import transitions
from motet_server.scheduler.committer import Committer
from motet_server.store.etcd import Etcd
from motet_server.store.keys import Keys
from motet_server.store.result_lease import ResultLease
from motet_server.v1 import records_pb2
from tests.support.canvases import chain, chord, payload, sig

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


def _steps(n: int) -> list[canvas_pb2.Canvas]:
    return [sig("add", 1) for _ in range(n)]


async def _result(store: Etcd, keys: Keys, task_id: str) -> records_pb2.ResultRecord | None:
    kv = await store.get(keys.result(task_id))
    return None if kv is None else records_pb2.ResultRecord.FromString(kv.value)


async def _run(store: Etcd, keys: Keys, committer: Committer, task_id: str, fail: bool = False) -> tuple[int, list]:
    """Claims task `task_id` and reports its value (its args summed: the chain's add), or a
    failure. Returns the size of its stored record and its args."""
    kv = await store.get(keys.task(task_id))
    assert kv is not None, f"task {task_id} was not created"
    rec = records_pb2.TaskRecord.FromString(kv.value)
    session = await store.lease_grant(60)
    claimed = await committer.run(partial(transitions.claim, task_id=task_id, session_id=session, worker_id="w"))
    assert claimed is not None
    args = json.loads(claimed.args.data)
    if fail:
        failure = common_pb2.TaskFailure(exc_type="ValueError", message="no", task_id=task_id)
        report = transitions.Report(task_id=task_id, session_id=session, delivery=claimed.deliveries, failure=failure)
    else:
        report = transitions.Report(
            task_id=task_id, session_id=session, delivery=claimed.deliveries, value=payload(_value(args))
        )
    assert await committer.run(partial(transitions.finish, report=report))
    assert len(rec.continuation.remaining) <= CHAIN_INLINE_STEPS
    return len(kv.value), args


def _value(args: list) -> int:
    """The test's worker: adds its args (a chord body's list of values counts as their sum)."""
    return sum(sum(a) if isinstance(a, list) else a for a in args)


async def _segments(store: Etcd, keys: Keys) -> int:
    kvs, _ = await store.get_prefix(keys.chain_prefix())
    return len(kvs)


@pytest.mark.parametrize("n", [40, 400])
async def test_every_step_of_a_long_chain_runs_with_its_parents_value_and_records_stay_small(
    store: Etcd, keys: Keys, n: int
) -> None:
    steps = _steps(n)
    ids = [s.signature.options.task_id for s in steps]
    async with _committer(store, keys) as committer:
        await committer.run(partial(transitions.submit, canvas=chain(sig("add", 0, 0, task_id=ids[0]), *steps[1:])))
        assert await _segments(store, keys) == -(-(n - 1 - CHAIN_INLINE_STEPS) // CHAIN_INLINE_STEPS)
        sizes = []
        for index, task_id in enumerate(ids):
            size, args = await _run(store, keys, committer, task_id)
            sizes.append(size)
            assert args == ([0, 0] if index == 0 else [index - 1, 1]), f"step {index} got {args}"
        result = await _result(store, keys, ids[-1])
        assert result is not None and json.loads(result.result.value.data) == n - 1
        assert await _segments(store, keys) == 0
    # No step's record grows with the chain: the first carries CHAIN_INLINE_STEPS steps and a
    # segment id, whatever n is (it carried all n - 1 before).
    assert max(sizes) < 1_000 + 150 * CHAIN_INLINE_STEPS, f"largest step record {max(sizes)} bytes for n={n}"


async def test_a_long_chain_failing_midway_fails_every_later_step_and_leaves_no_segment(
    store: Etcd, keys: Keys
) -> None:
    steps = _steps(100)
    ids = [s.signature.options.task_id for s in steps]
    async with _committer(store, keys) as committer:
        await committer.run(partial(transitions.submit, canvas=chain(*steps)))
        for task_id in ids[:29]:
            await _run(store, keys, committer, task_id)
        await _run(store, keys, committer, ids[29], fail=True)
        for task_id in ids[30:]:
            result = await _result(store, keys, task_id)
            assert result is not None, f"later step {task_id} has no result"
            assert result.result.state == common_pb2.TASK_STATE_FAILURE
        assert await _segments(store, keys) == 0


async def test_a_chord_inside_a_long_chain_passes_its_value_on_through_the_stored_steps(
    store: Etcd, keys: Keys
) -> None:
    before, after = _steps(30), _steps(30)
    header = [sig("add", 1) for _ in range(3)]
    body = sig("tsum")
    canvas = chain(sig("add", 0, 0), *before, chord(header, body), *after)
    async with _committer(store, keys) as committer:
        await committer.run(partial(transitions.submit, canvas=canvas))
        await _run(store, keys, committer, canvas.chain.tasks[0].signature.options.task_id)
        for step in before:
            await _run(store, keys, committer, step.signature.options.task_id)
        for member in header:
            _, args = await _run(store, keys, committer, member.signature.options.task_id)
            assert args == [30, 1]
        _, args = await _run(store, keys, committer, body.signature.options.task_id)
        assert args == [[31, 31, 31]]
        for index, step in enumerate(after):
            _, args = await _run(store, keys, committer, step.signature.options.task_id)
            assert args == [93 + index, 1]
        result = await _result(store, keys, after[-1].signature.options.task_id)
        assert result is not None and json.loads(result.result.value.data) == 123
        assert await _segments(store, keys) == 0
