"""How plans, values and failures move through the store: writing, delivery, joins and cascades.

What a canvas starts is decided by `expand` (pure); `Flow.write` is the one place such a plan
becomes store writes, for submission, the next chain step, a chord body, links, errbacks and
replacements alike. Every function here takes the STM of the transition it is part of and only
reads and writes through it, so whatever follows a completion commits in the same transaction
as the completion itself (invariant 2,
docs/invariants.md). Nothing here sends a message or touches process state.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass, field, replace

from google.protobuf import timestamp_pb2

from motet.v1 import canvas_pb2, common_pb2, results_pb2, worker_pb2
from motet_server.config import DEFAULT_QUEUE
from motet_server.scheduler import expand, nodes
from motet_server.store.keys import Keys
from motet_server.store.stm import STM
from motet_server.v1 import records_pb2

log = logging.getLogger(__name__)

__all__ = ["Flow", "Origin", "chord_error", "failed_request", "request_context"]


@dataclass(frozen=True)
class Origin:
    """Where a value or failure comes from: the task that produced it and its workflow."""

    task_id: str
    root_id: str


@dataclass
class Flow:
    """Canvas semantics over an STM.

    Attributes:
        keys: The keyspace.
        result_lease: Returns the lease that results (and other expiring keys) are written under.
        now: Returns the current Unix time; fixed per transition so a re-run is deterministic.
    """

    keys: Keys
    result_lease: int = 0
    now: float = field(default_factory=time.time)
    created: list[records_pb2.TaskRecord] = field(default_factory=list)
    """Task records this attempt created (the dispatcher may hand them off in the same txn)."""
    claimed: list[tuple[records_pb2.TaskRecord, records_pb2.ClaimRecord]] = field(default_factory=list)
    """Tasks this attempt claimed for a worker session, with their claims."""
    joins_fired: list[str] = field(default_factory=list)
    """Joins this attempt completed (their body / links started): counted once it commits."""
    ready: list[results_pb2.TaskResult] = field(default_factory=list)
    """The results this attempt wrote (any ready state): what a canvas waits for."""

    def mark(self) -> tuple[int, int, int, int]:
        """Where the collected lists stand, to take one transition's additions back (`undo`)."""
        return len(self.created), len(self.claimed), len(self.joins_fired), len(self.ready)

    def undo(self, mark: tuple[int, int, int, int]) -> None:
        """Forgets what was collected since `mark` (its transition was taken out of the batch)."""
        created, claimed, fired, ready = mark
        del self.created[created:], self.claimed[claimed:], self.joins_fired[fired:], self.ready[ready:]

    # ------------------------------------------------------------------ plans

    async def write(self, stm: STM, plan: expand.Plan) -> None:
        """Writes a plan into the transition's STM: the one place task and join records are created.

        Records are written in plan order, so a join is stored before (or with) its members
        even when the write set spills into outbox parts. A slot fill runs the join's counter
        transition (`_fill_slot`), which writes what a completed join starts through here too.
        """
        for record in plan.records:
            if isinstance(record, expand.NewTask):
                self._put_task(stm, record)
            elif isinstance(record, expand.NewJoin):
                self._put_join(stm, record)
            elif isinstance(record, expand.NewSegment):
                stm.put(self.keys.chain(record.id), record.segment.SerializeToString())
            else:
                origin = Origin(record.parent_id, record.root_id)
                await self._fill_slot(stm, record.slot, record.value, origin, record.traceparent)

    def _put_task(self, stm: STM, task: expand.NewTask) -> None:
        rec = records_pb2.TaskRecord(
            id=task.id,
            task=task.task,
            args=task.args,
            kwargs=task.kwargs,
            call=task.call,
            options=task.options,
            continuation=task.continuation,
            not_before=self._start_time(task.options),
            expires_at=self._expiry(task.options),
            created_at=self.now,
            retries=task.options.retries,
            parent_id=task.parent_id,
            root_id=task.root_id,
            links=task.links,
        )
        if task.errback_failure is not None:
            rec.errback_failure.CopyFrom(task.errback_failure)
            rec.failed_task_id = task.failed_task_id
        if task.errback_request is not None:
            rec.errback_request.CopyFrom(task.errback_request)
        stm.put(self.keys.task(rec.id), rec.SerializeToString())
        self.created.append(rec)

    def _put_join(self, stm: STM, join: expand.NewJoin) -> None:
        rec = records_pb2.JoinRecord(
            id=join.id,
            size=join.size,
            continuation=join.continuation,
            parent_id=join.parent_id,
            root_id=join.root_id,
            link=join.link,
            link_error=join.link_error,
            inherited=join.inherited,
            result_id=join.result_id,
            relay=join.relay,
        )
        if join.body is not None:
            rec.body.CopyFrom(join.body)
        stm.put(self.keys.join(join.id), rec.SerializeToString())

    # ------------------------------------------------------------------ delivery

    async def deliver(
        self,
        stm: STM,
        value: common_pb2.Payload,
        cont: records_pb2.Continuation,
        origin: Origin,
        traceparent: str = "",
    ) -> list[results_pb2.ResultRef]:
        """Sends a task's value to what follows it; returns the children it started."""
        cont = await self.loaded(stm, cont)
        context = expand.Context(origin.task_id, origin.root_id, cont)
        await self.write(stm, expand.follow(value, context, traceparent))
        return [nodes.result_ref(cont.remaining[0])] if cont.remaining else []

    async def _fill_slot(
        self, stm: STM, slot: records_pb2.JoinSlot, value: common_pb2.Payload, origin: Origin, traceparent: str = ""
    ) -> None:
        join_key = self.keys.join(slot.join_id)
        raw = await stm.get(join_key)
        if raw is None:
            return  # the join completed or was forgotten; a late duplicate changes nothing
        join = records_pb2.JoinRecord.FromString(raw)
        if join.failed:
            return  # a member already failed the join; the others still run but count for nothing
        slot_key = self.keys.join_slot(slot.join_id, slot.index)
        if await stm.get(slot_key) is not None:
            return  # a redelivered member is not counted twice
        stored = records_pb2.SlotValue(encoding=value.encoding, data=value.data, traceparent=traceparent)
        stm.put(slot_key, stored.SerializeToString())  # reads as a Payload too (fields 1, 2)
        join.done += 1
        if join.done < join.size:
            stm.put(join_key, join.SerializeToString())
            return
        values, links = await self._slot_values(stm, join)
        if not join.HasField("body"):  # the join's value goes on down its chain: load the next steps
            join.continuation.CopyFrom(await self.loaded(stm, join.continuation))
        stm.delete(join_key)
        stm.delete_prefix(self.keys.join_slot_prefix(slot.join_id))
        if join.result_id:
            # A replaced task's result: its children are what follows it (as a task's are).
            children = [nodes.result_ref(link) for link in join.link]
            if not join.HasField("body") and join.continuation.remaining:
                children.insert(0, nodes.result_ref(join.continuation.remaining[0]))
            self.put_result(
                stm,
                join.result_id,
                common_pb2.TASK_STATE_SUCCESS,
                value=nodes.encode_json(expand.join_value(join, values)),
                root_id=join.root_id,
                parent_id=join.parent_id,
                children=children,
            )
        # Links and the body (or the join's continuation) commit with the last member's value.
        self.joins_fired.append(join.id)
        after = expand.after_join(join, values, origin.task_id, join.root_id or origin.root_id)
        if links:  # what the join starts links its span to every traced member's
            after = expand.Plan(
                [replace(r, links=tuple(links)) if isinstance(r, expand.NewTask) else r for r in after.records]
            )
        await self.write(stm, after)

    async def loaded(self, stm: STM, cont: records_pb2.Continuation) -> records_pb2.Continuation:
        """`cont` with its next stored segment read in (and deleted) once only the step about to
        start is left inline, so what follows that step is never just a segment id."""
        if len(cont.remaining) > 1 or not cont.tail:
            return cont
        key = self.keys.chain(cont.tail)
        raw = await stm.get(key)
        if raw is None:  # deleted by hand: nothing can start the steps it held
            log.error("chain segment %s is missing: the chain ends before its steps", cont.tail)
        segment = records_pb2.ChainSegment.FromString(raw or b"")
        stm.delete(key)
        out = records_pb2.Continuation(remaining=[*cont.remaining, *segment.remaining], tail=segment.tail)
        if cont.HasField("slot"):
            out.slot.CopyFrom(cont.slot)
        return out

    async def _stored_steps(self, stm: STM, tail: str) -> list[canvas_pb2.Canvas]:
        """Every step in the segments from `tail` on, deleting them (the chain will not run them)."""
        steps: list[canvas_pb2.Canvas] = []
        while tail:
            key = self.keys.chain(tail)
            raw = await stm.get(key)
            if raw is None:
                log.error("chain segment %s is missing: its steps are not marked failed", tail)
                break
            segment = records_pb2.ChainSegment.FromString(raw)
            stm.delete(key)
            steps.extend(segment.remaining)
            tail = segment.tail
        return steps

    async def _slot_values(self, stm: STM, join: records_pb2.JoinRecord) -> tuple[list[object], list[str]]:
        """The members' values in order, and the trace contexts of the traced ones."""
        stored = {key: val for key, val in await stm.get_prefix(self.keys.join_slot_prefix(join.id))}
        values: list[object] = []
        links: list[str] = []
        for index in range(join.size):
            key = self.keys.join_slot(join.id, index)
            # Slots written earlier in this same transaction are only visible through get().
            raw = stored.get(key)
            if raw is None:
                raw = await stm.get(key)
            slot = records_pb2.SlotValue.FromString(raw or b"")
            values.append(nodes.decode_json(common_pb2.Payload(encoding=slot.encoding, data=slot.data)))
            if slot.traceparent:
                links.append(slot.traceparent)
        return values, links

    # ------------------------------------------------------------------ failure

    async def fail_downstream(
        self,
        stm: STM,
        state: int,
        failure: common_pb2.TaskFailure,
        cont: records_pb2.Continuation,
        origin: Origin,
        *,
        callbacks: Sequence[canvas_pb2.Canvas] = (),
    ) -> None:
        """Marks everything after a failed (or revoked) task or join as failed too, so nothing
        hangs: the rest of its chain, what its join waits for, and its callbacks, which will
        never run."""
        for callback in callbacks:
            for task_id in nodes.all_task_ids(callback):
                self.put_result(stm, task_id, state, failure=failure, root_id=origin.root_id)
        for node in [*cont.remaining, *await self._stored_steps(stm, cont.tail)]:
            for task_id in nodes.all_task_ids(node):
                self.put_result(stm, task_id, state, failure=failure, root_id=origin.root_id)
        if cont.HasField("slot"):
            await self._fail_join(stm, state, failure, cont.slot.join_id, origin)

    async def _fail_join(
        self, stm: STM, state: int, failure: common_pb2.TaskFailure, join_id: str, origin: Origin
    ) -> None:
        join_key = self.keys.join(join_id)
        raw = await stm.get(join_key)
        if raw is None:
            return
        join = records_pb2.JoinRecord.FromString(raw)
        if join.failed:
            return  # the join already failed: its errbacks ran once, downstream is already failed
        # Keep a tombstone so later members know the join is over; it expires with the results.
        stm.put(
            join_key,
            records_pb2.JoinRecord(id=join.id, size=join.size, failed=True).SerializeToString(),
            lease=self.result_lease,
        )
        stm.delete_prefix(self.keys.join_slot_prefix(join_id))
        err = failure
        if join.HasField("body") and state == common_pb2.TASK_STATE_FAILURE:
            err = chord_error(failure)
        if join.result_id:
            self.put_result(stm, join.result_id, state, failure=err, root_id=join.root_id, parent_id=join.parent_id)
        if join.HasField("body"):
            for task_id in nodes.all_task_ids(join.body):
                self.put_result(stm, task_id, state, failure=err, root_id=join.root_id)
        if state == common_pb2.TASK_STATE_FAILURE and join.link_error:
            failed = _join_request(join, origin)
            for errback in join.link_error:
                await self.write(stm, expand.errback(errback, err, failed, origin.root_id))
        # A group's links (group.link) never run either: they fail with the group.
        await self.fail_downstream(stm, state, err, join.continuation, origin, callbacks=join.link)

    # ------------------------------------------------------------------ results

    def put_result(
        self,
        stm: STM,
        task_id: str,
        state: int,
        *,
        value: common_pb2.Payload | None = None,
        failure: common_pb2.TaskFailure | None = None,
        rec: records_pb2.TaskRecord | None = None,
        children: list[results_pb2.ResultRef] | None = None,
        root_id: str = "",
        parent_id: str = "",
    ) -> None:
        """Writes a ready result under the results lease.

        With `rec`, the result takes the task's place in the graph (parent, root, group) and
        lists first what the task sent while it ran (`rec.children`), then `children`.
        """
        started = [*(rec.children if rec is not None else ()), *(children or ())]
        result = results_pb2.TaskResult(task_id=task_id, state=state, children=started)  # type: ignore[arg-type]
        if value is not None:
            result.value.CopyFrom(value)
        if failure is not None:
            result.failure.CopyFrom(failure)
        if rec is not None:
            result.task = rec.task
            result.parent_id = rec.parent_id
            result.root_id = rec.root_id
            result.group_id = rec.options.group_id
            result.retries = rec.retries
        else:
            result.root_id = root_id
            result.parent_id = parent_id
        result.date_done.CopyFrom(_timestamp(self.now))
        self.ready.append(result)
        stm.put(
            self.keys.result(task_id),
            records_pb2.ResultRecord(result=result).SerializeToString(),
            lease=self.result_lease,
        )

    # ------------------------------------------------------------------ time

    def _start_time(self, opts: canvas_pb2.Options) -> float:
        start = self.now
        if opts.HasField("countdown"):
            start = self.now + opts.countdown
        if opts.HasField("eta"):
            start = max(start, opts.eta.seconds + opts.eta.nanos / 1e9)
        return start

    def _expiry(self, opts: canvas_pb2.Options) -> float:
        if opts.HasField("expires_at"):
            return opts.expires_at.seconds + opts.expires_at.nanos / 1e9
        if opts.HasField("expires"):
            return self.now + opts.expires
        return 0.0


