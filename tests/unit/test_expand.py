"""Canvas expansion (pure logic): which records a canvas starts, before anything is written."""

from __future__ import annotations

import json
from collections.abc import Iterable

from motet.v1 import canvas_pb2, common_pb2, worker_pb2
from motet_server.scheduler import expand, nodes
from motet_server.scheduler.expand import Context, NewJoin, NewTask, SlotFill
from motet_server.v1 import records_pb2
from tests.support.canvases import chain, chord, group, payload, sig

AT_SUBMIT = Context(parent_id="", root_id="root")


def _args(task: NewTask) -> object:
    return json.loads(task.args.data)


def _ids(canvases: Iterable[canvas_pb2.Canvas]) -> list[str]:
    return [nodes.options_of(c).task_id for c in canvases]


def _slot(cont: records_pb2.Continuation) -> tuple[str, int] | None:
    return (cont.slot.join_id, cont.slot.index) if cont.HasField("slot") else None


def _shape(plan: expand.Plan) -> list[tuple[str, str, object]]:
    """(kind, id, where its value goes) per record, in plan order."""
    out: list[tuple[str, str, object]] = []
    for r in plan.records:
        if isinstance(r, NewTask):
            out.append(("task", r.id, _slot(r.continuation)))
        elif isinstance(r, NewJoin):
            out.append(("join", r.id, _slot(r.continuation)))
        else:
            out.append(("fill", r.slot.join_id, r.slot.index))
    return out


def _with(node: canvas_pb2.Canvas, **opts: object) -> canvas_pb2.Canvas:
    nodes.options_of(node).MergeFrom(canvas_pb2.Options(**opts))
    return node


def test_a_signature_is_one_task_rooted_at_the_workflow() -> None:
    plan = expand.expand(sig("add", 2, 2, task_id="t"), AT_SUBMIT)
    (task,) = plan.records
    assert isinstance(task, NewTask)
    assert (task.id, task.task, _args(task), task.call) == ("t", "add", [2, 2], worker_pb2.CALL_KIND_CALL)
    assert (task.parent_id, task.root_id) == ("", "root")
    assert (task.options.root_id, task.options.parent_id) == ("root", "")
    assert task.continuation == records_pb2.Continuation()


def test_the_received_value_is_prepended_unless_the_signature_is_immutable() -> None:
    ctx = Context(parent_id="p", root_id="root")
    (task,) = expand.expand(sig("add", 4, task_id="t"), ctx, partial=(10,)).tasks
    assert _args(task) == [10, 4]
    assert task.parent_id == "p"
    (frozen,) = expand.expand(sig("add", 4, task_id="t", immutable=True), ctx, partial=(10,)).tasks
    assert _args(frozen) == [4]


def test_a_chain_starts_its_first_step_and_carries_the_rest() -> None:
    plan = expand.expand(chain(sig("a", 1, task_id="a"), sig("b", task_id="b"), sig("c", task_id="c")), AT_SUBMIT)
    (first,) = plan.records
    assert isinstance(first, NewTask)
    assert first.id == "a" and _args(first) == [1]
    assert _ids(first.continuation.remaining) == ["b", "c"]
    assert not first.continuation.HasField("slot")
    # The next step receives the first step's value.
    (second,) = expand.follow(payload(2), Context("a", "root", first.continuation)).records
    assert isinstance(second, NewTask)
    assert (second.id, _args(second), second.parent_id) == ("b", [2], "a")
    assert _ids(second.continuation.remaining) == ["c"]


def test_chain_options_reach_every_step_that_does_not_set_its_own_and_errbacks_every_step() -> None:
    log = sig("log", task_id="log")
    steps = chain(sig("a", task_id="a"), sig("b", task_id="b", queue="mine", link_error=[sig("own", task_id="own")]))
    _with(steps, queue="q", priority=5, time_limit=3.0, countdown=10.0, link_error=[log])
    (first,) = expand.expand(steps, AT_SUBMIT).tasks
    assert (first.options.queue, first.options.priority, first.options.time_limit) == ("q", 5, 3.0)
    assert first.options.countdown == 10.0  # the chain's countdown delays its start
    assert _ids(first.options.link_error) == ["log"]
    (rest,) = first.continuation.remaining
    later = rest.signature.options
    assert (later.queue, later.priority, later.time_limit) == ("mine", 5, 3.0)
    assert not later.HasField("countdown")  # ... and only its start
    assert _ids(later.link_error) == ["own", "log"]  # Celery: the chain's errbacks go to every step


