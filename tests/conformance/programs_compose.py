"""Programs for CELERY-SEMANTICS §2.3: the `|` operator for every pair of types. Each program
observes what `|` builds (its subtask_type and members) and the value it computes."""

from __future__ import annotations

from tests.conformance.corpus import program


def _kind(sig):
    return {"type": sig.subtask_type, "len": len(sig.tasks) if hasattr(sig, "tasks") else None}


@program("2.3")
def or_task_task(c):
    x = c.t.add.s(1, 1) | c.t.add.s(1)
    return {**_kind(x), "value": c.get(x.delay())}


@program("2.3")
def or_task_chain(c):
    tail = c.t.add.s(1) | c.t.mul.s(10)
    x = c.t.add.s(1, 1) | tail
    return {**_kind(x), "value": c.get(x.delay())}


@program("2.3")
def or_task_chain_moves_chain_callbacks(c):
    tail = c.t.add.s(1) | c.t.mul.s(10)
    tail.link(c.rec("cb"))
    x = c.t.add.s(1, 1) | tail
    return {"value": c.get(x.delay()), "cb": c.records("cb")}


@program("2.3")
def or_task_group(c):
    x = c.t.add.s(1, 1) | c.group(c.t.add.s(1), c.t.add.s(2))
    return {**_kind(x), "last": x.tasks[-1].subtask_type, "value": c.get(x.delay())}


@program("2.3")
def or_task_one_member_group(c):
    x = c.t.add.s(1, 1) | c.group(c.t.add.s(1))
    res = x.delay()
    return {**_kind(x), "last": x.tasks[-1].subtask_type, "cls": c.cls(res), "value": c.get(res)}


@program("2.3")
def or_task_chord(c):
    x = c.t.add.s(1, 1) | c.chord([c.t.add.s(1), c.t.add.s(2)], c.t.xsum.s())
    return {**_kind(x), "last": x.tasks[-1].subtask_type, "value": c.get(x.delay())}


@program("2.3")
def or_chain_ending_group_then_task(c):
    x = (c.t.add.s(1, 1) | c.group(c.t.add.s(1), c.t.add.s(2))) | c.t.xsum.s()
    return {**_kind(x), "last": x.tasks[-1].subtask_type, "value": c.get(x.delay())}


@program("2.3")
def or_chain_ending_chord_then_task(c):
    x = (c.t.add.s(1, 1) | c.chord([c.t.add.s(1), c.t.add.s(2)], c.t.xsum.s())) | c.t.mul.s(10)
    return {**_kind(x), "last": x.tasks[-1].subtask_type, "value": c.get(x.delay())}


@program("2.3")
def or_chain_task(c):
    x = (c.t.add.s(1, 1) | c.t.add.s(1)) | c.t.mul.s(3)
    return {**_kind(x), "value": c.get(x.delay())}


@program("2.3")
def or_chain_chain(c):
    x = (c.t.add.s(1, 1) | c.t.add.s(1)) | (c.t.mul.s(2) | c.t.add.s(1))
    return {**_kind(x), "value": c.get(x.delay())}


@program("2.3")
def or_chain_group(c):
    x = (c.t.add.s(1, 1) | c.t.add.s(1)) | c.group(c.t.add.s(1), c.t.add.s(2))
    res = x.delay()
    return {**_kind(x), "cls": c.cls(res), "value": c.get(res)}


@program("2.3")
def or_chain_ending_chord_then_group(c):
    x = (c.t.add.s(1, 1) | c.chord([c.t.add.s(1), c.t.add.s(2)], c.t.xsum.s())) | c.group(c.t.add.s(1), c.t.add.s(2))
    res = x.delay()
    return {**_kind(x), "cls": c.cls(res), "value": c.get(res)}


@program("2.3")
def or_empty_chain_group(c):
    x = c.chain() | c.group(c.t.add.s(1, 1), c.t.add.s(2, 2))
    res = x.delay()
    return {"type": x.subtask_type, "cls": c.cls(res), "value": c.get(res)}


