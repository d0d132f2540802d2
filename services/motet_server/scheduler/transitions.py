"""The task state transitions. One function per transition; each runs against one STM.

Every function reads what it needs through the STM (which records a compare for each key read)
and buffers its writes; the caller commits, so a transition is one guarded etcd transaction
(invariant 1 in docs/invariants.md) that also carries everything that follows it (invariant 2).
A function may be re-run on a fresh STM after a conflict, so it has no side effect besides the
STM and its return value.
"""

from __future__ import annotations

from dataclasses import dataclass

from motet.v1 import canvas_pb2, common_pb2, results_pb2
from motet_server.scheduler import expand, nodes
from motet_server.scheduler.flow import Flow, Origin, failed_request
from motet_server.store.keys import Keys
from motet_server.store.stm import STM
from motet_server.v1 import records_pb2

__all__ = [
    "MAX_DELIVERIES",
    "Added",
    "Report",
    "Submitted",
    "add_to_chord",
    "claim",
    "finish",
    "revoke",
    "start",
    "submit",
    "write_claim",
]

MAX_DELIVERIES = 5
"""Lost deliveries of one task (its worker vanished without an accepted report) before it fails
with WorkerLost. Deliveries that ended in a retry do not count."""

# The exception classes the SDK re-raises for these outcomes; the outcome itself is the
# failure's `kind`, which is what decides a task's state.
REVOKED_TYPE = "motet.exceptions.TaskRevokedError"
WORKER_LOST_TYPE = "motet.exceptions.WorkerLost"
IMPROPERLY_CONFIGURED_TYPE = "motet.exceptions.ImproperlyConfigured"


@dataclass(frozen=True)
class Submitted:
    """The outcome of a submission."""

    root_id: str
    result_id: str
    created: bool
    conflict: str = ""
    """Why nothing was written because a task id is in use ("" otherwise); names the id."""
    conflict_id: str = ""
    """The task id in use ("" when none is)."""


_GUARDED_IDS = 32
"""Task ids of one submission checked for absence inside its transaction (two compares each:
task and result). etcd allows ~128 compares per txn; ids beyond these are not checked."""


async def submit(flow: Flow, stm: STM, canvas: canvas_pb2.Canvas, parent_id: str = "") -> Submitted:
    """Expands a validated canvas (ids assigned) into records; idempotent on its first task id.

    With a `parent_id` (the canvas was sent from inside that running task), the canvas's first
    tasks get it as their parent and its root id as theirs, and the parent records the
    canvas's result among its children, in this same transaction.
    """
    root_id = nodes.first_task_id(canvas)
    result_id = nodes.result_id(canvas)
    key = flow.keys.submit(root_id)
    # "Never created" guard: the same root id submitted twice runs once.
    if await stm.get(key) is not None:
        return Submitted(root_id=root_id, result_id=result_id, created=False)
    in_use = await _id_in_use(flow, stm, canvas)
    if in_use is not None:
        task_id, why = in_use
        return Submitted(root_id=root_id, result_id=result_id, created=False, conflict=why, conflict_id=task_id)
    workflow_root = root_id
    if parent_id:
        workflow_root = await _add_child(flow, stm, parent_id, nodes.result_ref(canvas)) or root_id
    await flow.write(stm, expand.expand(canvas, expand.Context(parent_id=parent_id, root_id=workflow_root)))
    # Pinned to the commit txn itself, with the compare above: if the plan spills to the
    # outbox, a retry (the client never heard back) still finds the guard and changes nothing,
    # instead of writing the plan again over members that already ran (invariant 2).
    stm.put(key, records_pb2.SubmitRecord(result_id=result_id).SerializeToString(), lease=flow.result_lease, head=True)
    return Submitted(root_id=root_id, result_id=result_id, created=True)


def _guarded_ids(canvas: canvas_pb2.Canvas) -> list[str]:
    """The canvas's first `_GUARDED_IDS` distinct task ids (the walk stops there: a 100,000-task
    group is not listed whole on every submission)."""
    ids: dict[str, None] = {}
    for task_id in nodes.all_task_ids(canvas):
        ids[task_id] = None
        if len(ids) == _GUARDED_IDS:
            break
    return list(ids)