def test_a_group_nothing_waits_for_is_its_members_alone() -> None:
    plan = expand.expand(group(sig("a", task_id="a"), sig("b", task_id="b"), group_id="g"), AT_SUBMIT)
    assert _shape(plan) == [("task", "a", None), ("task", "b", None)]
    assert [(t.options.group_id, t.options.group_index) for t in plan.tasks] == [("g", 0), ("g", 1)]


def test_group_options_reach_every_member_its_callbacks_go_to_the_join_its_errbacks_to_members() -> None:
    g = group(sig("a", task_id="a"), sig("b", task_id="b", queue="own"), group_id="g")
    _with(g, queue="gq", countdown=5.0, link=[sig("after", task_id="after")], link_error=[sig("log", task_id="log")])
    plan = expand.expand(g, AT_SUBMIT)
    assert _shape(plan) == [("join", "g", None), ("task", "a", ("g", 0)), ("task", "b", ("g", 1))]
    (join,) = plan.joins
    assert (join.size, join.body, _ids(join.link), _ids(join.link_error)) == (2, None, ["after"], [])
    a, b = plan.tasks
    assert (a.options.queue, b.options.queue) == ("gq", "own")
    assert a.options.countdown == b.options.countdown == 5.0
    assert not a.options.link  # the group's callback runs once, for the whole group ...
    assert _ids(a.options.link_error) == _ids(b.options.link_error) == ["log"]  # ... its errback per member


def test_a_chord_creates_its_join_then_its_header_and_keeps_the_body_for_later() -> None:
    body = sig("tsum", task_id="body", link_error=[sig("log", task_id="log")])
    plan = expand.expand(chord([sig("a", 1, task_id="a"), sig("b", 2, task_id="b")], body, group_id="g"), AT_SUBMIT)
    assert _shape(plan) == [("join", "g", None), ("task", "a", ("g", 0)), ("task", "b", ("g", 1))]
    (join,) = plan.joins
    assert join.size == 2 and join.body is not None
    assert join.body.signature.options.task_id == "body"
    assert _ids(join.link_error) == ["log"]  # the body's errback runs once per chord failure
    assert (join.parent_id, join.root_id) == ("", "root")


def test_a_completed_chord_starts_its_body_with_the_values_in_header_order() -> None:
    c = chord([sig("a", task_id="a"), sig("b", task_id="b")], sig("tsum", 0, task_id="body"), group_id="g")
    _with(c, queue="cq", countdown=4.0)
    (planned,) = expand.expand(c, AT_SUBMIT).joins
    join = records_pb2.JoinRecord(
        id=planned.id, size=planned.size, body=planned.body, inherited=planned.inherited, root_id="root"
    )
    (body,) = expand.after_join(join, [3, 7], parent_id="b", root_id="root").tasks
    assert (body.id, _args(body), body.parent_id) == ("body", [[3, 7], 0], "b")
    assert body.options.queue == "cq"  # the body inherits the chord's queue ...
    assert not body.options.HasField("countdown")  # ... not its header's delay


