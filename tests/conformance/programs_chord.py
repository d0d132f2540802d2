"""Programs for CELERY-SEMANTICS §1.5 (chord) and §2.6 (chord semantics: what the body gets,
nesting, body kinds)."""

from __future__ import annotations

import uuid

from tests.conformance.corpus import Differs, program

# -- §1.5 chord ---------------------------------------------------------------------------------


@program("1.5")
def chord_basic(c):
    res = c.chord([c.t.add.s(i, i) for i in range(5)], c.t.xsum.s()).delay()
    c.label_tree(res)
    return {"cls": c.cls(res), "value": c.get(res), "shape": c.shape(res)}


@program("1.5")
def chord_call_forms(c):
    header = [c.t.add.s(1, 1), c.t.add.s(2, 2)]
    return {
        "header_then_body": c.get(c.chord(header)(c.t.xsum.s())),
        "both_then_call": c.get(c.chord(header, c.t.xsum.s())()),
        "apply_async": c.get(c.chord(header, c.t.xsum.s()).apply_async()),
    }


@program("1.5")
def chord_attributes(c):
    ch = c.chord([c.t.add.s(1, 1), c.t.add.s(2, 2)], c.t.xsum.s())
    return {
        "subtask_type": ch.subtask_type,
        "header_len": len(ch.tasks),
        "body_task": ch.body.task,
        "header_tasks": [t.task for t in ch.tasks],
    }


@program("1.5")
def chord_partial_args_go_to_header(c):
    ch = c.chord([c.t.add.s(1), c.t.add.s(2)], c.t.xsum.s())
    return {"value": c.get(ch.apply_async((10,)))}


@program("1.5")
def chord_task_id_becomes_body_id(c):
    ident = str(uuid.uuid4())
    c.label(ident, "given")
    res = c.chord([c.t.add.s(1, 1)], c.t.xsum.s()).apply_async(task_id=ident)
    return {"id": res.id, "value": c.get(res), "parent_cls": c.cls(res.parent)}


@program("1.5")
def chord_header_generator_3021(c):
    ch = c.chord((c.t.add.s(i, i) for i in range(4)), c.t.xsum.s())
    return {"value": c.get(ch.delay())}


@program("1.5")
def chord_length_hint(c):
    ch = c.chord(
        [c.t.add.s(1, 1), c.group(c.t.add.s(1, 1), c.t.add.s(2, 2)), c.t.add.s(1, 1) | c.t.add.s(1)],
        c.t.xsum.s(),
    )
    return {"hint": c.attempt(ch.__length_hint__), "value": c.get(ch.delay())}


@program("1.5")
def chord_result_parent_is_header_group(c):
    res = c.chord([c.t.add.s(1, 1), c.t.add.s(2, 2), c.t.add.s(3, 3)], c.t.xsum.s()).delay()
    c.get(res)
    parent = res.parent
    return {
        "parent_cls": c.cls(parent),
        "parent_len": c.attempt(len, parent),
        "header_values": c.get(parent) if parent is not None else None,
    }


# -- §2.6 chord semantics --------------------------------------------------------------------


@program("2.6")
def chord_empty_header(c):
    return {
        "chord": c.get(c.chord([], c.t.identity.s()).delay()),
        "immutable_body": c.get(c.chord([], c.t.const.si("x")).delay()),
    }


@program("2.6")
def chord_empty_group_pipe_body(c):
    return {"value": c.get((c.group([]) | c.t.identity.s()).delay())}


@program("2.6")
def chord_single_task_header_gives_list(c):
    return {"value": c.get(c.chord([c.t.add.s(2, 5)], c.t.identity.s()).delay())}


@program("2.6")
def chord_header_values_in_header_order(c):
    header = [c.t.sleep_then.s(i, 0.4 - 0.1 * i) for i in range(4)]
    return {"value": c.get(c.chord(header, c.t.identity.s()).delay())}


@program("2.6")
def chord_header_chain_member(c):
    header = [c.t.add.s(1, 1) | c.t.add.s(1), c.t.add.s(2, 2)]
    return {"value": c.get(c.chord(header, c.t.identity.s()).delay())}