def chord_error(failure: common_pb2.TaskFailure) -> common_pb2.TaskFailure:
    """The ChordError a chord body gets when a header member failed (Celery's wording)."""
    if failure.kind == common_pb2.FAILURE_KIND_UPSTREAM:
        return failure  # already a chord's error (a failed inner chord): keep naming its member
    short = failure.exc_type.rsplit(".", 1)[-1]
    return common_pb2.TaskFailure(
        exc_type="motet.exceptions.ChordError",
        message=f"Dependency {failure.task_id} raised {short}({failure.message!r})",
        traceback=failure.traceback,
        task_id=failure.task_id,
        exc_args=nodes.encode_json([f"Dependency {failure.task_id} raised {short}({failure.message!r})"]),
        kind=common_pb2.FAILURE_KIND_UPSTREAM,
    )


def request_context(rec: records_pb2.TaskRecord) -> worker_pb2.RequestContext:
    """What the task of `rec` sees as its request (Celery's ``task.request``), but for its id."""
    opts = rec.options
    request = worker_pb2.RequestContext(
        root_id=rec.root_id,
        parent_id=rec.parent_id,
        group_id=opts.group_id,
        group_index=opts.group_index,
        retries=rec.retries,
        queue=opts.queue or DEFAULT_QUEUE,
        priority=opts.priority,
        time_limit=opts.time_limit,
        soft_time_limit=opts.soft_time_limit,
        failed_task_id=rec.failed_task_id,
        options=opts,
    )
    if opts.HasField("max_retries"):
        request.max_retries = opts.max_retries
    request.links.extend(rec.links)
    return request


