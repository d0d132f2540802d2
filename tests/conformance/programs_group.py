"""Programs for CELERY-SEMANTICS §1.4 (group) and §2.5 (group semantics), plus §2.2's rules for
a group's value."""

from __future__ import annotations

import uuid

from tests.conformance.corpus import Differs, program

# -- §1.4 group ---------------------------------------------------------------------------------


@program("1.4")
def group_basic(c):
    g = c.group(c.t.add.s(i, i) for i in range(4))
    res = g.delay()
    return {"cls": c.cls(res), "len": len(res), "value": c.get(res), "members": [c.cls(r) for r in res.results]}


@program("1.4")
def group_from_list_and_varargs(c):
    as_list = c.group([c.t.add.s(1, 1), c.t.add.s(2, 2)])
    as_args = c.group(c.t.add.s(1, 1), c.t.add.s(2, 2))
    return {
        "list_len": len(as_list),
        "args_len": len(as_args),
        "list": c.get(as_list.delay()),
        "args": c.get(as_args.delay()),
    }


@program("1.4")
def group_from_generator(c):
    g = c.group(c.t.add.s(i, 1) for i in range(3))
    return {"len": c.attempt(len, g), "value": c.get(g.delay())}


@program("1.4")
def group_of_single_signature(c):
    g = c.group(c.t.add.s(1, 1))
    return {"len": len(g), "tasks": [t.task for t in g.tasks], "value": c.get(g.delay())}


@program("1.4")
def group_partial_args_to_every_member(c):
    g = c.group(c.t.add.s(1), c.t.add.s(2))
    return {
        "apply_async": c.get(g.apply_async((10,))),
        "delay": c.get(g.delay(20)),
        "call": c.get(g(30)),
    }


@program("1.4")
def group_partial_kwargs_to_every_member(c):
    g = c.group(c.t.addk.s(1), c.t.addk.s(2))
    return {"apply_async": c.get(g.apply_async(kwargs={"z": 100})), "delay": c.get(g.delay(z=1000))}


@program("1.4")
def group_immutable_member_ignores_partial(c):
    g = c.group(c.t.add.si(1, 1), c.t.add.s(1))
    return {"value": c.get(g.apply_async((10,)))}


@program("1.4")
def group_apply_async_link_is_type_error(c):
    g = c.group(c.t.add.s(1, 1), c.t.add.s(2, 2))
    return {
        "link": c.attempt(lambda: c.cls(g.apply_async(link=c.t.identity.s()))),
        "link_error": c.attempt(lambda: c.cls(g.apply_async(link_error=c.err_new("eb")))),
    }


@program("1.4")
def group_empty(c):
    res = c.group([]).apply_async()
    return {"cls": c.cls(res), "len": c.attempt(len, res), "value": c.get(res)}


@program("1.4")
def group_freeze_then_send(c):
    g = c.group(c.t.add.s(1, 1), c.t.add.s(2, 2))
    frozen = g.freeze()
    res = g.apply_async()
    return {
        "cls": c.cls(frozen),
        "len": len(frozen.results),
        "same_member_ids": [r.id for r in res.results] == [r.id for r in frozen.results],
        "same_group_id": res.id == frozen.id,
        "value": c.get(res),
    }


@program("1.4")
def group_task_id_becomes_group_id(c):
    ident = str(uuid.uuid4())
    c.label(ident, "given")
    res = c.group(c.t.add.s(1, 1), c.t.add.s(2, 2)).apply_async(task_id=ident)
    return {"id": res.id, "member_is_given": [r.id == ident for r in res.results], "value": c.get(res)}


@program("1.4")
def group_skew(c):
    g = c.group(c.t.add.s(i, i) for i in range(4))
    out = c.attempt(lambda: g.skew(start=1.0, step=1.0) is g)
    return {"returns_self": out, "countdowns": [t.options.get("countdown") for t in g.tasks]}


@program("1.4")
def group_skew_with_stop(c):
    g = c.group([c.t.add.s(i, i) for i in range(5)])
    c.attempt(lambda: g.skew(start=0.0, stop=0.2, step=0.1))
    return {"countdowns": [t.options.get("countdown") for t in g.tasks], "value": c.get(g.delay())}


@program("1.4")
def group_result_indexing_and_iteration(c):
    res = c.group(c.t.add.s(1, 1), c.t.add.s(2, 2), c.t.add.s(3, 3)).delay()
    c.get(res)
    return {
        "first": c.get(res[0]),
        "iter": [c.get(r) for r in res],
        "results": [c.cls(r) for r in res.results],
        "children_len": c.attempt(lambda: len(res.children)),
    }


@program("1.4")
def group_len_and_tasks(c):
    g = c.group(c.t.add.s(1, 1), c.t.mul.s(2, 2), c.t.identity.s(3))
    return {"len": len(g), "tasks": [t.task for t in g.tasks], "subtask_type": g.subtask_type}


