"""How values and failures move through a canvas: activation, delivery, joins and cascades.

Every function here takes the STM of the transition it is part of and only reads and writes
through it, so whatever follows a completion commits in the same transaction as the
completion itself (invariant 2, docs/invariants.md). Nothing here sends a message or touches
process state.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from google.protobuf import timestamp_pb2

from motet.v1 import canvas_pb2, common_pb2, results_pb2, worker_pb2
from motet_server.scheduler import nodes
from motet_server.store.keys import Keys
from motet_server.store.stm import STM
from motet_server.v1 import records_pb2

__all__ = ["Flow", "Origin"]

_STATE = common_pb2.TaskState


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

    # ----------------------------------------------------------------- activation

    async def activate(
        self,
        stm: STM,
        node: canvas_pb2.Canvas,
        prepend: list[object] | None,
        cont: records_pb2.Continuation,
        origin: Origin,
        *,
        inherited: canvas_pb2.Options | None = None,
    ) -> None:
        """Creates what runs for `node` once it receives `prepend` as partial arguments.

        Args:
            stm: The transition's STM.
            node: The canvas node to start.
            prepend: Partial arguments from the parent (None at submission).
            cont: Where the node's value goes.
            origin: The parent task (parent_id) and the workflow's root id.
            inherited: Options the enclosing chain / group passes down.
        """
        if inherited is not None:
            node = _copy(node)
            nodes.inherit(node, inherited, fields=nodes.GROUP_INHERITED)
            if inherited.link_error and not nodes.options_of(node).link_error:
                nodes.options_of(node).link_error.extend(inherited.link_error)
        kind = node.WhichOneof("kind")
        if kind == "signature":
            self._create_task(stm, node.signature, prepend, cont, origin)
        elif kind == "map":
            self._create_map(stm, node.map, cont, origin)
        elif kind == "chain":
            await self._activate_chain(stm, node.chain, prepend, cont, origin)
        elif kind == "group":
            g = node.group
            await self.activate_join(
                stm, g.options.task_id, list(g.tasks), None, g.options, prepend, cont, origin
            )
        elif kind == "chord":
            c = node.chord
            await self.activate_join(
                stm, c.options.group_id, list(c.header), c.body, c.options, prepend, cont, origin
            )
        elif kind == "chunks":
            await self.activate_join(
                stm, node.chunks.options.task_id, _chunk_nodes(node.chunks), None,
                node.chunks.options, prepend, cont, origin,
            )

    def _create_task(
        self,
        stm: STM,
        sig: canvas_pb2.Signature,
        prepend: list[object] | None,
        cont: records_pb2.Continuation,
        origin: Origin,
        *,
        call: int = worker_pb2.CALL_KIND_CALL,
        errback: tuple[common_pb2.TaskFailure, str] | None = None,
    ) -> None:
        opts = sig.options
        args = sig.args
        if prepend and not opts.immutable:
            args = nodes.encode_json(list(prepend) + list(nodes.decode_json(sig.args, [])))  # type: ignore[call-overload]
        rec = records_pb2.TaskRecord(
            id=opts.task_id,
            task=sig.task,
            args=args,
            kwargs=sig.kwargs,
            call=call,  # type: ignore[arg-type]
            options=opts,
            continuation=cont,
            not_before=self._start_time(opts),
            expires_at=self._expiry(opts),
            created_at=self.now,
            retries=opts.retries,
            parent_id=origin.task_id,
            root_id=origin.root_id or opts.task_id,
        )
        rec.options.root_id = rec.root_id
        rec.options.parent_id = origin.task_id
        if errback is not None:
            rec.errback_failure.CopyFrom(errback[0])
            rec.failed_task_id = errback[1]
        stm.put(self.keys.task(rec.id), rec.SerializeToString())
        self.created.append(rec)

    def _create_map(
        self, stm: STM, m: canvas_pb2.Map, cont: records_pb2.Continuation, origin: Origin
    ) -> None:
        items = nodes.decode_json(m.items, [])
        sig = canvas_pb2.Signature(task=m.task.task, kwargs=m.task.kwargs, options=m.options)
        own = nodes.decode_json(m.task.args, [])
        sig.args.CopyFrom(nodes.encode_json([items, *own]))  # type: ignore[misc]
        call = worker_pb2.CALL_KIND_STARMAP if m.starmap else worker_pb2.CALL_KIND_MAP
        self._create_task(stm, sig, None, cont, origin, call=call)

    async def _activate_chain(
        self,
        stm: STM,
        chain: canvas_pb2.Chain,
        prepend: list[object] | None,
        cont: records_pb2.Continuation,
        origin: Origin,
    ) -> None:
        steps = [_copy(t) for t in chain.tasks]
        for step in steps:
            # The chain's options reach every step that does not set its own.
            nodes.inherit(step, chain.options)
        first = steps[0]
        # countdown / eta / expires on the chain delay (or expire) its start only.
        nodes.inherit(first, chain.options, fields=("countdown", "eta", "expires", "expires_at"))
        rest = records_pb2.Continuation(remaining=[*steps[1:], *cont.remaining])
        if cont.HasField("slot"):
            rest.slot.CopyFrom(cont.slot)
        await self.activate(stm, first, prepend, rest, origin)

    async def activate_join(
        self,
        stm: STM,
        join_id: str,
        members: list[canvas_pb2.Canvas],
        body: canvas_pb2.Canvas | None,
        opts: canvas_pb2.Options,
        prepend: list[object] | None,
        cont: records_pb2.Continuation,
        origin: Origin,
        result_id: str = "",
    ) -> None:
        needs_join = (
            body is not None
            or bool(cont.remaining)
            or cont.HasField("slot")
            or bool(opts.link)
            or bool(opts.link_error)
            or bool(result_id)
        )
        if not members:
            # An empty group's value is [] at once; an empty chord header calls the body with [].
            if body is not None:
                await self.activate(stm, body, [[]], cont, origin, inherited=_body_options(opts))
            else:
                await self._deliver_value(stm, [], cont, origin)
                for link in opts.link:
                    await self.activate(stm, link, [[]], records_pb2.Continuation(), origin)
            return
        if needs_join:
            join = records_pb2.JoinRecord(
                id=join_id,
                size=len(members),
                continuation=cont,
                parent_id=origin.task_id,
                root_id=origin.root_id,
                link=opts.link,
                link_error=(body and nodes.options_of(body).link_error) or opts.link_error,
                inherited=_body_options(opts),
                result_id=result_id,
            )
            if body is not None:
                join.body.CopyFrom(body)
            stm.put(self.keys.join(join_id), join.SerializeToString())
        member_opts = canvas_pb2.Options()
        member_opts.CopyFrom(opts)
        del member_opts.link[:]
        del member_opts.link_error[:]
        for index, member in enumerate(members):
            child = _copy(member)
            if child.WhichOneof("kind") != "chord":  # a chord's group_id names its own header
                child_opts = nodes.options_of(child)
                child_opts.group_id = join_id
                child_opts.group_index = index
            member_cont = records_pb2.Continuation()
            if needs_join:
                member_cont.slot.join_id = join_id
                member_cont.slot.index = index
            await self.activate(stm, child, prepend, member_cont, origin, inherited=member_opts)

    # ------------------------------------------------------------------ delivery

    async def deliver(
        self, stm: STM, value: common_pb2.Payload, cont: records_pb2.Continuation, origin: Origin
    ) -> list[results_pb2.ResultRef]:
        """Sends a task's value to what follows it; returns the children it started."""
        if cont.remaining:
            nxt = cont.remaining[0]
            rest = records_pb2.Continuation(remaining=cont.remaining[1:])
            if cont.HasField("slot"):
                rest.slot.CopyFrom(cont.slot)
            await self.activate(stm, nxt, [nodes.decode_json(value)], rest, origin)
            return [nodes.result_ref(nxt)]
        if cont.HasField("slot"):
            await self._fill_slot(stm, cont.slot, value, origin)
        return []

    async def _deliver_value(
        self, stm: STM, value: object, cont: records_pb2.Continuation, origin: Origin
    ) -> None:
        await self.deliver(stm, nodes.encode_json(value), cont, origin)

    async def _fill_slot(
        self, stm: STM, slot: records_pb2.JoinSlot, value: common_pb2.Payload, origin: Origin
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
        stm.put(slot_key, value.SerializeToString())
        join.done += 1
        if join.done < join.size:
            stm.put(join_key, join.SerializeToString())
            return
        values = await self._slot_values(stm, join)
        stm.delete(join_key)
        stm.delete_prefix(self.keys.join_slot_prefix(slot.join_id))
        join_origin = Origin(task_id=origin.task_id, root_id=join.root_id or origin.root_id)
        if join.result_id:
            self.put_result(stm, join.result_id, _STATE.TASK_STATE_SUCCESS, value=nodes.encode_json(values), root_id=join.root_id)
        for link in join.link:
            await self.activate(stm, link, [values], records_pb2.Continuation(), join_origin)
        if join.HasField("body"):
            await self.activate(stm, join.body, [values], join.continuation, join_origin, inherited=join.inherited)
        else:
            await self._deliver_value(stm, values, join.continuation, join_origin)

    async def _slot_values(self, stm: STM, join: records_pb2.JoinRecord) -> list[object]:
        stored = {
            key: val for key, val in await stm.get_prefix(self.keys.join_slot_prefix(join.id))
        }
        values: list[object] = []
        for index in range(join.size):
            key = self.keys.join_slot(join.id, index)
            # Slots written earlier in this same transaction are only visible through get().
            raw = stored.get(key)
            if raw is None:
                raw = await stm.get(key)
            values.append(nodes.decode_json(common_pb2.Payload.FromString(raw or b"")))
        return values

    # ------------------------------------------------------------------ failure

    async def fail_downstream(
        self,
        stm: STM,
        state: int,
        failure: common_pb2.TaskFailure,
        cont: records_pb2.Continuation,
        origin: Origin,
    ) -> None:
        """Marks everything after a failed (or revoked) task as failed too, so nothing hangs."""
        for node in cont.remaining:
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
        if join.HasField("body") and state == _STATE.TASK_STATE_FAILURE:
            err = chord_error(failure)
        if join.result_id:
            self.put_result(stm, join.result_id, state, failure=err, root_id=join.root_id)
        if join.HasField("body"):
            for task_id in nodes.all_task_ids(join.body):
                self.put_result(stm, task_id, state, failure=err, root_id=join.root_id)
        if state == _STATE.TASK_STATE_FAILURE:
            failed_id = nodes.result_id(join.body) if join.HasField("body") else join.id
            for errback in join.link_error:
                self.create_errback(stm, errback, err, failed_id, origin)
        await self.fail_downstream(stm, state, err, join.continuation, origin)

    def create_errback(
        self,
        stm: STM,
        errback: canvas_pb2.Canvas,
        failure: common_pb2.TaskFailure,
        failed_task_id: str,
        origin: Origin,
    ) -> None:
        """Creates one errback task for one failure (signature errbacks only, as in Celery)."""
        if errback.WhichOneof("kind") != "signature":
            return
        self._create_task(
            stm, errback.signature, None, records_pb2.Continuation(), Origin(failed_task_id, origin.root_id),
            call=worker_pb2.CALL_KIND_ERRBACK, errback=(failure, failed_task_id),
        )

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
    ) -> None:
        """Writes a ready result under the results lease."""
        result = results_pb2.TaskResult(task_id=task_id, state=state, children=children or [])  # type: ignore[arg-type]
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
        result.date_done.CopyFrom(_timestamp(self.now))
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
    if failure.exc_type == "motet.exceptions.ChordError":
        return failure
    short = failure.exc_type.rsplit(".", 1)[-1]
    return common_pb2.TaskFailure(
        exc_type="motet.exceptions.ChordError",
        message=f"Dependency {failure.task_id} raised {short}({failure.message!r})",
        traceback=failure.traceback,
        task_id=failure.task_id,
        exc_args=nodes.encode_json([f"Dependency {failure.task_id} raised {short}({failure.message!r})"]),
    )


def _copy(node: canvas_pb2.Canvas) -> canvas_pb2.Canvas:
    out = canvas_pb2.Canvas()
    out.CopyFrom(node)
    return out


def _body_options(opts: canvas_pb2.Options) -> canvas_pb2.Options:
    out = canvas_pb2.Options()
    nodes.merge_options(out, opts, nodes.CHAIN_INHERITED)
    return out


def _chunk_nodes(chunks: canvas_pb2.Chunks) -> list[canvas_pb2.Canvas]:
    items = nodes.decode_json(chunks.items, [])
    assert isinstance(items, list)
    size = max(chunks.size, 1)
    out = []
    for index, start in enumerate(range(0, len(items), size)):
        opts = canvas_pb2.Options(task_id=chunks.member_ids[index])
        out.append(
            canvas_pb2.Canvas(
                map=canvas_pb2.Map(
                    task=chunks.task,
                    items=nodes.encode_json(items[start : start + size]),
                    starmap=True,
                    options=opts,
                )
            )
        )
    return out


def _timestamp(now: float) -> timestamp_pb2.Timestamp:
    ts = timestamp_pb2.Timestamp()
    ts.FromNanoseconds(int(now * 1e9))
    return ts
