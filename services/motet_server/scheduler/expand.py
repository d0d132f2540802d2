"""Canvas expansion: what a canvas node starts, as a plan of records. Pure: no store, no clock.

Expanding a node answers one question: given the node, the value it receives and the context
it runs in (its parent task, its workflow's root id, the options an enclosing group or chord
passes down, and the continuation its value goes to), which records must exist for it to run?
The answer is a `Plan`, in expansion order:

- `NewTask`: a task record to create (a signature, or a map / starmap over items);
- `NewJoin`: a join record to create (a group or chord header waiting for its members);
- `SlotFill`: a value that is ready now for a join slot (the ``[]`` of an empty group a join waits for).

A chain starts its first step and carries the rest in the continuation (invariant 5); what a
continuation holds is expanded when the value arrives (`follow`), and a chord body when its join
completes (`after_join`). `Flow.write` is the one place a plan becomes store writes, so
submission, the next chain step, a chord body, links, errbacks and replacements all follow the
same rules here and the same writer there.

Options travel down as in docs/celery-differences.md, point 5: a chain's queue, priority, time
limits and max_retries reach every step that does not set its own, its countdown / eta /
expires delay its first step only; a group or chord header passes the same options plus
countdown / eta / expires to every member, and a chord's body inherits the chain set.

A group directly inside a group or a chord header is spliced into the outer list in submission
order (`nodes.spliced`): ``group(group(a, b), c)`` has the value ``[a, b, c]``; a chain ending
in a group is one member, so it still gives a nested list.

Callbacks and errbacks go where Celery 5.7 puts them: a chain's links go to its last step and
its errbacks to every step; a group's errbacks to every member (one call per failing member,
docs/celery-differences.md, point 3) while its links run once with the list (point 4); a
chord's links and errbacks are its body's, and the body's errbacks also run once if the header
fails. Membership is Celery's too: a chain in a group answers for the group
through its last step, a chord through its body.

Records share protobuf messages with the canvas they came from: read them, never modify them.
"""

from __future__ import annotations

import uuid
from collections.abc import MutableSequence, Sequence
from dataclasses import dataclass, field

from google.protobuf.message import Message

from motet.v1 import canvas_pb2, common_pb2, worker_pb2
from motet_server.config import CHAIN_INLINE_STEPS
from motet_server.scheduler import nodes
from motet_server.v1 import records_pb2

__all__ = [
    "CHAIN_INHERITED",
    "GROUP_INHERITED",
    "Context",
    "NewJoin",
    "NewTask",
    "Plan",
    "Record",
    "SlotFill",
    "added_member",
    "after_join",
    "callbacks",
    "errback",
    "expand",
    "follow",
    "join_value",
    "relay_id",
    "replacement",
]

# Options a chain passes to every member that does not set its own (differs from Celery, which
# applies them to the first message only: docs/celery-differences.md, point 5).
CHAIN_INHERITED = ("queue", "priority", "time_limit", "soft_time_limit", "max_retries", "retries")
# A group / chord header additionally delays and expires every member alike.
GROUP_INHERITED = CHAIN_INHERITED + ("countdown", "eta", "expires", "expires_at")
# What a chain's own timing applies to: its first step, which delays (or expires) its start.
_CHAIN_START = ("countdown", "eta", "expires", "expires_at")


@dataclass(frozen=True)
class Context:
    """Where a node runs.

    Attributes:
        parent_id: The task whose value starts the node ("" at submission).
        root_id: The workflow's root id ("" makes a task its own root).
        continuation: Where the node's value goes (remaining chain steps, a join slot).
        inherited: Options an enclosing group or chord passes to the node, or None.
    """

    parent_id: str
    root_id: str
    continuation: records_pb2.Continuation = field(default_factory=records_pb2.Continuation)
    inherited: canvas_pb2.Options | None = None