def test_a_nested_group_in_a_chord_header_is_spliced_in_submission_order() -> None:
    header = [
        group(sig("a", task_id="a"), sig("b", task_id="b"), group_id="inner1"),
        sig("c", task_id="c"),
        chord([sig("d", task_id="d")], sig("e", task_id="e"), group_id="inner2"),
        group(sig("f", task_id="f"), group(sig("g", task_id="g"), group_id="inner4"), group_id="inner3"),
    ]
    plan = expand.expand(chord(header, sig("tsum", task_id="body"), group_id="g"), AT_SUBMIT)
    # Groups give their members to the header (Celery's splice, without its reversal); a nested
    # chord stays one member whose value is its body's.
    assert _shape(plan) == [
        ("join", "g", None),
        ("task", "a", ("g", 0)),
        ("task", "b", ("g", 1)),
        ("task", "c", ("g", 2)),
        ("join", "inner2", ("g", 3)),
        ("task", "d", ("inner2", 0)),
        ("task", "f", ("g", 4)),
        ("task", "g", ("g", 5)),
    ]
    assert plan.joins[0].size == 6
    # A nested chord's tasks belong to its own header, not to the outer one.
    assert [t.options.group_id for t in plan.tasks] == ["g", "g", "g", "inner2", "g", "g"]
    assert [t.options.group_index for t in plan.tasks] == [0, 1, 2, 0, 4, 5]


def test_a_group_in_a_group_is_spliced_and_its_options_still_reach_its_members() -> None:
    inner = _with(group(sig("a", task_id="a"), sig("b", task_id="b", queue="own"), group_id="inner"), queue="iq")
    outer = _with(group(inner, sig("c", task_id="c"), group_id="g"), queue="oq", priority=4)
    plan = expand.expand(chain(outer, sig("tsum", task_id="s")), AT_SUBMIT)
    assert _shape(plan) == [
        ("join", "g", None),
        ("task", "a", ("g", 0)),
        ("task", "b", ("g", 1)),
        ("task", "c", ("g", 2)),
    ]
    assert [t.options.queue for t in plan.tasks] == ["iq", "own", "oq"]
    assert [t.options.priority for t in plan.tasks] == [4, 4, 4]
    assert nodes.result_ref(outer) == nodes.result_ref(
        group(sig("x", task_id="a"), sig("y", task_id="b"), sig("z", task_id="c"), group_id="g")
    )
    assert nodes.first_task_id(group(group(group_id="empty"), sig("a", task_id="a"))) == "a"


def test_a_chain_ending_in_a_group_stays_one_member_and_a_group_with_callbacks_is_not_spliced() -> None:
    in_chain = chain(sig("x", task_id="x"), group(sig("y", task_id="y"), sig("z", task_id="z"), group_id="yz"))
    linked = _with(
        group(sig("l1", task_id="l1"), sig("l2", task_id="l2"), group_id="lg"), link=[sig("cb", task_id="cb")]
    )
    plan = expand.expand(chord([in_chain, linked], sig("tsum", task_id="body"), group_id="g"), AT_SUBMIT)
    assert _shape(plan) == [
        ("join", "g", None),
        ("task", "x", ("g", 0)),
        ("join", "lg", ("g", 1)),
        ("task", "l1", ("lg", 0)),
        ("task", "l2", ("lg", 1)),
    ]
    (x, *_) = plan.tasks
    # x's value goes on to the group, whose list fills slot 0 as one nested list.
    follow = expand.follow(payload(42), Context("x", "root", x.continuation))
    assert _shape(follow) == [("join", "yz", ("g", 0)), ("task", "y", ("yz", 0)), ("task", "z", ("yz", 1))]


def test_a_chain_ending_in_a_group_gives_every_member_the_last_value() -> None:
    steps = chain(sig("a", task_id="a"), group(sig("b", 1, task_id="b"), sig("c", task_id="c"), group_id="g"))
    (first,) = expand.expand(steps, AT_SUBMIT).tasks
    plan = expand.follow(payload(5), Context("a", "root", first.continuation))
    # Nothing follows the group: no join, each member gets the value.
    assert _shape(plan) == [("task", "b", None), ("task", "c", None)]
    assert [_args(t) for t in plan.tasks] == [[5, 1], [5]]
    assert {t.parent_id for t in plan.tasks} == {"a"}


