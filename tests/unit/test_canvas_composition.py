"""The canvas guide's compositions build the structures Celery builds (no network)."""

from __future__ import annotations

import pytest

from examples.guide.tasks import add, create_user, import_contacts, mul, send_welcome_email, tsum, xsum
from motet import AsyncResult, GroupResult, chain, chord, chunks, group, signature, xmap, xstarmap
from motet.exceptions import CanvasError


def test_signature_fields_as_in_the_guide() -> None:
    s = add.signature((2, 2), {"debug": True}, countdown=10)
    assert (s.args, s.kwargs, s.options) == ((2, 2), {"debug": True}, {"countdown": 10})
    assert signature(add.name, args=(2, 2), countdown=10).options == {"countdown": 10}
    assert add.s(2, 2, debug=True).kwargs == {"debug": True}
    assert add.s(2, 2).set(countdown=1).options == {"countdown": 1}


def test_calling_a_signature_runs_inline() -> None:
    assert add(2, 2) == 4
    assert add.s(2, 2)() == 4
    assert (add.s(2))(4) == 6


def test_clone_prepends_args_and_merges_kwargs() -> None:
    s = add.s(2).clone(args=(4,), kwargs={"debug": True})
    assert (s.args, s.kwargs) == ((4, 2), {"debug": True})
    immutable = add.si(2, 2).clone(args=(4,))
    assert immutable.args == (2, 2)


def test_options_merge_new_values_win() -> None:
    s = add.signature((2, 2), countdown=10).clone(countdown=1)
    assert s.options["countdown"] == 1


def test_pipes_flatten_into_one_chain() -> None:
    c = add.s(2, 2) | add.s(4) | add.s(8)
    assert isinstance(c, chain)
    assert [t.args for t in c.tasks] == [(2, 2), (4,), (8,)]
    c2 = add.s(4, 16) | mul.s(2) | (add.s(4) | mul.s(8))
    assert [t.task for t in c2.tasks] == [add.name, mul.name, add.name, mul.name]


def test_group_then_task_becomes_a_chord() -> None:
    c3 = group(add.s(i, i) for i in range(10)) | xsum.s()
    assert isinstance(c3, chord)
    assert [t.args for t in c3.tasks] == [(i, i) for i in range(10)]
    assert c3.body.task == xsum.name


def test_task_then_group_then_task_is_a_chain_ending_in_a_chord() -> None:
    c = add.s(2) | group(add.s(i) for i in range(3)) | xsum.s()
    assert isinstance(c, chain)
    first, second = c.tasks
    assert first.args == (2,)
    assert isinstance(second, chord)
    assert [t.args for t in second.tasks] == [(0,), (1,), (2,)]
    assert second.body.task == xsum.name


def test_chord_then_task_extends_the_body() -> None:
    c = chord([add.s(1, 1)], xsum.s()) | mul.s(2)
    assert isinstance(c, chord)
    assert isinstance(c.body, chain)
    assert [t.task for t in c.body.tasks] == [xsum.name, mul.name]


def test_chain_into_a_group_stays_a_chain() -> None:
    workflow = create_user.s() | group(import_contacts.s(), send_welcome_email.s())
    assert isinstance(workflow, chain)
    assert isinstance(workflow.tasks[-1], group)


def test_generators_are_materialised() -> None:
    g = group(add.s(i, i) for i in range(3))
    assert [t.args for t in g.tasks] == [(0, 0), (1, 1), (2, 2)]
    m = add.starmap(zip(range(3), range(3), strict=True))
    assert m.items == [[0, 0], [1, 1], [2, 2]]
    ck = add.chunks(zip(range(25), range(25), strict=True), 10)
    assert [len(t.items) for t in ck.group().tasks] == [10, 10, 5]


def test_xmap_keeps_partial_args() -> None:
    m = xmap(add.s(10), [1, 2])
    assert m() == [11, 12]
    sm = xstarmap(add.s(), [(1, 2), (3, 4)])
    assert sm() == [3, 7]


def test_skew_sets_increasing_countdowns() -> None:
    g = add.chunks(zip(range(100), range(100), strict=True), 10).group().skew(start=1, stop=10)
    assert [t.options["countdown"] for t in g.tasks] == [1, 2, 3, 4, 5, 6, 7, 8, 9, 10]


def test_freeze_builds_celery_result_structure() -> None:
    res = (add.si(2, 2) | add.si(4, 4) | add.si(8, 8)).freeze()
    assert isinstance(res, AsyncResult)
    assert res.parent is not None and res.parent.parent is not None
    ids = {res.id, res.parent.id, res.parent.parent.id}
    assert len(ids) == 3
    chord_res = chord([add.s(1, 1), add.s(2, 2)], tsum.s()).freeze()
    assert isinstance(chord_res.parent, GroupResult)
    assert len(chord_res.parent.results) == 2
    chained = (add.s(4, 4) | group(add.si(i, i) for i in range(3))).freeze()
    assert isinstance(chained, GroupResult)
    assert isinstance(chained.parent, AsyncResult)


def test_group_members_get_group_id_and_index() -> None:
    g = group(add.s(1, 1), add.s(2, 2))
    res = g.freeze()
    assert [t.options["group_id"] for t in g.tasks] == [res.id, res.id]
    assert [t.options["group_index"] for t in g.tasks] == [0, 1]


@pytest.mark.parametrize(
    "build,message",
    [
        (lambda: chord([add.s(1, 1)], 42), "chord body must be a signature"),  # type: ignore[arg-type]
        (lambda: add.s(1, 1).set(countdown=-1), "countdown must not be negative"),
        (lambda: add.signature((1, 1), frobnicate=True), "unknown option"),
        (lambda: add.si(1, 1).delay(3), "immutable"),
        (lambda: add.chunks([(1, 1)], 0), "chunk size"),
        (lambda: chain().freeze(), "at least one task"),
        (lambda: add.s(1, 1).set(priority=42), "priority"),
    ],
)
def test_bad_canvases_are_refused_at_build_time(build: object, message: str) -> None:
    with pytest.raises(CanvasError, match=message):
        build()  # type: ignore[operator]


def test_nesting_beyond_the_limit_is_refused() -> None:
    from motet.canvas import MAX_DEPTH

    c = add.s(1, 1)
    for _ in range(MAX_DEPTH + 1):
        c = group(c)
        c = chain(c, add.s(1))
    with pytest.raises(CanvasError, match="nested deeper"):
        c.to_proto()