@dataclass(frozen=True)
class NewTask:
    """A task record to create; the writer adds its times (start, expiry, creation)."""

    id: str
    task: str
    args: common_pb2.Payload
    """The signature's args, after the received value (unless immutable)."""
    kwargs: common_pb2.Payload
    options: canvas_pb2.Options
    """The task's own options after inheritance, with root_id and parent_id filled in."""
    continuation: records_pb2.Continuation
    parent_id: str
    root_id: str
    call: worker_pb2.CallKind.ValueType = worker_pb2.CALL_KIND_CALL
    """How the worker calls it: plainly, map / starmap over items, or as an errback."""
    errback_failure: common_pb2.TaskFailure | None = None
    """For an errback: the failure it handles."""
    failed_task_id: str = ""
    """For an errback: the task that failed."""
    errback_request: worker_pb2.FailedRequest | None = None
    links: tuple[str, ...] = ()
    """Trace contexts its span links to (a chord body: the header members' runs)."""
    """For an errback: the request of the task that failed (what a new-style errback receives)."""


@dataclass(frozen=True)
class NewJoin:
    """A join record to create: it collects `size` member values, then starts what follows."""

    id: str
    size: int
    continuation: records_pb2.Continuation
    """Where the join's value (or its body's) goes."""
    parent_id: str
    root_id: str
    body: canvas_pb2.Canvas | None
    """A chord's body, started with the member values in member order; None for a group."""
    link: Sequence[canvas_pb2.Canvas]
    """Callbacks started once with the list of member values."""
    link_error: Sequence[canvas_pb2.Canvas]
    """Errbacks run once if the join fails (the body's own, else the group's / chord's)."""
    inherited: canvas_pb2.Options
    """The options the body inherits from the chord."""
    result_id: str = ""
    """Also stores the join's value as this task's result (a replaced task, see `replacement`)."""
    relay: bool = False
    """One member whose value is the join's value as it is (not a one-element list)."""


@dataclass(frozen=True)
class SlotFill:
    """A value that is ready at expansion time for a join slot."""

    slot: records_pb2.JoinSlot
    value: common_pb2.Payload
    parent_id: str
    root_id: str
    traceparent: str = ""
    """The trace context of the span that produced the value (the join's body links to it)."""


@dataclass(frozen=True)
class NewSegment:
    """Steps of a long chain to store once (`Continuation.tail` names it), read when reached."""

    id: str
    segment: records_pb2.ChainSegment


Record = NewTask | NewJoin | SlotFill | NewSegment


@dataclass
class Plan:
    """The records a node starts, in expansion order: a join before its members, members in
    submission order, depth first."""

    records: list[Record] = field(default_factory=list)

    @property
    def tasks(self) -> list[NewTask]:
        """The tasks to create, in order."""
        return [r for r in self.records if isinstance(r, NewTask)]

    @property
    def joins(self) -> list[NewJoin]:
        """The joins to create, in order."""
        return [r for r in self.records if isinstance(r, NewJoin)]

    @property
    def fills(self) -> list[SlotFill]:
        """The join slots to fill now, in order."""
        return [r for r in self.records if isinstance(r, SlotFill)]


# --------------------------------------------------------------------------- entry points


def expand(node: canvas_pb2.Canvas, ctx: Context, partial: tuple[object, ...] = ()) -> Plan:
    """What `node` starts in `ctx` when it receives `partial` as its first arguments.

    Args:
        node: A validated canvas node with every id assigned (`nodes.ensure_ids`).
        ctx: Where it runs.
        partial: The value it receives, as ``(value,)`` (its parent's result), or ``()``.

    Returns:
        The records to write; `node` itself is left unchanged.
    """
    out: list[Record] = []
    _node(node, partial, ctx, out)
    return Plan(out)


def follow(value: common_pb2.Payload, ctx: Context, traceparent: str = "") -> Plan:
    """What a value starts when it reaches ``ctx.continuation``.

    The next chain step receives it (the steps stored in a continuation already carry what
    they inherited, so ``ctx.inherited`` is not used); a join slot gets a `SlotFill`; an empty
    continuation starts nothing.
    """
    out: list[Record] = []
    _follow(value, ctx, out, traceparent)
    return Plan(out)