@program("2.3")
def or_chain_empty_group(c):
    x = (c.t.add.s(1, 1) | c.t.add.s(1)) | c.group()
    res = x.delay()
    return {**_kind(x), "cls": c.cls(res), "value": c.get(res)}


@program("2.3")
def or_chain_chord(c):
    x = (c.t.add.s(1, 1) | c.t.add.s(1)) | c.chord([c.t.add.s(1), c.t.add.s(2)], c.t.xsum.s())
    return {**_kind(x), "value": c.get(x.delay())}


@program("2.3")
def or_group_task_is_chord(c):
    x = c.group(c.t.add.s(1, 1), c.t.add.s(2, 2)) | c.t.xsum.s()
    return {"type": x.subtask_type, "value": c.get(x.delay())}


@program("2.3")
def or_group_chain(c):
    x = c.group(c.t.add.s(1, 1), c.t.add.s(2, 2)) | (c.t.xsum.s() | c.t.mul.s(5))
    return {"type": x.subtask_type, "value": c.get(x.delay())}


@program("2.3")
def or_group_group(c):
    x = c.group(c.t.add.s(1, 1), c.t.add.s(2, 2)) | c.group(c.t.xsum.s(), c.t.xsum.s())
    res = x.delay()
    return {"type": x.subtask_type, "cls": c.cls(res), "value": c.get(res)}


@program("2.3")
def or_group_empty_group(c):
    g = c.group(c.t.add.s(1, 1), c.t.add.s(2, 2))
    x = g | c.group([])
    return {"type": x.subtask_type, "same": x is g, "value": c.get(x.delay())}


@program("2.3")
def or_group_chord(c):
    x = c.group(c.t.add.s(1, 1), c.t.add.s(2, 2)) | c.chord([c.t.xsum.s(), c.t.xsum.s()], c.t.xsum.s())
    return {"type": x.subtask_type, "value": c.get(x.delay())}


@program("2.3")
def or_chord_task(c):
    x = c.chord([c.t.add.s(1, 1), c.t.add.s(2, 2)], c.t.xsum.s()) | c.t.mul.s(10)
    return {"type": x.subtask_type, "value": c.get(x.delay())}


@program("2.3")
def or_chord_chain(c):
    x = c.chord([c.t.add.s(1, 1), c.t.add.s(2, 2)], c.t.xsum.s()) | (c.t.mul.s(10) | c.t.add.s(1))
    return {"type": x.subtask_type, "value": c.get(x.delay())}


@program("2.3")
def or_chord_one_member_group(c):
    x = c.chord([c.t.add.s(1, 1), c.t.add.s(2, 2)], c.t.xsum.s()) | c.group(c.t.mul.s(10))
    res = x.delay()
    return {"type": x.subtask_type, "cls": c.cls(res), "value": c.get(res)}


@program("2.3")
def or_chord_group(c):
    x = c.chord([c.t.add.s(1, 1), c.t.add.s(2, 2)], c.t.xsum.s()) | c.group(c.t.mul.s(10), c.t.add.s(1))
    res = x.delay()
    return {"type": x.subtask_type, "cls": c.cls(res), "value": c.get(res)}


@program("2.3")
def or_chord_chord(c):
    x = c.chord([c.t.add.s(1, 1), c.t.add.s(2, 2)], c.t.xsum.s()) | c.chord([c.t.add.s(1), c.t.add.s(2)], c.t.xsum.s())
    return {"type": x.subtask_type, "value": c.get(x.delay())}


@program("2.3")
def or_with_non_signature(c):
    """What `|` with a non-signature gives (the class of the error; its text names internal classes)."""

    def outcome(fn):
        got = c.attempt(fn)
        return got["raised"] if isinstance(got, dict) and "raised" in got else got

    return {
        "chain_int": outcome(lambda: ((c.t.add.s(1) | c.t.add.s(1)) | 10).subtask_type),
        "group_none": outcome(lambda: (c.group(c.t.add.s(1, 1)) | None).subtask_type),
        "chord_str": outcome(lambda: (c.chord([c.t.add.s(1, 1)], c.t.xsum.s()) | "x").subtask_type),
    }