def guarded_keys(keys: Keys, canvas: canvas_pb2.Canvas) -> list[bytes]:
    """The task and result keys `submit` reads to check a canvas's ids are free (its first
    `_GUARDED_IDS` ids). A caller that expects new ids seeds them as absent (no read: the
    compares check it, and a re-run reads them when one is in use)."""
    return [key for task_id in _guarded_ids(canvas) for key in (keys.task(task_id), keys.result(task_id))]


async def _id_in_use(flow: Flow, stm: STM, canvas: canvas_pb2.Canvas) -> tuple[str, str] | None:
    """A task id of the canvas that is in use and why, or None when they are all free.

    Client-chosen ids must not name a stored task or result: creating the task would overwrite
    it. Each read records a `create_revision == 0` compare, so a record created meanwhile
    fails the commit (invariant 1) and the re-run sees it. The keys are `guarded_keys`.
    """
    for task_id in _guarded_ids(canvas):
        if await stm.get(flow.keys.task(task_id)) is not None:
            return task_id, f"task id {task_id} is in use by a stored task"
        if await stm.get(flow.keys.result(task_id)) is not None:
            return task_id, f"task id {task_id} is in use by a stored result"
    return None


async def _add_child(flow: Flow, stm: STM, parent_id: str, child: results_pb2.ResultRef) -> str:
    """Records `child` among the children of task `parent_id`; returns the parent's root id.

    A running parent keeps it in its task record until its result is written (the result then
    lists it first, `Flow.put_result`); a parent already finished gets it added to its result.
    An unknown parent (forgotten, expired) records nothing and gives "".
    """
    task_key = flow.keys.task(parent_id)
    raw = await stm.get(task_key)
    if raw is not None:
        rec = records_pb2.TaskRecord.FromString(raw)
        rec.children.append(child)
        stm.put(task_key, rec.SerializeToString())
        return rec.root_id or parent_id
    result_key = flow.keys.result(parent_id)
    raw = await stm.get(result_key)
    if raw is None:
        return ""
    stored = records_pb2.ResultRecord.FromString(raw)
    stored.result.children.append(child)
    stm.put(result_key, stored.SerializeToString(), lease=flow.result_lease)
    return stored.result.root_id or parent_id


async def claim(flow: Flow, stm: STM, task_id: str, session_id: int, worker_id: str) -> records_pb2.TaskRecord | None:
    """Hands a ready task to a worker session; returns the claimed record, or None.

    The claim key lives under the session's lease: if the worker is lost, the key vanishes
    and the task is ready again (invariant 4, docs/invariants.md).
    """
    raw = await stm.get(flow.keys.task(task_id))
    if raw is None:
        return None  # completed or revoked meanwhile
    if await stm.get(flow.keys.claim(task_id)) is not None:
        return None  # another session holds it
    rec = records_pb2.TaskRecord.FromString(raw)
    unready = await _unready(flow, stm, rec)
    if unready == _NOT_YET:
        return None  # the dispatcher files it under its start time again
    if unready:
        # Expired or revoked: it ends REVOKED, as the revoke transition ends it.
        await _fail(flow, stm, rec, common_pb2.TASK_STATE_REVOKED, _revoked_failure(task_id, unready))
        return None
    lost = _lost(rec)
    if lost >= MAX_DELIVERIES:
        failure = common_pb2.TaskFailure(
            exc_type=WORKER_LOST_TYPE,
            message=f"task {task_id} was delivered {rec.deliveries} times and its worker was lost {lost} times",
            task_id=task_id,
            kind=common_pb2.FAILURE_KIND_WORKER_LOST,
        )
        await _fail(flow, stm, rec, common_pb2.TASK_STATE_FAILURE, failure)
        return None
    return await write_claim(flow, stm, rec, session_id=session_id, worker_id=worker_id)


_NOT_YET = "not yet"


async def _unready(flow: Flow, stm: STM, rec: records_pb2.TaskRecord) -> str:
    """Why ``rec`` may not be handed out now: "not yet" (its start time is ahead), "expired",
    "revoked" (a `revoked/<id>` marker exists), or "" when it may.

    The marker is read through the STM, so its absence is one of the transition's compares:
    a revocation that lands before the commit fails it (invariant 1).
    """
    if rec.not_before > flow.now:
        return _NOT_YET
    if rec.expires_at and flow.now > rec.expires_at:
        return "expired"
    if await stm.get(flow.keys.revoked(rec.id)) is not None:
        return "revoked"
    return ""