def failed_request(rec: records_pb2.TaskRecord) -> worker_pb2.FailedRequest:
    """The request of a failed task, as its errbacks receive it."""
    return worker_pb2.FailedRequest(
        task_id=rec.id, task=rec.task, args=rec.args, kwargs=rec.kwargs, request=request_context(rec)
    )


def _join_request(join: records_pb2.JoinRecord, origin: Origin) -> worker_pb2.FailedRequest:
    """The request a failed join's errbacks receive: for a chord, its body's, which did not run
    (Celery's stand-in request: the body's id, name and arguments); for a relay, the replaced task's."""
    if not join.HasField("body"):
        task_id = join.result_id or join.id
        return worker_pb2.FailedRequest(
            task_id=task_id,
            request=worker_pb2.RequestContext(root_id=join.root_id or origin.root_id, parent_id=join.parent_id),
        )
    out = worker_pb2.FailedRequest(task_id=nodes.result_id(join.body))
    opts = nodes.options_of(join.body)
    out.request.root_id = join.root_id or origin.root_id
    out.request.group_id = opts.group_id
    out.request.group_index = opts.group_index
    if nodes.kind_of(join.body) == "signature":
        out.task = join.body.signature.task
        out.args.CopyFrom(join.body.signature.args)
        out.kwargs.CopyFrom(join.body.signature.kwargs)
    return out


def _timestamp(now: float) -> timestamp_pb2.Timestamp:
    ts = timestamp_pb2.Timestamp()
    ts.FromNanoseconds(int(now * 1e9))
    return ts