def after_join(join: records_pb2.JoinRecord, values: list[object], parent_id: str, root_id: str) -> Plan:
    """What a completed join starts: its links, then its body, or else its continuation.

    Args:
        join: The join whose last member value just arrived.
        values: The member values in member order.
        parent_id: The task whose value completed the join.
        root_id: The workflow's root id.
    """
    out: list[Record] = []
    value = join_value(join, values)
    if join.relay and join.result_id:
        parent_id = join.result_id  # what follows a replaced task was sent by it, as in Celery
    for link in join.link:
        _node(link, (value,), Context(parent_id, root_id), out)
    if join.HasField("body"):
        _node(join.body, (value,), Context(parent_id, root_id, join.continuation, join.inherited), out)
    else:
        _follow(nodes.encode_json(value), Context(parent_id, root_id, join.continuation), out)
    return Plan(out)


def join_value(join: records_pb2.JoinRecord, values: list[object]) -> object:
    """The value of a completed join: the list of member values, or a relay's one value."""
    return values[0] if join.relay else values


def callbacks(links: Sequence[canvas_pb2.Canvas], task_id: str) -> list[canvas_pb2.Canvas]:
    """The canvases a task's callbacks start when it succeeds, each to be given its value.

    As in Celery: one callback is started on its own; several are bundled into one group (its
    id derived from the task's, so a re-run of the transition makes the same one), except
    callbacks that are groups themselves, which start separately. The task's result lists
    each canvas returned as a child (so several callbacks are one GroupResult child).
    """
    if len(links) <= 1:
        return list(links)
    groups = [link for link in links if nodes.kind_of(link) == "group"]
    rest = [link for link in links if nodes.kind_of(link) != "group"]
    out = list(groups)
    if rest:
        bundle_id = str(uuid.uuid5(uuid.NAMESPACE_URL, f"motet:callbacks:{task_id}"))
        out.append(canvas_pb2.Canvas(group=canvas_pb2.Group(tasks=rest, options=canvas_pb2.Options(task_id=bundle_id))))
    return out


def relay_id(task_id: str) -> str:
    """The id of the relay join of a replaced task (see `replacement`)."""
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"motet:replaced:{task_id}"))


def replacement(
    canvas: canvas_pb2.Canvas,
    task: records_pb2.TaskRecord,
    ctx: Context,
) -> Plan:
    """What a task's ``replace(canvas)`` starts: the canvas in the task's place (Celery's rules).

    The replacement takes over the task's id (its value is the task's result), its group /
    chord membership and the rest of its chain (``ctx.continuation``), and its callbacks and
    errbacks, attached as Celery attaches them to the replacement: to a task itself, to a
    chain's last step / every step, to a chord's body. When the value is one task's (a task,
    a map, a chain or chord ending in one) that task gets the replaced id and membership.
    Otherwise (a group, chunks, or a chain / chord ending in one) a relay join of one member
    stands in the task's place, as Celery turns a group into a chord with an accumulate body:
    it stores the value (the list) under the task's id, runs the task's callbacks once with it
    and its errbacks once if the replacement fails, and passes the value on.

    Args:
        canvas: The replacement, every id assigned.
        task: The replaced task's record (id, membership, callbacks, errbacks).
        ctx: The replaced task's place: its parent, root and continuation.
    """
    node = _copy(canvas)
    out: list[Record] = []
    value_task = _value_task(node)
    if value_task is not None:
        value_task.task_id = task.id
        if task.options.group_id:
            value_task.group_id = task.options.group_id
            value_task.group_index = task.options.group_index
        opts = nodes.options_of(node)
        _extend_new(opts.link, task.options.link)
        _extend_new(opts.link_error, task.options.link_error)
        _node(node, (), ctx, out)
        return Plan(out)
    relay = relay_id(task.id)
    out.append(
        NewJoin(
            id=relay,
            size=1,
            continuation=ctx.continuation,
            parent_id=ctx.parent_id,
            root_id=ctx.root_id,
            body=None,
            link=list(task.options.link),
            link_error=list(task.options.link_error),
            inherited=canvas_pb2.Options(),
            result_id=task.id,
            relay=True,
        )
    )
    slot = records_pb2.Continuation(slot=records_pb2.JoinSlot(join_id=relay, index=0))
    _node(node, (), Context(ctx.parent_id, ctx.root_id, slot), out)
    return Plan(out)