def _lost(rec: records_pb2.TaskRecord) -> int:
    """Lost deliveries of ``rec``, counting its last one if no report of it was accepted."""
    return rec.lost_deliveries + (1 if rec.deliveries > rec.settled_delivery else 0)


def _revoked_failure(task_id: str, reason: str) -> common_pb2.TaskFailure:
    return common_pb2.TaskFailure(
        exc_type=REVOKED_TYPE, message=reason, task_id=task_id, kind=common_pb2.FAILURE_KIND_REVOKED
    )


async def write_claim(
    flow: Flow, stm: STM, rec: records_pb2.TaskRecord, *, session_id: int, worker_id: str
) -> records_pb2.TaskRecord | None:
    """Buffers the writes that hand ``rec`` to a worker session; the only code that creates a
    claim record (`start` only marks an existing one started).

    `claim` calls it once its reads show the task ready; the dispatcher calls it for a task
    the same write set creates (so a chain step is one transaction). The caller has made sure
    the task is stored and unclaimed, through this STM's compares or because this STM creates
    it. A task whose start time is ahead, that has expired or is revoked is refused (None),
    the revocation marker read through this STM. Records the pair in ``flow.claimed``.

    Args:
        flow: The transition's flow.
        stm: The transition's STM.
        rec: The ready task record (left unchanged).
        session_id: The worker session, whose lease the claim lives under.
        worker_id: The worker's name, for inspection.

    Returns:
        The claimed task record (one more delivery), or None if it may not be handed out now.
    """
    if await _unready(flow, stm, rec):
        return None
    claimed = records_pb2.TaskRecord()
    claimed.CopyFrom(rec)
    # The previous delivery, if no report of it was accepted, was lost with its worker; only
    # those count toward WorkerLost. The delivery number itself keeps growing, so a late
    # report of an older delivery never matches the claim.
    claimed.lost_deliveries = _lost(rec)
    claimed.settled_delivery = rec.deliveries
    claimed.deliveries += 1
    # The task record counts deliveries, so a task whose workers keep vanishing ends WorkerLost.
    # Both puts are pinned to the commit txn: a task and its claim are never split by an outbox
    # spill (a claim left in a part lets another replica claim the task meanwhile).
    stm.put(flow.keys.task(rec.id), claimed.SerializeToString(), head=True)
    claim_rec = records_pb2.ClaimRecord(session_id=session_id, delivery=claimed.deliveries, worker_id=worker_id)
    # Under the session's lease: if the worker is lost the claim vanishes and the task is ready
    # again (invariant 4); its delivery number is what a report must match to complete it.
    stm.put(flow.keys.claim(rec.id), claim_rec.SerializeToString(), lease=session_id, head=True)
    flow.claimed.append((claimed, claim_rec))
    return claimed


@dataclass
class Report:
    """A worker's report about one delivery (exactly one outcome is set)."""

    task_id: str
    session_id: int
    delivery: int
    value: common_pb2.Payload | None = None
    failure: common_pb2.TaskFailure | None = None
    retry_countdown: float | None = None
    retry_max: int | None = None
    replacement: canvas_pb2.Canvas | None = None
    revoked: bool = False
    ignore_result_tasks: frozenset[str] = frozenset()
    """Task names the reporting worker declares ignore_result for (WorkerHello)."""
    traceparent: str = ""
    """The trace context of the span the task ran in (a chord body's span links to it)."""
    accept_pickle: bool = False
    """Whether the scheduler accepts pickled values (in a replacement canvas too)."""


async def finish(flow: Flow, stm: STM, report: Report) -> bool:
    """Applies a worker's report; returns False for a stale or duplicate report (ignored)."""
    raw = await stm.get(flow.keys.task(report.task_id))
    if raw is None:
        return False  # completed: a late duplicate is ignored (invariant 4, docs/invariants.md)
    claim_raw = await stm.get(flow.keys.claim(report.task_id))
    if claim_raw is None:
        return False  # the claim expired: the task is being redelivered
    held = records_pb2.ClaimRecord.FromString(claim_raw)
    # Ownership compare: only the session and delivery that hold the claim may complete it.
    if held.session_id != report.session_id or held.delivery != report.delivery:
        return False
    rec = records_pb2.TaskRecord.FromString(raw)
    if rec.task in report.ignore_result_tasks:
        rec.options.ignore_result = True  # declared on the task itself: no result, as in Celery
    if report.retry_countdown is not None:
        _retry(flow, stm, rec, report)
        return True
    stm.delete(flow.keys.claim(report.task_id))
    if report.replacement is not None:
        await _replace(flow, stm, rec, report.replacement, pickle=report.accept_pickle)
    elif report.failure is not None:
        revoked = report.failure.kind == common_pb2.FAILURE_KIND_REVOKED
        state = common_pb2.TASK_STATE_REVOKED if revoked else common_pb2.TASK_STATE_FAILURE
        await _fail(flow, stm, rec, state, report.failure)
    else:
        value = report.value or nodes.encode_json(None)
        await _succeed(flow, stm, rec, value, revoked=report.revoked, traceparent=report.traceparent)
    return True