def test_a_group_inside_a_chain_joins_before_the_next_step() -> None:
    steps = chain(
        sig("a", task_id="a"), group(sig("b", task_id="b"), sig("c", task_id="c"), group_id="g"), sig("z", task_id="z")
    )
    (first,) = expand.expand(steps, AT_SUBMIT).tasks
    plan = expand.follow(payload(5), Context("a", "root", first.continuation))
    assert _shape(plan) == [("join", "g", None), ("task", "b", ("g", 0)), ("task", "c", ("g", 1))]
    (join,) = plan.joins
    assert _ids(join.continuation.remaining) == ["z"]


def test_map_and_starmap_are_one_task_over_their_items() -> None:
    mapped = canvas_pb2.Canvas(
        map=canvas_pb2.Map(
            task=canvas_pb2.Signature(task="add", args=payload([9])),
            items=payload([1, 2]),
            options=canvas_pb2.Options(task_id="m"),
        )
    )
    (task,) = expand.expand(mapped, AT_SUBMIT).tasks
    assert (task.id, task.task, task.call, _args(task)) == ("m", "add", worker_pb2.CALL_KIND_MAP, [[1, 2], 9])
    mapped.map.starmap = True
    (star,) = expand.expand(mapped, AT_SUBMIT).tasks
    assert star.call == worker_pb2.CALL_KIND_STARMAP


def test_chunks_is_a_group_of_starmap_tasks_over_consecutive_slices() -> None:
    node = canvas_pb2.Canvas(
        chunks=canvas_pb2.Chunks(
            task=canvas_pb2.Signature(task="add"),
            items=payload([[i, i] for i in range(5)]),
            size=2,
            options=canvas_pb2.Options(task_id="ch"),
        )
    )
    nodes.ensure_ids(node)
    plan = expand.expand(chain(node, sig("tsum", task_id="s")), AT_SUBMIT)
    ids = list(node.chunks.member_ids)
    assert _shape(plan) == [("join", "ch", None)] + [("task", i, ("ch", n)) for n, i in enumerate(ids)]
    assert [_args(t) for t in plan.tasks] == [[[[0, 0], [1, 1]]], [[[2, 2], [3, 3]]], [[[4, 4]]]]
    assert {t.call for t in plan.tasks} == {worker_pb2.CALL_KIND_STARMAP}
    assert _ids(plan.joins[0].continuation.remaining) == ["s"]


def test_links_and_errbacks_travel_with_the_task() -> None:
    task = sig("add", task_id="t", link=[sig("mul", 2, task_id="cb")], link_error=[sig("log", task_id="eb")])
    (planned,) = expand.expand(task, AT_SUBMIT).tasks
    assert _ids(planned.options.link) == ["cb"]
    assert _ids(planned.options.link_error) == ["eb"]
    # When the task succeeds, its link receives the value; when it fails, its errback runs.
    (cb,) = expand.expand(planned.options.link[0], Context("t", "root"), partial=(4,)).tasks
    assert (cb.id, _args(cb), cb.parent_id) == ("cb", [4, 2], "t")
    failure = common_pb2.TaskFailure(exc_type="builtins.ValueError", message="bad", task_id="t")
    failed = worker_pb2.FailedRequest(task_id="t", task="add")
    (eb,) = expand.errback(planned.options.link_error[0], failure, failed, "root").tasks
    assert (eb.call, eb.failed_task_id, eb.parent_id) == (worker_pb2.CALL_KIND_ERRBACK, "t", "t")
    assert eb.errback_failure == failure and eb.errback_request == failed
    assert expand.errback(group(sig("x")), failure, failed, "root").records == []  # signatures only


def test_an_empty_group_in_a_group_adds_nothing_and_a_trailing_empty_group_fills_its_slot() -> None:
    outer = _with(group(group(group_id="empty"), sig("a", task_id="a"), group_id="g"), link=[sig("l", task_id="l")])
    plan = expand.expand(outer, AT_SUBMIT)
    assert _shape(plan) == [("join", "g", None), ("task", "a", ("g", 0))]
    assert plan.joins[0].size == 1
    # An empty group reached through a chain gives its [] to the slot it feeds at once.
    (step,) = expand.expand(
        chain(group(chain(sig("x", task_id="x"), group(group_id="e")), sig("b", task_id="b"), group_id="g2"), sig("s")),
        AT_SUBMIT,
    ).tasks[:1]
    (fill,) = expand.follow(payload(1), Context("x", "root", step.continuation)).records
    assert isinstance(fill, SlotFill) and json.loads(fill.value.data) == [] and fill.slot.join_id == "g2"


