"""Programs for CELERY-SEMANTICS §1.6 (xmap, xstarmap, chunks) and §2.10."""

from __future__ import annotations

from tests.conformance.corpus import Differs, program


@program("2.10")
def map_sums(c):
    return {"value": c.get(c.t.xsum.map([list(range(10)), list(range(100))]).delay())}


@program("2.10")
def map_invert(c):
    return {"value": c.attempt(lambda: ~c.t.xsum.map([[1, 2], [3]]))}


@program("2.10")
def starmap_zip(c):
    return {"value": c.get(c.t.add.starmap(zip(range(10), range(10), strict=True)).delay())}


@program("2.10")
def map_empty(c):
    return {"value": c.get(c.t.xsum.map([]).delay())}


@program("1.6")
def map_is_one_task(c):
    res = c.t.xsum.map([[1], [2], [3]]).delay()
    return {"cls": c.cls(res), "value": c.get(res)}


@program("1.6")
def xmap_function_form(c):
    return {"value": c.get(c.xmap(c.t.identity.s(), [1, "a", [2]]).delay())}


@program("1.6")
def xstarmap_function_form(c):
    return {"value": c.get(c.xstarmap(c.t.add.s(), [(1, 2), (3, 4)]).delay())}


@program(
    "1.6",
    differs=Differs(
        design=6,
        why="xmap keeps the mapped signature's partial args (Celery drops them)",
        celery={"value": {"raised": "TypeError", "msg": "add() missing 1 required positional argument: 'y'"}},
        motet={"value": [11, 12]},
    ),
)
def xmap_keeps_partial_args(c):
    return {"value": c.get(c.xmap(c.t.add.s(10), [1, 2]).delay())}


@program(
    "1.6",
    differs=Differs(
        design=6,
        why="xstarmap keeps the mapped signature's kwargs (Celery drops them)",
        celery={"value": [3, 7]},
        motet={"value": [103, 107]},
    ),
)
def xstarmap_keeps_partial_kwargs(c):
    return {"value": c.get(c.xstarmap(c.t.addk.s(z=100), [(1, 2), (3, 4)]).delay())}


@program("2.10")
def map_one_failing_item_fails_the_task(c):
    res = c.t.fail_if.starmap([(1, 2), (2, 2), (3, 2)]).delay()
    return {"get": c.get(res), "state": c.state(res)}


@program("1.6")
def map_in_chain_ignores_previous_value(c):
    ch = c.t.add.s(1, 1) | c.xmap(c.t.identity.s(), [7, 8])
    return {"value": c.get(ch.delay())}


@program("1.6")
def map_is_immutable(c):
    return {
        "xmap": c.xmap(c.t.identity.s(), [1]).immutable,
        "xstarmap": c.xstarmap(c.t.add.s(), [(1, 1)]).immutable,
        "chunks": c.chunks(c.t.add.s(), [(1, 1)], 1).immutable,
    }


@program("1.6")
def map_options_on_map_signature(c):
    sig = c.t.xsum.map([[1, 2]]).set(queue="q2")
    return {"options": c.norm(sig.options), "value": c.get(sig.delay())}


@program("2.10")
def chunks_basic(c):
    res = c.t.add.chunks(zip(range(5), range(5), strict=True), 2)()
    return {"cls": c.cls(res), "len": c.attempt(len, res), "value": c.get(res)}


@program("1.6")
def chunks_function_form(c):
    res = c.chunks(c.t.add.s(), [(1, 1), (2, 2), (3, 3)], 2).apply_async()
    return {"cls": c.cls(res), "value": c.get(res)}


@program("1.6")
def chunks_n_larger_than_items(c):
    return {"value": c.get(c.t.add.chunks([(1, 1), (2, 2)], 10)())}


@program("1.6")
def chunks_empty(c):
    return {"value": c.attempt(lambda: c.get(c.t.add.chunks([], 3)()))}


@program("2.10")
def chunks_group_skew(c):
    g = c.t.add.chunks(zip(range(10), range(10), strict=True), 2).group()
    g.skew(1, 10)
    return {"subtask_type": g.subtask_type, "len": len(g), "countdowns": [t.options.get("countdown") for t in g.tasks]}


@program("2.10")
def chunks_group_then_task(c):
    ch = c.t.add.chunks(zip(range(5), range(5), strict=True), 2).group() | c.t.xsum.s()
    return {"value": c.get(ch.delay())}


@program(
    "2.10",
    differs=Differs(
        design=6,
        why="chunks | task composes like a group (Celery: EncodeError, GroupResult is not JSON serializable)",
        celery={
            "value": {
                "raised": "EncodeError",
                "msg": "TypeError('Object of type GroupResult is not JSON serializable')",
            }
        },
        motet={"value": 20},
    ),
)
def chunks_pipe_task(c):
    try:
        ch = c.t.add.chunks(zip(range(5), range(5), strict=True), 2) | c.t.xsum.s()
        return {"value": c.get(ch.delay(), timeout=5)}
    except Exception as e:  # noqa: BLE001
        return {"value": c.exc(e)}


@program("2.10")
def chunks_failing_chunk(c):
    res = c.t.fail_if.chunks([(1, 9), (2, 9), (9, 9)], 2)()
    return {"get": c.get(res), "no_propagate": c.get(res, propagate=False)}


@program("1.6")
def map_subtask_types(c):
    return {
        "xmap": c.xmap(c.t.identity.s(), [1]).subtask_type,
        "xstarmap": c.xstarmap(c.t.add.s(), [(1, 1)]).subtask_type,
        "chunks": c.chunks(c.t.add.s(), [(1, 1)], 1).subtask_type,
        "task_map": c.t.identity.map([1]).subtask_type,
    }