@program("2.6")
def chord_header_chain_ending_in_group(c):
    header = c.group(c.chain(c.t.identity.si(42), c.group(c.t.identity.s(), c.t.identity.s())))
    return {"value": c.get(c.chord(header, c.t.identity.s()).delay())}


@program(
    "2.6",
    differs=Differs(
        design=2,
        why="order is always kept: Celery reverses the lone group of a chord header",
        celery={"value": [4, 2]},
        motet={"value": [2, 4]},
    ),
)
def chord_header_lone_group_tuple(c):
    header = (c.group(c.t.add.si(1, 1), c.t.add.si(2, 2)),)
    return {"value": c.get(c.chord(header, c.t.identity.s()).delay())}


@program("2.6")
def chord_header_mixed_members(c):
    header = [
        c.t.identity.si(42),
        c.t.identity.si(43) | c.t.identity.s(),
        c.group(c.t.identity.si(44), c.t.identity.si(44)),
        c.chord([c.t.add.si(1, 1)], c.t.xsum.s()),
    ]
    return {"value": c.get(c.chord(header, c.t.identity.s()).delay())}


@program("2.6")
def chord_in_chord_header(c):
    inner = c.chord([c.t.add.s(1, 1), c.t.add.s(2, 2)], c.t.xsum.s())
    return {"value": c.get(c.chord([inner, c.t.add.s(10, 10)], c.t.xsum.s()).delay())}


@program("2.6")
def chord_nested_three_levels(c):
    level1 = c.chord([c.t.add.s(1, 1), c.t.add.s(1, 1)], c.t.xsum.s())
    level2 = c.chord([level1, c.t.add.s(2, 2)], c.t.xsum.s())
    level3 = c.chord([level2, c.t.add.s(3, 3)], c.t.identity.s())
    return {"value": c.get(level3.delay())}


@program("2.6")
def group_of_chords(c):
    g = c.group(
        c.chord([c.t.add.s(1, 1)], c.t.xsum.s()),
        c.chord([c.t.add.s(2, 2), c.t.add.s(3, 3)], c.t.xsum.s()),
    )
    res = g.delay()
    return {"cls": c.cls(res), "value": c.get(res)}


@program("2.6")
def group_of_many_small_chords(c):
    g = c.group(c.chord([c.t.add.s(i, 1), c.t.add.s(i, 2)], c.t.xsum.s()) for i in range(20))
    return {"value": c.get(g.delay(), timeout=30)}


@program("2.6")
def chain_of_chords(c):
    ch = c.chord([c.t.add.s(1, 1), c.t.add.s(2, 2)], c.t.xsum.s()) | c.chord([c.t.add.s(1), c.t.add.s(2)], c.t.xsum.s())
    res = ch.delay()
    return {"value": c.get(res), "subtask_type": ch.subtask_type}


@program("2.6")
def chain_of_three_chords(c):
    ch = c.chain(
        c.chord([c.t.add.s(i, 0) for i in range(1, 4)], c.t.xsum.s()),
        c.chord([c.t.mul.s(i) for i in range(1, 4)], c.t.xsum.s()),
        c.chord([c.t.add.s(i) for i in range(3)], c.t.xsum.s()),
    )
    return {"value": c.get(ch.delay(), timeout=20)}


@program("2.6")
def chord_in_chain_in_chord_header(c):
    header = [c.t.add.s(1, 1) | c.chord([c.t.add.s(1), c.t.add.s(2)], c.t.xsum.s()), c.t.add.s(5, 5)]
    return {"value": c.get(c.chord(header, c.t.identity.s()).delay())}


@program("2.6")
def chord_body_is_chain(c):
    ch = c.chord([c.t.add.s(1, 1), c.t.add.s(2, 2)], c.t.xsum.s() | c.t.add.s(1))
    res = ch.delay()
    return {"value": c.get(res), "cls": c.cls(res)}


@program("2.6")
def chord_body_is_group(c):
    ch = c.chord([c.t.add.s(1, 1), c.t.add.s(2, 2)], c.group(c.t.xsum.s(), c.t.identity.s()))
    res = ch.delay()
    return {"value": c.get(res), "cls": c.cls(res)}