def test_an_empty_chord_calls_its_body_with_an_empty_list() -> None:
    plan = expand.expand(chord([], sig("tsum", task_id="body"), group_id="g"), AT_SUBMIT)
    (body,) = plan.records
    assert isinstance(body, NewTask) and (body.id, _args(body)) == ("body", [[]])


def test_a_replacement_runs_in_the_replaced_task_s_place_under_its_id() -> None:
    cont = records_pb2.Continuation(remaining=[sig("next", task_id="next")])
    here = Context(parent_id="p", root_id="root", continuation=cont)
    old = records_pb2.TaskRecord(id="old")
    plan = expand.replacement(chain(sig("a", task_id="a"), sig("b", task_id="b")), old, here)
    (first,) = plan.tasks
    assert first.parent_id == "p"
    assert _ids(first.continuation.remaining) == ["old", "next"]  # the last step answers for the task
    # A group's value is no task's: a relay join of one member stands in the task's place.
    grouped = expand.replacement(group(sig("x", task_id="x"), group_id="g"), old, here)
    relay, join = grouped.joins
    assert (relay.id, relay.result_id, relay.relay, relay.size) == (expand.relay_id("old"), "old", True, 1)
    assert _ids(relay.continuation.remaining) == ["next"]
    assert (join.id, _slot(join.continuation)) == ("g", (relay.id, 0))
    (single,) = expand.replacement(sig("s", task_id="s"), old, here).tasks
    assert single.id == "old"


def test_expansion_leaves_the_canvas_unchanged() -> None:
    c = _with(chord([group(sig("a"), sig("b")), sig("c")], sig("tsum")), queue="q", link=[sig("l")])
    before = c.SerializeToString()
    expand.expand(c, Context("p", "root", inherited=canvas_pb2.Options(priority=3)), partial=(1,))
    expand.replacement(c, records_pb2.TaskRecord(id="old"), AT_SUBMIT)
    assert c.SerializeToString() == before


def test_a_chain_s_callbacks_go_to_its_last_step() -> None:
    steps = _with(chain(sig("a", task_id="a"), sig("b", task_id="b")), link=[sig("after", task_id="after")])
    (first,) = expand.expand(steps, AT_SUBMIT).tasks
    assert not first.options.link
    (last,) = first.continuation.remaining
    assert _ids(last.signature.options.link) == ["after"]


def test_a_chord_s_callbacks_and_errbacks_are_its_body_s() -> None:
    c = chord([sig("a", task_id="a")], sig("tsum", task_id="body", link_error=[sig("own", task_id="own")]))
    _with(c, link=[sig("after", task_id="after")], link_error=[sig("log", task_id="log")])
    (join,) = expand.expand(c, AT_SUBMIT).joins
    assert not join.link  # the callback gets the body's value, not the header's list
    assert join.body is not None and _ids(join.body.signature.options.link) == ["after"]
    assert _ids(join.body.signature.options.link_error) == ["own", "log"]  # when the body fails
    assert _ids(join.link_error) == ["own", "log"]  # once, when the header fails


def test_an_immutable_errback_is_a_plain_call_with_its_own_arguments() -> None:
    failure = common_pb2.TaskFailure(exc_type="builtins.ValueError", message="bad", task_id="t")
    failed = worker_pb2.FailedRequest(task_id="t")
    (eb,) = expand.errback(sig("log", "mine", task_id="eb", immutable=True), failure, failed, "root").tasks
    assert (eb.call, _args(eb), eb.parent_id, eb.errback_failure) == (worker_pb2.CALL_KIND_CALL, ["mine"], "t", None)


