"""Invariant 3 (docs/invariants.md) against a real etcd: a chord body is created exactly once,
with header results in order; a failure reaches the body and callbacks instead of leaving them
pending."""

from __future__ import annotations

import asyncio
import json
from functools import partial

import pytest

from motet.v1 import common_pb2
from motet_server.scheduler import transitions
from motet_server.scheduler.committer import Committer
from motet_server.store.etcd import Etcd
from motet_server.store.keys import Keys
from motet_server.store.result_lease import ResultLease
from motet_server.v1 import records_pb2
from tests.support.canvases import chord, group, payload, sig

pytestmark = pytest.mark.asyncio


async def _committers(store: Etcd, keys: Keys, n: int) -> list[Committer]:
    lease = ResultLease(store, expires=600)
    await lease.start()
    out = [Committer(store, keys, lease) for _ in range(n)]
    for c in out:
        c.start()
    return out


async def _claim_all(committer: Committer, ids: list[str], session: int) -> dict[str, int]:
    deliveries = {}
    for task_id in ids:
        rec = await committer.run(partial(transitions.claim, task_id=task_id, session_id=session, worker_id="w"))
        assert rec is not None
        deliveries[task_id] = rec.deliveries
    return deliveries


async def _tasks_named(store: Etcd, keys: Keys, name: str) -> list[records_pb2.TaskRecord]:
    kvs, _ = await store.get_prefix(keys.task_prefix())
    recs = [records_pb2.TaskRecord.FromString(kv.value) for kv in kvs]
    return [r for r in recs if r.task == name]


async def test_32_concurrent_completers_create_the_body_once(store: Etcd, keys: Keys) -> None:
    width = 32
    header = [sig("add", i, i) for i in range(width)]
    ids = [h.signature.options.task_id for h in header]
    body = sig("tsum")
    committers = await _committers(store, keys, 4)  # four scheduler replicas racing
    await committers[0].run(partial(transitions.submit, canvas=chord(header, body)))
    session = await store.lease_grant(60)
    deliveries = await _claim_all(committers[0], ids, session)

    _, rev = await store.get_prefix(keys.task_prefix())
    body_puts = 0

    async def count_body_puts() -> None:
        nonlocal body_puts
        async for events in store.watch_prefix(keys.task(body.signature.options.task_id), start_revision=rev + 1):
            body_puts += sum(1 for e in events if e.kind == "put")

    watcher = asyncio.create_task(count_body_puts())
    reports = [
        transitions.Report(task_id=t, session_id=session, delivery=deliveries[t], value=payload(2 * i))
        for i, t in enumerate(ids)
    ]
    # Complete in reverse order, all at once, spread over the replicas.
    outcomes = await asyncio.gather(
        *(
            committers[i % len(committers)].run(partial(transitions.finish, report=r))
            for i, r in enumerate(reversed(reports))
        )
    )
    assert all(outcomes)
    await asyncio.sleep(0.3)
    watcher.cancel()
    bodies = await _tasks_named(store, keys, "tsum")
    assert len(bodies) == 1
    assert json.loads(bodies[0].args.data) == [[2 * i for i in range(width)]]
    assert body_puts == 1
    assert await store.get(keys.join(chord(header, body).chord.options.group_id)) is None
    for c in committers:
        await c.stop()


async def test_a_redelivered_member_is_not_counted_twice(store: Etcd, keys: Keys) -> None:
    header = [sig("add", 1, 1), sig("add", 2, 2)]
    ids = [h.signature.options.task_id for h in header]
    canvas = chord(header, sig("tsum"))
    (committer,) = await _committers(store, keys, 1)
    await committer.run(partial(transitions.submit, canvas=canvas))
    first_session = await store.lease_grant(60)
    await _claim_all(committer, [ids[0]], first_session)
    # The first worker is lost: its lease goes, the claim with it.
    await store.lease_revoke(first_session)
    second_session = await store.lease_grant(60)
    redelivered = await _claim_all(committer, [ids[0]], second_session)
    assert redelivered[ids[0]] == 2
    late = transitions.Report(task_id=ids[0], session_id=first_session, delivery=1, value=payload(2))
    assert await committer.run(partial(transitions.finish, report=late)) is False
    good = transitions.Report(task_id=ids[0], session_id=second_session, delivery=2, value=payload(2))
    assert await committer.run(partial(transitions.finish, report=good)) is True
    again = transitions.Report(task_id=ids[0], session_id=second_session, delivery=2, value=payload(2))
    assert await committer.run(partial(transitions.finish, report=again)) is False
    join = records_pb2.JoinRecord.FromString((await store.get(keys.join(canvas.chord.options.group_id))).value)
    assert join.done == 1
    assert await _tasks_named(store, keys, "tsum") == []
    await committer.stop()


