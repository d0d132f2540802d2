"""The canvas guide's compositions and Celery's `|` rules build the structures Celery 5.7 builds.

Expected shapes were taken from Celery 5.7 itself (`celery.canvas`), written as
(kind, children...) tuples; a task is (short name, args).
"""

from __future__ import annotations

from typing import Any

import pytest

from motet import Signature, chain, chord, chunks, group, signature, xmap, xstarmap
from motet.exceptions import NotRegistered
from tests.unit.tasks import (
    add,
    create_user,
    import_contacts,
    mul,
    send_welcome_email,
    tsum,
    xsum,
)


def shape(c: Any) -> Any:
    """A canvas as nested tuples: ("chain", [...]), ("group", [...]), ("chord", [...], body), (name, args)."""
    if isinstance(c, chain):
        return ("chain", [shape(t) for t in c.tasks])
    if isinstance(c, chord):
        return ("chord", [shape(t) for t in c.tasks], shape(c.body))
    if isinstance(c, group):
        return ("group", [shape(t) for t in c.tasks])
    if isinstance(c, chunks):
        return ("chunks", c.mapped.task.rsplit(".", 1)[-1], c.it, c.n)
    if isinstance(c, (xmap, xstarmap)):
        return (c.subtask_type, c.mapped.task.rsplit(".", 1)[-1], c.it)
    return (c.task.rsplit(".", 1)[-1], c.args)


# -- signatures (guide: Signatures, Partials, Immutability) ---------------------------------


def test_signature_fields_as_in_the_guide() -> None:
    s = add.signature((2, 2), {"debug": True}, countdown=10)
    assert (s.args, s.kwargs, s.options) == ((2, 2), {"debug": True}, {"countdown": 10})
    by_name = signature("tests.unit.tasks.add", args=(2, 2), countdown=10)
    assert (by_name.task, by_name.args, by_name.options) == (add.name, (2, 2), {"countdown": 10})
    assert add.s(2, 2, debug=True).kwargs == {"debug": True}
    assert add.s(2, 2).set(countdown=1).options == {"countdown": 1}
    assert repr(add.s(2, 2, debug=True)) == "tests.unit.tasks.add(2, 2, debug=True)"
    assert add.s(2, 2).type is add
    assert add.s(1).subtask_type is None and not add.s(1).immutable
    assert dict(add.s(1)) == {
        "task": add.name,
        "args": (1,),
        "kwargs": {},
        "options": {},
        "immutable": False,
        "subtask_type": None,
    }


def test_calling_a_signature_runs_inline() -> None:
    assert add(2, 2) == 4
    assert add.s(2, 2)() == 4
    assert add.s(2)(4) == 6
    assert add.si(2, 2)(100) == 4  # immutable: partial args are ignored
    assert add.s(2, 2).apply().get() == 4
    assert chain(add.s(2, 2), add.s(4), add.s(8)).apply().get() == 16
    assert chord([add.s(i, i) for i in range(3)], xsum.s()).apply().get() == 6


def test_calling_an_unknown_task_inline_says_what_to_do() -> None:
    with pytest.raises(NotRegistered, match=r"not registered in this process; use \.delay\(\)"):
        signature("billing.charge", args=(1,))()


def test_partials_prepend_args_and_merge_kwargs_and_options() -> None:
    s = add.s(2).clone(args=(4,), kwargs={"debug": True})
    assert (s.args, s.kwargs) == ((4, 2), {"debug": True})
    assert add.signature((2, 2), countdown=10).clone(countdown=1).options == {"countdown": 1}
    merged = add.s(2, 2, debug=False).clone(kwargs={"debug": True})
    assert merged.kwargs == {"debug": True}


def test_an_immutable_signature_keeps_its_arguments_when_cloned() -> None:
    s = add.si(2, 2).clone(args=(4,), kwargs={"debug": True}, countdown=3)
    assert (s.args, s.kwargs, s.options, s.immutable) == ((2, 2), {}, {"countdown": 3}, True)
    assert add.signature((2, 2), immutable=True).immutable


def test_clone_is_independent_of_the_original() -> None:
    s = add.s(1)
    s.link(mul.s(2))
    c = s.clone()
    c.options["link"][0].set(countdown=5)
    c.kwargs["debug"] = True
    assert s.options["link"][0].options == {} and s.kwargs == {}


# -- chains ---------------------------------------------------------------------------------


def test_pipes_flatten_into_one_chain() -> None:
    c = add.s(2, 2) | add.s(4) | add.s(8)
    assert shape(c) == ("chain", [("add", (2, 2)), ("add", (4,)), ("add", (8,))])
    assert shape(chain(add.s(2, 2), add.s(4), add.s(8))) == shape(c)


