"""Programs for CELERY-SEMANTICS §1.3 (chain) and §2.4 (chain preparation: flattening, unrolling,
upgrades, what each member receives)."""

from __future__ import annotations

from tests.conformance.corpus import Differs, program

# -- §1.3 chain ------------------------------------------------------------------------------


@program("1.3")
def chain_basic(c):
    res = c.chain(c.t.add.s(2, 2), c.t.add.s(4), c.t.add.s(8)).delay()
    c.label_tree(res)
    return {"cls": c.cls(res), "value": c.get(res), "parents": c.parents(res)}


@program("1.3")
def chain_pipe_equals_chain_call(c):
    piped = c.t.add.s(2, 2) | c.t.add.s(4) | c.t.add.s(8)
    called = c.chain(c.t.add.s(2, 2), c.t.add.s(4), c.t.add.s(8))
    return {
        "piped_tasks": [t.task for t in piped.tasks],
        "called_tasks": [t.task for t in called.tasks],
        "piped_type": piped.subtask_type,
        "piped_value": c.get(piped.delay()),
        "called_value": c.get(called.delay()),
    }


@program("1.3")
def chain_from_list_and_generator(c):
    from_list = c.chain([c.t.add.s(1, 1), c.t.add.s(1)])
    from_gen = c.chain(c.t.add.s(i) if i else c.t.add.s(0, 0) for i in range(4))
    return {"list": c.get(from_list.delay()), "gen": c.get(from_gen.delay()), "gen_len": len(from_gen.tasks)}


@program("1.3")
def chain_call_is_apply_async(c):
    ch = c.t.add.s(1) | c.t.add.s(2)
    res = ch(10)
    return {"cls": c.cls(res), "value": c.get(res)}


@program("1.3")
def chain_apply_async_partial_args(c):
    return {"value": c.get((c.t.add.s(1) | c.t.add.s(2)).apply_async((10,)))}


@program("1.3")
def chain_empty(c):
    ch = c.chain()
    return {
        "len": len(ch.tasks),
        "call": c.attempt(lambda: c.cls(ch())),
        "apply_async": c.attempt(lambda: c.cls(ch.apply_async())),
    }


@program("1.3")
def chain_single_task(c):
    res = c.chain(c.t.add.s(1, 1)).delay()
    c.label_tree(res)
    return {"cls": c.cls(res), "value": c.get(res), "shape": c.shape(res)}


@program("1.3")
def chain_ending_in_group_returns_group_result(c):
    res = (c.t.add.s(1, 1) | c.group(c.t.add.s(1), c.t.add.s(2))).delay()
    return {"cls": c.cls(res), "len": c.attempt(len, res), "value": c.get(res), "parent": c.cls(res.parent)}


@program("1.3")
def chain_freeze(c):
    ch = c.t.add.s(1, 1) | c.t.add.s(1) | c.t.add.s(1)
    frozen = ch.freeze()
    c.label_tree(frozen, "frozen")
    res = ch.apply_async()
    return {
        "cls": c.cls(frozen),
        "chain_id_is_last": ch.id == frozen.id,
        "parents": c.parents(frozen),
        "sent_id": res.id,
        "sent_parent_id": getattr(res.parent, "id", None),
        "value": c.get(res),
    }


@program("1.3")
def chain_unchain_tasks_moves_links(c):
    ch = c.t.add.s(1, 1) | c.t.add.s(1) | c.t.add.s(1)
    ch.link(c.t.identity.s())
    ch.link_error(c.err_new("eb"))
    tasks = c.attempt(ch.unchain_tasks)
    if isinstance(tasks, dict):
        return {"unchain_tasks": tasks}
    tasks = ch.unchain_tasks()
    return {
        "links": [len(t.options.get("link", [])) for t in tasks],
        "errbacks": [len(t.options.get("link_error", [])) for t in tasks],
    }


@program("1.3")
def chain_apply_eager(c):
    res = (c.t.add.s(1, 1) | c.t.mul.s(10)).apply()
    return {"cls": c.cls(res), "value": c.get(res), "state": c.state(res)}


@program("1.3")
def chain_tasks_attribute(c):
    ch = c.chain(c.t.add.s(1, 1), c.t.mul.s(2), c.t.identity.s())
    return {"tasks": [t.task for t in ch.tasks], "args": [c.norm(t.args) for t in ch.tasks]}


# -- §2.4 chain preparation ----------------------------------------------------------------------


@program("2.4")
def chain_nested_chain_spliced(c):
    ch = c.t.add.s(2, 2) | (c.t.add.s(4) | c.t.add.s(8))
    res = ch.delay()
    return {"len": len(ch.tasks), "value": c.get(res), "parents": c.parents(res)}


@program("2.4")
def chain_nested_deeply(c):
    ch = c.chain(c.chain(c.chain(c.t.add.s(1, 1), c.t.add.s(1))), c.t.add.s(1))
    res = ch.delay()
    return {"value": c.get(res), "parents": c.parents(res)}


@program("2.4")
def chain_one_member_group_at_end_unrolled(c):
    res = c.chain(c.t.add.s(1, 1), c.group(c.t.add.s(1))).delay()
    return {"cls": c.cls(res), "value": c.get(res)}


@program("2.4")
def chain_one_member_group_in_middle_unrolled(c):
    res = c.chain(c.t.add.s(2, 2), c.group(c.t.add.s(1)), c.t.add.s(1)).delay()
    return {"cls": c.cls(res), "value": c.get(res), "parents": c.parents(res)}