async def test_a_failed_member_fails_the_body_once_with_chord_error(store: Etcd, keys: Keys) -> None:
    header = [sig("add", 1, 1), sig("boom"), sig("boom")]
    ids = [h.signature.options.task_id for h in header]
    errback = sig("log_error")
    body = sig("tsum", link_error=[errback])
    canvas = chord(header, body)
    (committer,) = await _committers(store, keys, 1)
    await committer.run(partial(transitions.submit, canvas=canvas))
    session = await store.lease_grant(60)
    deliveries = await _claim_all(committer, ids, session)
    for task_id in ids[1:]:
        failure = common_pb2.TaskFailure(exc_type="builtins.ValueError", message="bad", task_id=task_id)
        report = transitions.Report(task_id=task_id, session_id=session, delivery=deliveries[task_id], failure=failure)
        assert await committer.run(partial(transitions.finish, report=report))
    ok = transitions.Report(task_id=ids[0], session_id=session, delivery=deliveries[ids[0]], value=payload(2))
    assert await committer.run(partial(transitions.finish, report=ok))
    body_result = records_pb2.ResultRecord.FromString(
        (await store.get(keys.result(body.signature.options.task_id))).value
    ).result
    assert body_result.state == common_pb2.TASK_STATE_FAILURE
    assert body_result.failure.exc_type == "motet.exceptions.ChordError"
    assert body_result.failure.kind == common_pb2.FAILURE_KIND_UPSTREAM
    assert ids[1] in body_result.failure.message
    assert len(await _tasks_named(store, keys, "log_error")) == 1  # the chord errback runs once
    assert await _tasks_named(store, keys, "tsum") == []
    await committer.stop()


async def test_a_failed_task_fails_its_callbacks_instead_of_leaving_them_pending(store: Etcd, keys: Keys) -> None:
    callback = sig("mul", 2)
    task = sig("boom", link=[callback])
    task_id = task.signature.options.task_id
    (committer,) = await _committers(store, keys, 1)
    await committer.run(partial(transitions.submit, canvas=task))
    session = await store.lease_grant(60)
    deliveries = await _claim_all(committer, [task_id], session)
    failure = common_pb2.TaskFailure(exc_type="builtins.ValueError", message="bad", task_id=task_id)
    report = transitions.Report(task_id=task_id, session_id=session, delivery=deliveries[task_id], failure=failure)
    assert await committer.run(partial(transitions.finish, report=report))
    linked = records_pb2.ResultRecord.FromString(
        (await store.get(keys.result(callback.signature.options.task_id))).value
    ).result
    assert linked.state == common_pb2.TASK_STATE_FAILURE
    assert linked.failure.task_id == task_id
    assert await _tasks_named(store, keys, "mul") == []
    await committer.stop()


async def test_the_failure_kind_not_the_class_name_decides_a_revoked_outcome(store: Etcd, keys: Keys) -> None:
    # A worker in another language reports a revoked task with kind REVOKED and its own class
    # name; one that names Python's TaskRevokedError without the kind has raised that error.
    revoked, raised = sig("job"), sig("job")
    (committer,) = await _committers(store, keys, 1)
    for canvas in (revoked, raised):
        await committer.run(partial(transitions.submit, canvas=canvas))
    session = await store.lease_grant(60)
    ids = [c.signature.options.task_id for c in (revoked, raised)]
    deliveries = await _claim_all(committer, ids, session)
    reports = [
        common_pb2.TaskFailure(exc_type="node.Cancelled", task_id=ids[0], kind=common_pb2.FAILURE_KIND_REVOKED),
        common_pb2.TaskFailure(exc_type=transitions.REVOKED_TYPE, task_id=ids[1], kind=common_pb2.FAILURE_KIND_RAISED),
    ]
    for failure in reports:
        report = transitions.Report(
            task_id=failure.task_id, session_id=session, delivery=deliveries[failure.task_id], failure=failure
        )
        assert await committer.run(partial(transitions.finish, report=report))
    states = [records_pb2.ResultRecord.FromString((await store.get(keys.result(i))).value).result.state for i in ids]
    assert states == [common_pb2.TASK_STATE_REVOKED, common_pb2.TASK_STATE_FAILURE]
    await committer.stop()