def added_member(canvas: canvas_pb2.Canvas, join_id: str, index: int, parent_id: str, root_id: str) -> Plan:
    """What `add_to_chord` starts: a new member of join `join_id` at position `index`.

    The caller enlarges the join in the same transaction (so the body waits for it).

    Args:
        canvas: The new member, every id assigned.
        join_id: The chord header's join.
        index: The member's position (the join's size before it was added).
        parent_id: The task that added it (Celery: the member is sent from that task).
        root_id: The workflow's root id.
    """
    out: list[Record] = []
    slot = records_pb2.Continuation(slot=records_pb2.JoinSlot(join_id=join_id, index=index))
    _node(canvas, (), Context(parent_id, root_id, slot), out, member=(join_id, index))
    return Plan(out)


def errback(
    node: canvas_pb2.Canvas, failure: common_pb2.TaskFailure, failed: worker_pb2.FailedRequest, root_id: str
) -> Plan:
    """The errback task one failure starts (signature errbacks only, as in Celery).

    A mutable errback is called in Celery's style, which the worker chooses from the
    function's arity (new: ``(request, exc, traceback, *args)``, old: ``(failed_id, *args)``);
    an immutable one gets only its own arguments, so it is a plain call. Its id is derived
    from the failed task's and its own: an errback several tasks carry (a group's, given to
    every member) runs once per failing task, each under an id of its own.

    Args:
        node: The errback.
        failure: The failure it handles.
        failed: The request of the task that failed (for a chord whose header failed, the
            body's id stands for it).
        root_id: The workflow's root id.
    """
    if nodes.kind_of(node) != "signature":
        return Plan()
    sig = canvas_pb2.Signature()
    sig.CopyFrom(node.signature)
    sig.options.task_id = str(uuid.uuid5(uuid.NAMESPACE_URL, f"motet:errback:{failed.task_id}:{sig.options.task_id}"))
    ctx = Context(failed.task_id, root_id)
    if sig.options.immutable:
        return Plan([_task(sig, (), ctx)])
    task = _task(
        sig,
        (),
        ctx,
        call=worker_pb2.CALL_KIND_ERRBACK,
        failure=failure,
        failed_task_id=failed.task_id,
        failed_request=failed,
    )
    return Plan([task])


# --------------------------------------------------------------------------- expansion


def _node(
    node: canvas_pb2.Canvas,
    partial: tuple[object, ...],
    ctx: Context,
    out: list[Record],
    *,
    member: tuple[str, int] | None = None,
) -> None:
    """Appends what `node` starts; `member` is (join id, index) for a join member.

    The one dispatch over canvas node kinds.
    """
    kind = nodes.kind_of(node)
    if ctx.inherited is not None or member is not None:
        node = _copy(node)
        opts = nodes.options_of(node)
        if ctx.inherited is not None:
            _merge(opts, ctx.inherited, GROUP_INHERITED)
        if member is not None:
            _set_membership(node, *member)
    if kind == "signature":
        out.append(_task(node.signature, partial, ctx))
    elif kind == "map":
        out.append(_map_task(node.map, ctx))
    elif kind == "chain":
        _chain(node.chain, partial, ctx, out)
    elif kind == "group":
        g = node.group
        _join(g.options.task_id, g.tasks, None, g.options, partial, ctx, out)
    elif kind == "chord":
        c = node.chord
        _join(c.options.group_id, c.header, c.body, c.options, partial, ctx, out)
    elif kind == "chunks":
        ch = node.chunks
        _join(ch.options.task_id, _chunk_members(ch), None, ch.options, partial, ctx, out)