@program("2.4")
def chain_empty_groups_dropped(c):
    g = c.group(c.t.add.s(1, 1), c.t.add.s(2, 2))
    res = c.chain(g, c.group(), c.group()).delay()
    return {"cls": c.cls(res), "value": c.get(res)}


@program("2.4")
def chain_of_only_empty_groups(c):
    res = c.attempt(lambda: c.chain(c.group(), c.group()).apply_async())
    if isinstance(res, dict):
        return {"apply_async": res}
    res = c.chain(c.group(), c.group()).apply_async()
    return {"cls": c.cls(res), "value": c.get(res)}


@program("2.4")
def chain_group_then_task_is_a_chord(c):
    res = c.chain(c.group(c.t.add.s(1, 1), c.t.add.s(2, 2)), c.t.xsum.s()).delay()
    c.label_tree(res)
    return {"value": c.get(res), "shape": c.shape(res)}


@program("2.4")
def chain_consecutive_groups_run_once(c):
    g1 = c.group(c.t.add.s(1, 1), c.t.add.s(2, 2))
    g2 = c.group(c.t.xsum.s(), c.rec("g2"))
    g3 = c.group(c.t.identity.s(), c.rec("g3"))
    res = c.chain(g1, g2, g3, c.t.identity.s()).delay()
    return {"value": c.get(res), "g2_runs": c.records("g2"), "g3_runs": c.records("g3")}


@program("2.4")
def chain_group_members_receive_previous_value(c):
    ch = c.t.add.s(5, 6) | c.group(c.t.add.s(1) | c.t.add.s(2), c.t.add.s(3))
    return {"value": c.get(ch.delay())}


@program("2.4")
def chain_chord_member_gives_previous_to_header(c):
    ch = c.t.add.s(1, 1) | c.chord([c.t.add.s(1), c.t.add.s(2)], c.t.xsum.s())
    res = ch.delay()
    c.label_tree(res)
    return {"value": c.get(res), "shape": c.shape(res)}


@program("2.4")
def chain_map_member_ignores_previous(c):
    ch = c.t.add.s(1, 1) | c.t.xsum.map([[1, 2], [10]])
    return {"value": c.get(ch.delay())}


@program("2.4")
def chain_chord_body_chain_split(c):
    ch = c.chord([c.t.add.s(1, 1), c.t.add.s(2, 2)], c.t.xsum.s() | c.t.add.s(10) | c.t.mul.s(2))
    return {"value": c.get(ch.delay())}


@program("2.4")
def chain_in_chain_with_args_6200(c):
    ch = c.chain(c.chain(c.t.add.s(1), c.t.add.s(2)), c.t.add.s(3))
    return {"value": c.get(ch.delay(0))}


@program("2.4")
def chord_first_in_chain_with_args_6176(c):
    ch = c.chain(c.chord([c.t.add.s(1), c.t.add.s(2)], c.t.xsum.s()), c.t.add.s(3))
    return {"value": c.get(ch.delay(10))}


@program("2.4")
def chain_leading_empty_group_keeps_args_9772(c):
    ch = c.chain(c.group(), c.t.add.s(1), c.t.add.s(2))
    return {"value": c.get(ch.delay(10))}


@program("2.4")
def chain_immutable_member_ignores_previous(c):
    ch = c.t.add.s(1, 1) | c.t.const.si("fresh") | c.t.echo.s()
    return {"value": c.get(ch.delay())}


@program("2.4")
def chain_parent_links(c):
    res = (c.t.add.s(1, 1) | c.t.add.s(1) | c.t.add.s(1)).delay()
    c.label_tree(res)
    values = [c.get(res), c.get(res.parent), c.get(res.parent.parent)]
    return {"values": values, "shape": c.shape(res), "root_parent": res.parent.parent.parent}


@program("2.4")
def chain_children_of_first_step(c):
    res = (c.t.add.s(1, 1) | c.t.add.s(1) | c.t.add.s(1)).delay()
    c.label_tree(res)
    c.get(res)
    first = res.parent.parent
    c.get(first)  # Celery stores a step's children after sending the next step: wait for the step itself
    return {"children": [[c.cls(ch), c.norm(ch.id)] for ch in (first.children or [])]}


@program("2.4")
def chain_request_ids(c):
    """root_id is the first task of the canvas; parent_id the task whose completion sent it."""
    ch = c.t.req_info.si() | c.t.req_info.si() | c.t.req_info.si()
    res = ch.delay()
    c.label_tree(res)
    last = c.get(res)
    middle = c.get(res.parent)
    first = c.get(res.parent.parent)
    pick = ("id", "root_id", "parent_id")
    return {
        name: {k: v.get(k) for k in pick} if isinstance(v, dict) else v
        for name, v in (("first", first), ("middle", middle), ("last", last))
    }


@program(
    "2.4",
    differs=Differs(
        design=2,
        why="order is always kept: Celery reverses a nested group once the canvas is frozen",
        celery={"value": [2, 1, 3]},
        motet={"value": [1, 2, 3]},
    ),
)
def chain_trailing_nested_group_order(c):
    g = c.group(c.group(c.t.identity.si(1), c.t.identity.si(2)), c.t.identity.si(3))
    return {"value": c.get((c.t.identity.si(0) | g).delay())}