async def start(flow: Flow, stm: STM, task_id: str, session_id: int, delivery: int) -> bool:
    """Records that the worker holding the claim started the task (state STARTED)."""
    if await stm.get(flow.keys.task(task_id)) is None:
        return False
    claim_raw = await stm.get(flow.keys.claim(task_id))
    if claim_raw is None:
        return False
    held = records_pb2.ClaimRecord.FromString(claim_raw)
    if held.session_id != session_id or held.delivery != delivery:
        return False
    held.started = True
    stm.put(flow.keys.claim(task_id), held.SerializeToString(), lease=session_id)
    return True


async def revoke(flow: Flow, stm: STM, task_id: str, reason: str = "revoked") -> int | None:
    """Revokes a task that no worker holds; returns the holding session if one does, else None.

    A task that is not (or no longer) stored is left alone: its revocation marker, written by
    the caller, stops it when it is created.
    """
    raw = await stm.get(flow.keys.task(task_id))
    if raw is None:
        return None
    claim_raw = await stm.get(flow.keys.claim(task_id))
    if claim_raw is not None:
        return records_pb2.ClaimRecord.FromString(claim_raw).session_id
    rec = records_pb2.TaskRecord.FromString(raw)
    await _fail(flow, stm, rec, common_pb2.TASK_STATE_REVOKED, _revoked_failure(task_id, reason))
    return None


async def _succeed(
    flow: Flow,
    stm: STM,
    rec: records_pb2.TaskRecord,
    value: common_pb2.Payload,
    *,
    revoked: bool,
    traceparent: str = "",
) -> None:
    stm.delete(flow.keys.task(rec.id))
    origin = Origin(task_id=rec.id, root_id=rec.root_id)
    children = []
    if revoked:
        # Revoked while running without terminate: its own result stands, nothing follows.
        failure = common_pb2.TaskFailure(
            exc_type=REVOKED_TYPE, message="revoked", task_id=rec.id, kind=common_pb2.FAILURE_KIND_REVOKED
        )
        await flow.fail_downstream(stm, common_pb2.TASK_STATE_REVOKED, failure, rec.continuation, origin)
    else:
        children = await flow.deliver(stm, value, rec.continuation, origin, traceparent)
        for callback in expand.callbacks(rec.options.link, rec.id):
            context = expand.Context(rec.id, rec.root_id)
            await flow.write(stm, expand.expand(callback, context, (nodes.decode_json(value),)))
            children.append(nodes.result_ref(callback))
    if not rec.options.ignore_result:  # ignore_result: no result at all, the state stays PENDING
        flow.put_result(stm, rec.id, common_pb2.TASK_STATE_SUCCESS, value=value, rec=rec, children=children)


async def _fail(flow: Flow, stm: STM, rec: records_pb2.TaskRecord, state: int, failure: common_pb2.TaskFailure) -> None:
    stm.delete(flow.keys.task(rec.id))
    stm.delete(flow.keys.claim(rec.id))
    if not failure.task_id:
        failure.task_id = rec.id
    if not rec.options.ignore_result:  # Celery stores no error either (store_errors_even_if_ignored off)
        flow.put_result(stm, rec.id, state, failure=failure, rec=rec)
    origin = Origin(task_id=rec.id, root_id=rec.root_id)
    if state == common_pb2.TASK_STATE_FAILURE and rec.options.link_error:
        # Errbacks run exactly once per failed task that carries them (never for a retry).
        failed = failed_request(rec)
        for errback in rec.options.link_error:
            await flow.write(stm, expand.errback(errback, failure, failed, rec.root_id))
    await flow.fail_downstream(stm, state, failure, rec.continuation, origin, callbacks=rec.options.link)