def _task(
    sig: canvas_pb2.Signature,
    partial: tuple[object, ...],
    ctx: Context,
    *,
    call: worker_pb2.CallKind.ValueType = worker_pb2.CALL_KIND_CALL,
    failure: common_pb2.TaskFailure | None = None,
    failed_task_id: str = "",
    failed_request: worker_pb2.FailedRequest | None = None,
) -> NewTask:
    opts = canvas_pb2.Options()
    opts.CopyFrom(sig.options)
    args = sig.args
    if partial and not opts.immutable:
        args = nodes.encode_json(list(partial) + list(nodes.decode_json(sig.args, [])))
    root_id = ctx.root_id or opts.task_id
    opts.root_id = root_id
    opts.parent_id = ctx.parent_id
    return NewTask(
        id=opts.task_id,
        task=sig.task,
        args=args,
        kwargs=sig.kwargs,
        options=opts,
        continuation=ctx.continuation,
        parent_id=ctx.parent_id,
        root_id=root_id,
        call=call,
        errback_failure=failure,
        failed_task_id=failed_task_id,
        errback_request=failed_request,
    )


def _map_task(m: canvas_pb2.Map, ctx: Context) -> NewTask:
    # One task maps over every item; the mapped signature keeps its own partial args.
    items = nodes.decode_json(m.items, [])
    sig = canvas_pb2.Signature(task=m.task.task, kwargs=m.task.kwargs, options=m.options)
    own = nodes.decode_json(m.task.args, [])
    sig.args.CopyFrom(nodes.encode_json([items, *own]))
    call = worker_pb2.CALL_KIND_STARMAP if m.starmap else worker_pb2.CALL_KIND_MAP
    return _task(sig, (), ctx, call=call)


def _chain(chain: canvas_pb2.Chain, partial: tuple[object, ...], ctx: Context, out: list[Record]) -> None:
    steps = [_copy(t) for t in chain.tasks]
    for step in steps:
        opts = nodes.options_of(step)
        _merge(opts, chain.options, CHAIN_INHERITED)
        # Celery: a chain's errbacks go to every step (it stops at its first failure, so they
        # run once), its callbacks to the last step.
        _extend_new(opts.link_error, chain.options.link_error)
    _extend_new(nodes.options_of(steps[-1]).link, chain.options.link)
    first = steps[0]
    _merge(nodes.options_of(first), chain.options, _CHAIN_START)
    # The segments the continuation names are written before the task that reads them.
    rest = _continuation([*steps[1:], *ctx.continuation.remaining], ctx.continuation, out)
    _node(first, partial, Context(ctx.parent_id, ctx.root_id, rest), out)