def test_chains_compose_with_chains() -> None:
    c2 = add.s(4, 16) | mul.s(2) | (add.s(4) | mul.s(8))
    assert shape(c2) == ("chain", [("add", (4, 16)), ("mul", (2,)), ("add", (4,)), ("mul", (8,))])
    assert shape(chain(add.s(1), chain(add.s(2), add.s(3)))) == ("chain", [("add", (1,)), ("add", (2,)), ("add", (3,))])


def test_a_partial_chain_applies_its_args_to_the_first_task() -> None:
    c1 = add.s(4) | mul.s(8)
    assert c1._partial((16,), {}, {}).tasks[0].args == (16, 4)
    assert c1.apply((16,)).get() == 160  # (16 + 4) * 8
    assert (add.s(4, 16) | mul.s(2) | (add.s(4) | mul.s(8))).apply().get() == 352


def test_immutable_chain_of_independent_tasks() -> None:
    res = (add.si(2, 2) | add.si(4, 4) | add.si(8, 8)).apply()
    assert res.get() == 16


def test_chain_into_a_group_stays_a_chain() -> None:
    workflow = create_user.s() | group(import_contacts.s(), send_welcome_email.s())
    assert shape(workflow) == (
        "chain",
        [("create_user", ()), ("group", [("import_contacts", ()), ("send_welcome_email", ())])],
    )


def test_a_one_member_group_after_a_task_is_unrolled() -> None:
    assert shape(add.s(1) | group(add.s(2))) == ("chain", [("add", (1,)), ("add", (2,))])
    assert shape((add.s(1) | add.s(2)) | group(add.s(3))) == ("chain", [("add", (1,)), ("add", (2,)), ("add", (3,))])


def test_chain_of_one_canvas_is_a_one_step_chain() -> None:
    assert shape(chain(group(add.s(1), add.s(2)))) == ("chain", [("group", [("add", (1,)), ("add", (2,))])])


# -- groups and chords ----------------------------------------------------------------------


def test_group_then_task_becomes_a_chord() -> None:
    c3 = group(add.s(i, i) for i in range(10)) | xsum.s()
    assert shape(c3) == ("chord", [("add", (i, i)) for i in range(10)], ("xsum", ()))
    assert shape(chain(group(add.s(1), add.s(2)), xsum.s())) == ("chord", [("add", (1,)), ("add", (2,))], ("xsum", ()))


def test_task_then_group_then_task_is_a_chain_ending_in_a_chord() -> None:
    c = add.s(2) | group(add.s(i) for i in range(3)) | xsum.s()
    assert shape(c) == (
        "chain",
        [("add", (2,)), ("chord", [("add", (0,)), ("add", (1,)), ("add", (2,))], ("xsum", ()))],
    )


def test_group_then_group_is_a_chord_with_a_group_body() -> None:
    assert shape(group(add.s(1)) | group(add.s(2))) == ("chord", [("add", (1,))], ("group", [("add", (2,))]))
    assert shape(group(add.s(1), add.s(2)) | group(add.s(3), add.s(4))) == (
        "chord",
        [("add", (1,)), ("add", (2,))],
        ("group", [("add", (3,)), ("add", (4,))]),
    )


def test_group_then_an_empty_group_is_the_group() -> None:
    g = group(add.s(1))
    assert (g | group([])) is g


def test_chord_then_task_extends_the_body() -> None:
    c = chord([add.s(1, 1)], xsum.s()) | mul.s(2)
    assert shape(c) == ("chord", [("add", (1, 1))], ("chain", [("xsum", ()), ("mul", (2,))]))


def test_chord_then_chain_or_wide_group_is_a_chain() -> None:
    assert shape(chord([add.s(1)], xsum.s()) | (add.s(1) | mul.s(2))) == (
        "chain",
        [("chord", [("add", (1,))], ("xsum", ())), ("add", (1,)), ("mul", (2,))],
    )
    assert shape(chord([add.s(1)], xsum.s()) | group(add.s(1), add.s(2))) == (
        "chain",
        [("chord", [("add", (1,))], ("xsum", ())), ("group", [("add", (1,)), ("add", (2,))])],
    )


def test_chain_ending_in_a_chord_grows_the_chord_body() -> None:
    base = chain(add.s(1), chord([add.s(1)], xsum.s()))
    assert shape(base | mul.s(2)) == (
        "chain",
        [("add", (1,)), ("chord", [("add", (1,))], ("chain", [("xsum", ()), ("mul", (2,))]))],
    )
    assert shape(base | group(add.s(1), add.s(2))) == (
        "chain",
        [
            ("add", (1,)),
            ("chord", [("add", (1,))], ("chain", [("xsum", ()), ("group", [("add", (1,)), ("add", (2,))])])),
        ],
    )
    # the operand is not modified
    assert shape(base) == ("chain", [("add", (1,)), ("chord", [("add", (1,))], ("xsum", ()))])