def test_an_errback_several_tasks_carry_runs_under_an_id_per_failed_task() -> None:
    failure = common_pb2.TaskFailure(exc_type="builtins.ValueError", message="bad")
    log = sig("log", task_id="eb")
    (one,) = expand.errback(log, failure, worker_pb2.FailedRequest(task_id="a"), "root").tasks
    (two,) = expand.errback(log, failure, worker_pb2.FailedRequest(task_id="b"), "root").tasks
    (again,) = expand.errback(log, failure, worker_pb2.FailedRequest(task_id="a"), "root").tasks
    assert one.id != two.id and one.id == again.id  # a re-run of the transition makes the same one


def test_several_callbacks_are_bundled_into_one_group_except_groups() -> None:
    a, b = sig("a", task_id="a"), sig("b", task_id="b")
    g = group(sig("c", task_id="c"), group_id="g")
    assert expand.callbacks([a], "t") == [a]
    gq, bundle = expand.callbacks([a, g, b], "t")
    assert gq == g and _ids(bundle.group.tasks) == ["a", "b"]
    assert bundle == expand.callbacks([a, g, b], "t")[1]  # the same group id each time
    plan = expand.expand(bundle, Context("t", "root"), partial=(4,))
    assert [(t.options.group_id, t.options.group_index, _args(t)) for t in plan.tasks] == [
        (bundle.group.options.task_id, 0, [4]),
        (bundle.group.options.task_id, 1, [4]),
    ]


def test_a_chain_in_a_group_answers_through_its_last_step_and_a_chord_through_its_body() -> None:
    inner = chord([sig("h", task_id="h")], sig("body", task_id="body"), group_id="inner")
    g = group(chain(sig("a", task_id="a"), sig("b", task_id="b")), inner, group_id="g")
    plan = expand.expand(g, AT_SUBMIT)
    first, h = plan.tasks
    assert (first.id, first.options.group_id) == ("a", "")  # Celery: only the last step is a member
    (b,) = first.continuation.remaining
    assert (b.signature.options.group_id, b.signature.options.group_index) == ("g", 0)
    assert h.options.group_id == "inner"
    (join,) = [j for j in plan.joins if j.id == "inner"]
    assert join.body is not None
    assert (join.body.signature.options.group_id, join.body.signature.options.group_index) == ("g", 1)


def test_a_member_added_to_a_chord_fills_the_next_slot() -> None:
    plan = expand.added_member(sig("x", 1, task_id="x"), "g", 3, parent_id="t", root_id="root")
    (task,) = plan.tasks
    assert (_slot(task.continuation), task.parent_id, task.options.group_id, task.options.group_index) == (
        ("g", 3),
        "t",
        "g",
        3,
    )


def test_a_replacement_takes_over_the_task_s_callbacks_errbacks_and_membership() -> None:
    old = records_pb2.TaskRecord(
        id="old",
        options=canvas_pb2.Options(
            group_id="g", group_index=2, link=[sig("cb", task_id="cb")], link_error=[sig("eb", task_id="eb")]
        ),
    )
    here = Context("p", "root", records_pb2.Continuation(slot=records_pb2.JoinSlot(join_id="g", index=2)))
    (first,) = expand.replacement(chain(sig("a", task_id="a"), sig("b", task_id="b")), old, here).tasks
    assert _ids(first.options.link_error) == ["eb"] and not first.options.link
    (last,) = first.continuation.remaining
    opts = last.signature.options
    assert (opts.task_id, opts.group_id, opts.group_index) == ("old", "g", 2)
    assert _ids(opts.link) == ["cb"] and _ids(opts.link_error) == ["eb"]
    assert _slot(first.continuation) == ("g", 2)
    # A group: the relay runs them once, with the list / for the group's failure.
    relay, _ = expand.replacement(group(sig("x", task_id="x"), group_id="gg"), old, here).joins
    assert (_ids(relay.link), _ids(relay.link_error), _slot(relay.continuation)) == (["cb"], ["eb"], ("g", 2))
    # An empty group: the relay gets its [] at once.
    plan = expand.replacement(group(group_id="empty"), old, here)
    assert _shape(plan) == [("join", expand.relay_id("old"), ("g", 2)), ("fill", expand.relay_id("old"), 0)]