def _retry(flow: Flow, stm: STM, rec: records_pb2.TaskRecord, report: Report) -> None:
    rec.retries += 1
    rec.settled_delivery = report.delivery  # reported: this delivery was not lost
    rec.options.retries = rec.retries
    rec.not_before = flow.now + max(report.retry_countdown or 0.0, 0.0)
    if report.retry_max is not None:
        rec.options.max_retries = report.retry_max
    # The retry is durable: the record keeps its new start time (invariant 6, docs/invariants.md).
    stm.put(flow.keys.task(rec.id), rec.SerializeToString())
    stm.delete(flow.keys.claim(rec.id))
    if not rec.options.ignore_result:
        flow.put_result(stm, rec.id, common_pb2.TASK_STATE_RETRY, failure=report.failure, rec=rec)


async def _replace(
    flow: Flow, stm: STM, rec: records_pb2.TaskRecord, replacement: canvas_pb2.Canvas, *, pickle: bool
) -> None:
    canvas = canvas_pb2.Canvas()
    canvas.CopyFrom(replacement)
    violations = nodes.validate(canvas, pickle=pickle)
    if violations:
        # A replacement that cannot run fails the task, naming why (Celery raises when replacing).
        failure = common_pb2.TaskFailure(
            exc_type=IMPROPERLY_CONFIGURED_TYPE,
            message=f"task {rec.id} cannot be replaced with this canvas: " + "; ".join(d for _, d in violations),
            task_id=rec.id,
            kind=common_pb2.FAILURE_KIND_RAISED,
        )
        await _fail(flow, stm, rec, common_pb2.TASK_STATE_FAILURE, failure)
        return
    nodes.ensure_ids(canvas)
    stm.delete(flow.keys.task(rec.id))
    # The replacement takes the task's place: its parent, its workflow and what follows it.
    here = expand.Context(parent_id=rec.parent_id, root_id=rec.root_id, continuation=rec.continuation)
    await flow.write(stm, expand.replacement(canvas, rec, here))


@dataclass(frozen=True)
class Added:
    """The outcome of `add_to_chord`: where the member went, or why it could not be added."""

    group_id: str = ""
    group_index: int = 0
    result_id: str = ""
    created: bool = False
    refused: str = ""
    """Why the task is not a member of a chord ("" when the member was added)."""


async def add_to_chord(flow: Flow, stm: STM, task_id: str, canvas: canvas_pb2.Canvas) -> Added:
    """Adds a member to the chord header that running task `task_id` belongs to.

    The join's size grows in the same transaction that creates the member (invariant 3: the
    body cannot start before the new member's value is in, and the size compare of every
    completer sees it). The member is appended: its value comes after the header's others.
    Idempotent on the member's root id, as submission is. The canvas is validated, ids assigned.
    """
    raw = await stm.get(flow.keys.task(task_id))
    if raw is None:
        return Added(refused=f"task {task_id} is not running (finished, or never created)")
    rec = records_pb2.TaskRecord.FromString(raw)
    cont = rec.continuation
    if cont.remaining or not cont.HasField("slot"):
        return Added(refused=f"task {task_id} is not a member of a chord header")
    join_key = flow.keys.join(cont.slot.join_id)
    join_raw = await stm.get(join_key)
    if join_raw is None:
        return Added(refused=f"task {task_id} is not a member of a chord header")
    join = records_pb2.JoinRecord.FromString(join_raw)
    if not join.failed and not join.HasField("body"):
        return Added(refused=f"task {task_id} is a member of a group, not of a chord header")
    result_id = nodes.result_id(canvas)
    guard = flow.keys.submit(nodes.first_task_id(canvas))
    if await stm.get(guard) is not None:
        return Added(group_id=join.id, result_id=result_id, created=False)
    index = join.size
    if not join.failed:  # a failed chord's later members still run, but count for nothing
        join.size += 1
        stm.put(join_key, join.SerializeToString())
    await flow.write(stm, expand.added_member(canvas, join.id, index, parent_id=rec.id, root_id=rec.root_id))
    stm.put(guard, records_pb2.SubmitRecord(result_id=result_id).SerializeToString(), lease=flow.result_lease)
    return Added(group_id=join.id, group_index=index, result_id=result_id, created=True)