def _join(
    join_id: str,
    members: Sequence[canvas_pb2.Canvas],
    body: canvas_pb2.Canvas | None,
    opts: canvas_pb2.Options,
    partial: tuple[object, ...],
    ctx: Context,
    out: list[Record],
) -> None:
    cont = ctx.continuation
    # A group directly inside is spliced into this list, in submission order (Celery 2.2).
    members = _splice(members)
    member_errbacks: Sequence[canvas_pb2.Canvas] = ()
    if body is not None:
        # A chord's callbacks and errbacks are its body's (Celery 5.7); the body's errbacks
        # also run once if the header fails (the join runs them).
        body = _copy(body)
        body_opts = nodes.options_of(body)
        _extend_new(body_opts.link, opts.link)
        _extend_new(body_opts.link_error, opts.link_error)
        links: list[canvas_pb2.Canvas] = []
        errbacks = _value_errbacks(body)
    else:
        # A group's callbacks run once with the list (docs/celery-differences.md, point 4); its errbacks go to
        # every member, so they run once per failing member (Celery; docs/celery-differences.md, point 3).
        links, errbacks = list(opts.link), []
        member_errbacks = opts.link_error
    # A group whose value nothing waits for needs no join: its members simply run.
    needs_join = body is not None or bool(cont.remaining) or cont.HasField("slot") or bool(links)
    if not members:
        # An empty group's value is [] at once; an empty chord header calls the body with [].
        if body is not None:
            _node(body, ([],), Context(ctx.parent_id, ctx.root_id, cont, _body_options(opts)), out)
        else:
            _follow(nodes.encode_json([]), Context(ctx.parent_id, ctx.root_id, cont), out)
            for link in links:
                _node(link, ([],), Context(ctx.parent_id, ctx.root_id), out)
        return
    if needs_join:
        out.append(
            NewJoin(
                id=join_id,
                size=len(members),
                continuation=cont,
                parent_id=ctx.parent_id,
                root_id=ctx.root_id,
                body=body,
                link=links,
                link_error=errbacks,
                inherited=_body_options(opts),
            )
        )
    # Members inherit the group's options; its callbacks belong to the join.
    member_opts = canvas_pb2.Options()
    member_opts.CopyFrom(opts)
    del member_opts.link[:]
    del member_opts.link_error[:]
    for index, member in enumerate(members):
        slot = records_pb2.Continuation()
        if needs_join:
            slot.slot.join_id = join_id
            slot.slot.index = index
        if member_errbacks:
            member = _copy(member)
            _extend_new(nodes.options_of(member).link_error, member_errbacks)
        _node(member, partial, Context(ctx.parent_id, ctx.root_id, slot, member_opts), out, member=(join_id, index))


def _splice(members: Sequence[canvas_pb2.Canvas]) -> Sequence[canvas_pb2.Canvas]:
    """The members with every group directly among them replaced by its own members, in order.

    Which groups splice is `nodes.spliced`; a spliced group's options still reach its members
    (those that set none), as they would had it stayed a group; its id names nothing any more.
    """
    if not any(nodes.spliced(m) for m in members):
        return members
    out: list[canvas_pb2.Canvas] = []
    for member in members:
        if not nodes.spliced(member):
            out.append(member)
            continue
        inner = member.group.options
        for m in _splice(member.group.tasks):
            m = _copy(m)
            _merge(nodes.options_of(m), inner, GROUP_INHERITED)
            out.append(m)
    return out


def _follow(value: common_pb2.Payload, ctx: Context, out: list[Record], traceparent: str = "") -> None:
    cont = ctx.continuation
    if cont.remaining:
        if len(cont.remaining) == 1 and cont.tail:
            raise ValueError(f"chain segment {cont.tail} was not loaded (Flow.loaded) before its steps are reached")
        rest = _continuation(cont.remaining[1:], cont, out)
        _node(cont.remaining[0], (nodes.decode_json(value),), Context(ctx.parent_id, ctx.root_id, rest), out)
    elif cont.HasField("slot"):
        out.append(
            SlotFill(slot=cont.slot, value=value, parent_id=ctx.parent_id, root_id=ctx.root_id, traceparent=traceparent)
        )


def _chunk_members(chunks: canvas_pb2.Chunks) -> list[canvas_pb2.Canvas]:
    # Chunks is a group of starmap tasks over consecutive slices of the items.
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


# --------------------------------------------------------------------------- membership, callbacks


def _set_membership(node: canvas_pb2.Canvas, group_id: str, index: int) -> None:
    """Makes `node` member `index` of group `group_id`, as Celery freezes members: a chain
    through its last step, a chord through its body (its own group_id names its header)."""
    kind = nodes.kind_of(node)
    if kind == "chain":
        if node.chain.tasks:
            _set_membership(node.chain.tasks[-1], group_id, index)
    elif kind == "chord":
        _set_membership(node.chord.body, group_id, index)
    elif kind is not None:
        opts = nodes.options_of(node)
        opts.group_id, opts.group_index = group_id, index