def test_two_chords_in_a_row_nest_the_second_in_the_first_body() -> None:
    c = chain(add.s(1), chord([add.s(1), add.s(2)], xsum.s()), group(add.s(3), add.s(4))) | mul.s(5)
    assert shape(c) == (
        "chain",
        [
            ("add", (1,)),
            (
                "chord",
                [("add", (1,)), ("add", (2,))],
                ("chain", [("xsum", ()), ("chord", [("add", (3,)), ("add", (4,))], ("mul", (5,)))]),
            ),
        ],
    )


def test_chord_forms_from_the_guide() -> None:
    header = [add.s(i, i) for i in range(100)]
    c = chord(header, tsum.s())
    assert len(c.tasks) == 100 and c.body == tsum.s()
    assert chord(add.s(i, i) for i in range(100)).body is None
    assert shape(chord(group(add.s(1), add.s(2)), xsum.s())) == ("chord", [("add", (1,)), ("add", (2,))], ("xsum", ()))


def test_chord_body_errback_from_the_guide() -> None:
    from tests.unit.tasks import log_error

    c = group(add.s(i, i) for i in range(10)) | xsum.s().on_error(log_error.s())
    assert isinstance(c, chord)
    assert c.body is not None and c.body.options["link_error"] == [log_error.s()]


def test_links_are_kept_as_callbacks() -> None:
    s = add.s(2, 2)
    cb = s.link(mul.s(16))
    assert cb == mul.s(16) and s.options["link"] == [mul.s(16)]
    s2 = add.signature((2, 2), link=add.s(8), link_error=[xsum.s()])
    assert s2.options == {"link": [add.s(8)], "link_error": [xsum.s()]}


def test_group_partial_args_go_to_every_member() -> None:
    g = group(add.s(1), add.si(5, 5))._partial((10,), {}, {})
    assert shape(g) == ("group", [("add", (10, 1)), ("add", (5, 5))])


# -- map, starmap, chunks -------------------------------------------------------------------


def test_generators_are_materialised_at_build_time() -> None:
    g = group(add.s(i, i) for i in range(3))
    assert [t.args for t in g.tasks] == [(0, 0), (1, 1), (2, 2)]
    m = add.starmap(zip(range(3), range(3), strict=True))
    assert m.it == [[0, 0], [1, 1], [2, 2]]
    ck = add.chunks(zip(range(25), range(25), strict=True), 10)
    assert [len(t.it) for t in ck.group().tasks] == [10, 10, 5]
    assert xsum.map([range(10), range(100)]).it == [list(range(10)), list(range(100))]


def test_map_and_starmap_run_inline_as_in_the_guide() -> None:
    assert xsum.map([range(10), range(100)])() == [45, 4950]
    assert add.starmap(zip(range(10), range(10), strict=True))() == [0, 2, 4, 6, 8, 10, 12, 14, 16, 18]


def test_xmap_keeps_partial_args() -> None:
    assert xmap(add.s(10), [1, 2])() == [11, 12]
    assert xstarmap(add.s(), [(1, 2), (3, 4)])() == [3, 7]


def test_chunks_as_in_the_guide() -> None:
    ck = add.chunks(zip(range(100), range(100), strict=True), 10)
    assert ck.chunk_count == 10
    assert ck.apply().get()[1] == [20, 22, 24, 26, 28, 30, 32, 34, 36, 38]
    g = ck.group()
    assert isinstance(g, group) and all(isinstance(t, xstarmap) for t in g.tasks)
    assert [t.options["countdown"] for t in g.skew(start=1, stop=10).tasks] == [1, 2, 3, 4, 5, 6, 7, 8, 9, 10]


def test_chunks_then_task_composes_like_a_group() -> None:
    c = add.chunks([(1, 1), (2, 2), (3, 3)], 2) | xsum.s()
    assert isinstance(c, chord) and len(c.tasks) == 2 and c.body == xsum.s()


def test_skew_repeats_the_last_countdown_past_stop() -> None:
    g = group(add.s(i) for i in range(5)).skew(start=1, stop=3, step=1)
    assert [t.options["countdown"] for t in g.tasks] == [1.0, 2.0, 3.0, 3.0, 3.0]
    g = group(add.s(i) for i in range(3)).skew(start=0.5, step=0.5)
    assert [t.options["countdown"] for t in g.tasks] == [0.5, 1.0, 1.5]


def test_composite_classes_are_signatures_with_celery_task_names() -> None:
    for c, name in [
        (chain(add.s(1), add.s(2)), "celery.chain"),
        (group(add.s(1)), "celery.group"),
        (chord([add.s(1)], xsum.s()), "celery.chord"),
        (add.map([1]), "celery.map"),
        (add.starmap([[1, 2]]), "celery.starmap"),
        (add.chunks([[1, 2]], 1), "celery.chunks"),
    ]:
        assert isinstance(c, Signature) and c.task == name