@program("2.6")
def chord_body_is_chord(c):
    body = c.chord([c.t.xsum.s(), c.t.identity.s()], c.t.identity.s())
    ch = c.chord([c.t.add.s(1, 1), c.t.add.s(2, 2)], body)
    return {"value": c.get(ch.delay())}


@program("2.6")
def chord_immutable_body(c):
    return {"value": c.get(c.chord([c.t.add.s(1, 1)], c.t.const.si("done")).delay())}


@program("2.6")
def chord_wide_header(c):
    ch = c.chord(c.t.add.s(i, i) for i in range(100))
    return {"value": c.get(ch(c.t.xsum.s()), timeout=30)}


@program("2.6")
def group_with_chord_with_chain_body_6734(c):
    g = c.group(c.chord([c.t.add.s(1, 1), c.t.add.s(2, 2)], c.t.xsum.s() | c.t.add.s(1)), c.t.add.s(5, 5))
    return {"value": c.get(g.delay())}


@program("2.6")
def chord_header_chain_of_lone_group_8182(c):
    header = [c.chain(c.group(c.t.add.s(1, 1), c.t.add.s(2, 2))), c.t.add.s(3, 3)]
    return {"value": c.get(c.chord(header, c.t.identity.s()).delay())}


@program("2.6")
def chord_body_parent_id_is_a_header_member(c):
    res = c.chord([c.t.add.s(1, 1), c.t.add.s(2, 2)], c.t.req_info.s()).delay()
    got = res.get(timeout=c.T)
    header_ids = [r.id for r in res.parent.results]
    return {"parent_is_header_member": got["parent_id"] in header_ids, "header_values": c.norm(got["args"])}


@program(
    "2.6",
    differs=Differs(
        design=2,
        why="order is always kept: Celery reverses a nested group in a chord header",
        celery={"value": [4, 2, 6]},
        motet={"value": [2, 4, 6]},
    ),
)
def chord_header_nested_group_values(c):
    header = [c.group(c.t.add.si(1, 1), c.t.add.si(2, 2)), c.t.add.si(3, 3)]
    return {"value": c.get(c.chord(header, c.t.identity.s()).delay())}


@program("2.6")
def chord_single_task_inner_chord_3885(c):
    inner = c.chord([c.t.add.s(1, 1)], c.t.xsum.s())
    return {"value": c.get(c.chord([inner], c.t.xsum.s()).delay())}


@program("2.6")
def chord_nested_bodies_run_once_3538(c):
    inner = c.chord([c.t.add.s(1, 1), c.t.add.s(2, 2)], c.rec("inner"))
    outer = c.chord([inner, c.t.add.s(3, 3)], c.rec("outer"))
    c.get(outer.delay())
    return {"inner": c.count("inner"), "outer": c.count("outer")}


@program("2.6")
def chord_of_chains_with_groups_5947(c):
    header = [
        c.chain(c.t.add.s(1, 1), c.group(c.t.add.s(1), c.t.add.s(2))),
        c.chain(c.t.add.s(2, 2), c.group(c.t.add.s(1), c.t.add.s(2))),
    ]
    res = c.chord(header, c.rec("body")).delay()
    return {"value": c.get(res), "body_runs": c.count("body")}


@program("2.6")
def chord_then_chain_runs_once_3771(c):
    ch = c.chord([c.t.add.s(1, 1), c.t.add.s(2, 2), c.t.add.s(3, 3)], c.t.xsum.s()) | c.rec("after")
    return {"value": c.get(ch.delay()), "after_runs": c.count("after")}


@program("4")
def chord_header_with_empty_chain(c):
    return {"sent": c.attempt(lambda: c.get(c.chord([c.chain()], c.t.identity.s()).delay(), timeout=2))}


@program("4", timeout=2)
def chord_header_with_only_an_empty_group(c):
    return {"sent": c.attempt(lambda: c.get(c.chord([c.group([])], c.t.identity.s()).delay()))}