def _value_task(node: canvas_pb2.Canvas) -> canvas_pb2.Options | None:
    """The options of the task whose value is the node's value, or None when no single task's is."""
    kind = nodes.kind_of(node)
    if kind == "signature":
        return node.signature.options
    if kind == "map":
        return node.map.options
    if kind == "chain" and node.chain.tasks:
        return _value_task(node.chain.tasks[-1])
    if kind == "chord":
        return _value_task(node.chord.body)
    return None


def _value_errbacks(node: canvas_pb2.Canvas) -> list[canvas_pb2.Canvas]:
    """The errbacks that run when `node` fails before it starts (a chord body whose header failed).

    Its own, and for a chain its first step's (Celery 5.7 sends a chord's chain body as
    ``chord(header, first), rest``), for a chord its body's.
    """
    out = list(nodes.options_of(node).link_error)
    kind = nodes.kind_of(node)
    inner: list[canvas_pb2.Canvas] = []
    if kind == "chain" and node.chain.tasks:
        inner = _value_errbacks(node.chain.tasks[0])
    elif kind == "chord":
        inner = _value_errbacks(node.chord.body)
    out += [e for e in inner if e not in out]
    return out


def _extend_new(target: MutableSequence[canvas_pb2.Canvas], more: Sequence[canvas_pb2.Canvas]) -> None:
    """Appends each of `more` not already in `target` (Celery does not link an equal signature twice)."""
    for item in more:
        if item not in target:
            target.append(item)


# --------------------------------------------------------------------------- options


def _continuation(
    remaining: Sequence[canvas_pb2.Canvas], outer: records_pb2.Continuation, out: list[Record]
) -> records_pb2.Continuation:
    """`remaining` steps, then the outer continuation's stored steps (`tail`) and join slot.

    At most CHAIN_INLINE_STEPS steps stay inline; the others go to new ChainSegments (appended
    to `out`, each named by the first task id of its first step, so a re-run of the transition
    writes the same keys), the last of them leading on to the outer tail.
    """
    cont = records_pb2.Continuation(remaining=remaining[:CHAIN_INLINE_STEPS], tail=outer.tail if remaining else "")
    if outer.HasField("slot"):
        cont.slot.CopyFrom(outer.slot)
    extra = remaining[CHAIN_INLINE_STEPS:]
    if extra:
        segments = []
        for start in range(0, len(extra), CHAIN_INLINE_STEPS):
            steps = extra[start : start + CHAIN_INLINE_STEPS]
            segments.append((nodes.first_task_id(steps[0]), records_pb2.ChainSegment(remaining=steps)))
        tail = outer.tail
        for segment_id, segment in reversed(segments):
            segment.tail = tail
            tail = segment_id
        out.extend(NewSegment(segment_id, segment) for segment_id, segment in segments)
        cont.tail = tail
    return cont


def _body_options(opts: canvas_pb2.Options) -> canvas_pb2.Options:
    out = canvas_pb2.Options()
    _merge(out, opts, CHAIN_INHERITED)
    return out


def _merge(opts: canvas_pb2.Options, parent: canvas_pb2.Options, fields: tuple[str, ...]) -> None:
    """Sets each of `fields` that `opts` leaves unset to the parent's value, if the parent sets it."""
    for name in fields:
        if _is_set(parent, name) and not _is_set(opts, name):
            value = getattr(parent, name)
            if isinstance(value, Message):
                getattr(opts, name).CopyFrom(value)
            else:
                setattr(opts, name, value)


def _is_set(opts: canvas_pb2.Options, name: str) -> bool:
    # Fields are chosen by name from the descriptor, so the literal field names of the stubs
    # do not apply; ListFields names exactly the set ones, with or without presence.
    if _has_presence(name):
        return any(field.name == name for field, _ in opts.ListFields())
    return bool(getattr(opts, name))


def _has_presence(name: str) -> bool:
    return canvas_pb2.Options.DESCRIPTOR.fields_by_name[name].has_presence


def _copy(node: canvas_pb2.Canvas) -> canvas_pb2.Canvas:
    out = canvas_pb2.Canvas()
    out.CopyFrom(node)
    return out