async def test_a_member_added_while_others_complete_is_counted_and_the_body_runs_once(store: Etcd, keys: Keys) -> None:
    # add_to_chord (invariant 3): the size grows in the transaction that creates the member, so
    # members completing at the same time as the add, on other replicas, cannot start the body.
    header = [sig("add", i, i) for i in range(8)]
    ids = [h.signature.options.task_id for h in header]
    body = sig("tsum")
    canvas = chord(header, body)
    committers = await _committers(store, keys, 4)
    await committers[0].run(partial(transitions.submit, canvas=canvas))
    session = await store.lease_grant(60)
    deliveries = await _claim_all(committers[0], ids, session)
    adder = ids[0]
    added = sig("add", 50, 50)
    reports = [
        transitions.Report(task_id=t, session_id=session, delivery=deliveries[t], value=payload(2 * i))
        for i, t in enumerate(ids)
        if t != adder
    ]
    outcomes = await asyncio.gather(
        committers[0].run(partial(transitions.add_to_chord, task_id=adder, canvas=added)),
        *(committers[1 + i % 3].run(partial(transitions.finish, report=r)) for i, r in enumerate(reports)),
    )
    grown = outcomes[0]
    assert (grown.group_id, grown.group_index, grown.created, grown.refused) == (
        canvas.chord.options.group_id,
        8,
        True,
        "",
    )
    # The same member added again (a retried call) changes nothing.
    again = await committers[0].run(partial(transitions.add_to_chord, task_id=adder, canvas=added))
    assert not again.created
    done = transitions.Report(task_id=adder, session_id=session, delivery=deliveries[adder], value=payload(0))
    assert await committers[0].run(partial(transitions.finish, report=done))
    assert await _tasks_named(store, keys, "tsum") == []  # the added member is still to come
    added_id = added.signature.options.task_id
    added_rec = await _claim_all(committers[0], [added_id], session)
    last = transitions.Report(task_id=added_id, session_id=session, delivery=added_rec[added_id], value=payload(100))
    assert await committers[2].run(partial(transitions.finish, report=last))
    bodies = await _tasks_named(store, keys, "tsum")
    assert len(bodies) == 1
    assert json.loads(bodies[0].args.data) == [[2 * i for i in range(8)] + [100]]
    for c in committers:
        await c.stop()


async def test_only_a_running_chord_header_member_can_add_to_its_chord(store: Etcd, keys: Keys) -> None:
    (committer,) = await _committers(store, keys, 1)
    alone = sig("add", 1, 1)
    await committer.run(partial(transitions.submit, canvas=alone))
    refused = await committer.run(
        partial(transitions.add_to_chord, task_id=alone.signature.options.task_id, canvas=sig("x"))
    )
    assert "not a member of a chord" in refused.refused
    gone = await committer.run(partial(transitions.add_to_chord, task_id="no-such-task", canvas=sig("x")))
    assert "not running" in gone.refused
    await committer.stop()


async def test_a_failed_group_fails_its_link_instead_of_leaving_it_pending(store: Etcd, keys: Keys) -> None:
    # group.link(cb) runs once after the whole group; if the group fails it never runs, and its
    # result must fail with the group's error, as a task's callbacks do.
    members = [sig("add", 1, 1), sig("boom")]
    callback = sig("tsum")
    canvas = group(*members)
    canvas.group.options.link.append(callback)
    (committer,) = await _committers(store, keys, 1)
    await committer.run(partial(transitions.submit, canvas=canvas))
    session = await store.lease_grant(60)
    ids = [m.signature.options.task_id for m in members]
    deliveries = await _claim_all(committer, ids, session)
    failure = common_pb2.TaskFailure(exc_type="builtins.ValueError", message="bad", task_id=ids[1])
    report = transitions.Report(task_id=ids[1], session_id=session, delivery=deliveries[ids[1]], failure=failure)
    assert await committer.run(partial(transitions.finish, report=report))
    raw = await store.get(keys.result(callback.signature.options.task_id))
    assert raw is not None, "the group's link was left PENDING"
    linked = records_pb2.ResultRecord.FromString(raw.value).result
    assert (linked.state, linked.failure.task_id) == (common_pb2.TASK_STATE_FAILURE, ids[1])
    assert await _tasks_named(store, keys, "tsum") == []
    await committer.stop()