# -- §2.5 group semantics --------------------------------------------------------------------


@program("2.5")
def group_submission_order_kept(c):
    g = c.group(c.t.sleep_then.s(i, 0.4 - 0.1 * i) for i in range(4))
    return {"value": c.get(g.delay())}


@program("2.2")
def group_nested_directly_is_spliced(c):
    g = c.group(c.group(c.t.identity.si(1), c.t.identity.si(2)), c.t.identity.si(3))
    res = g.delay()
    return {"value": c.get(res), "len": c.attempt(len, res)}


@program("2.2")
def group_of_one_group_is_its_members(c):
    inner = c.group(c.t.identity.si(1), c.t.identity.si(2))
    g = c.group(inner)
    return {"len": len(g), "value": c.get(g.delay())}


@program("2.2")
def group_member_chain_ending_in_group_nests(c):
    g = c.group(
        c.t.identity.si(1),
        c.t.identity.si(2),
        c.t.identity.si(3) | c.group(c.t.identity.s(), c.t.add.s(1)),
    )
    return {"value": c.get(g.delay())}


@program("2.2")
def group_spliced_values_example(c):
    g = c.group(c.t.add.si(1, 10), c.group(c.t.add.si(1, 100), c.t.add.si(1, 1000)), c.t.add.si(1, 2000))
    return {"value": c.get(g.delay())}


@program(
    "2.5",
    differs=Differs(
        design=2,
        why="order is always kept: Celery reverses a nested group in a frozen canvas",
        celery={"value": [0, 3, 2, 1, 4]},
        motet={"value": [0, 1, 2, 3, 4]},
    ),
)
def group_nested_in_chord_header_order(c):
    header = [
        c.t.identity.si(0),
        c.group(c.t.identity.si(1), c.t.identity.si(2), c.t.identity.si(3)),
        c.t.identity.si(4),
    ]
    return {"value": c.get(c.chord(header, c.t.identity.s()).delay())}


@program(
    "2.5",
    differs=Differs(
        design=2,
        why="order is always kept: Celery reverses a nested group in a chord header",
        celery={"value": [2, 1, 3]},
        motet={"value": [1, 2, 3]},
    ),
)
def group_nested_first_in_chord_header_order(c):
    header = [c.group(c.t.identity.si(1), c.t.identity.si(2)), c.t.identity.si(3)]
    return {"value": c.get(c.chord(header, c.t.identity.s()).delay())}


@program("2.5")
def group_wide_stays_ordered(c):
    n = 200
    res = c.group(c.t.add.s(i, 0) for i in range(n)).delay()
    value = c.get(res, timeout=30)
    return {"len": len(res), "ordered": value == list(range(n))}


@program("2.5")
def group_of_chains(c):
    g = c.group(c.t.add.s(1, 1) | c.t.add.s(1), c.t.add.s(2, 2) | c.t.mul.s(2))
    return {"value": c.get(g.delay())}


@program("2.5")
def group_results_in_chain_in_group(c):
    g = c.group(c.t.add.s(1, 2) | c.group(c.t.add.s(1), c.t.add.s(2)))
    return {"value": c.get(g.delay())}


@program("2.5")
def chain_of_lone_group(c):
    res = c.chain(c.group(c.t.identity.si(42), c.t.identity.si(42))).delay()
    return {"cls": c.cls(res), "value": c.get(res)}


@program(
    "2.5",
    known=(
        "a group sent on its own: in Celery each member is its own root (root_id = its id); Motet's scheduler "
        "gives every member the first member's id as root_id"
    ),
)
def group_members_request_fields(c):
    res = c.group(c.t.req_info.s(), c.t.req_info.s()).delay()
    c.label_tree(res, "g")
    values = c.get(res)
    if not isinstance(values, list):
        return {"value": values}
    return {
        "group_id": [v.get("group_id") for v in values],
        "group_index": [v.get("group_index") for v in values],
        "root_id": [v.get("root_id") for v in values],
        "id": [v.get("id") for v in values],
    }


@program("2.5")
def group_in_chain_member_parent_ids(c):
    res = (c.t.add.s(1, 1) | c.group(c.t.req_info.s(), c.t.req_info.s())).delay()
    c.label_tree(res, "g")
    values = c.get(res)
    if not isinstance(values, list):
        return {"value": values}
    return {"parent_id": [v.get("parent_id") for v in values], "root_id": [v.get("root_id") for v in values]}


@program("2.5")
def group_completion_counts(c):
    res = c.group(c.t.add.s(1, 1), c.t.sleep_then.s(2, 0.2)).delay()
    c.get(res)
    return {
        "ready": res.ready(),
        "successful": res.successful(),
        "failed": res.failed(),
        "waiting": res.waiting(),
        "completed_count": res.completed_count(),
    }
