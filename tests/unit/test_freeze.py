"""Freeze assigns ids on the client and builds Celery's result structure (no network)."""

from __future__ import annotations

from typing import Any

import pytest

from motet import App, AsyncResult, GroupResult, chain, chord, group, payload
from motet.exceptions import CanvasError
from tests.unit.tasks import add, app, mul, tsum, xsum


def test_a_task_gets_an_id_and_is_its_own_root() -> None:
    s = add.s(1, 1)
    res = s.freeze()
    assert isinstance(res, AsyncResult) and res.app is app
    assert s.id == res.id and s.options["root_id"] == res.id
    assert s.freeze().id == res.id  # ids already present are kept


def test_given_ids_are_used() -> None:
    assert add.s(1, 1).set(task_id="t-1").freeze().id == "t-1"
    assert add.s(1, 1).freeze("t-2").id == "t-2"
    assert group(add.s(1), task_id="g-1").freeze().id == "g-1"


def test_chain_results_are_linked_by_parent() -> None:
    c = add.si(2, 2) | add.si(4, 4) | add.si(8, 8)
    res = c.freeze()
    assert isinstance(res, AsyncResult)
    first, second, third = c.tasks
    assert res.id == third.id
    assert res.parent is not None and res.parent.id == second.id
    assert res.parent.parent is not None and res.parent.parent.id == first.id
    assert {t.options["root_id"] for t in c.tasks} == {first.id}
    assert second.options["parent_id"] == first.id and third.options["parent_id"] == second.id
    assert "parent_id" not in first.options


def test_a_chain_ending_in_a_group_returns_a_group_result_whose_parent_is_the_previous_step() -> None:
    c = add.s(4, 4) | group(add.si(i, i) for i in range(3))
    res = c.freeze()
    assert isinstance(res, GroupResult) and len(res) == 3
    assert isinstance(res.parent, AsyncResult) and res.parent.id == c.tasks[0].id
    g = c.tasks[1]
    assert [t.options["parent_id"] for t in g.tasks] == [c.tasks[0].id] * 3


def test_a_chord_returns_the_body_result_whose_parent_is_the_header() -> None:
    c = chord([add.s(1, 1), add.s(2, 2)], tsum.s())
    res = c.freeze()
    assert isinstance(res, AsyncResult) and res.id == c.body.id
    header = res.parent
    assert isinstance(header, GroupResult)
    assert header.id == c.options["group_id"]
    assert [r.id for r in header.results] == [t.id for t in c.tasks]
    assert [t.options["group_id"] for t in c.tasks] == [header.id, header.id]
    assert [t.options["group_index"] for t in c.tasks] == [0, 1]
    assert c.body.options["root_id"] == c.tasks[0].id


def test_a_chord_task_id_option_is_the_body_id() -> None:
    c = chord([add.s(1, 1)], tsum.s(), task_id="body-1")
    assert c.freeze().id == "body-1"
    assert "task_id" not in c.options


def test_chain_through_a_chord_links_every_parent() -> None:
    c = add.s(2) | group(add.s(i) for i in range(3)) | xsum.s() | mul.s(2)
    res = c.freeze()
    assert res.parent is not None and isinstance(res.parent.parent, GroupResult)  # mul <- xsum <- header
    header = res.parent.parent
    assert [r.id for r in header.results] == [t.id for t in c.tasks[1].tasks]
    assert isinstance(header.parent, AsyncResult) and header.parent.id == c.tasks[0].id


def test_group_members_get_group_id_and_index_and_keep_order() -> None:
    g = group(add.s(1, 1), add.s(2, 2) | group(add.s(2), add.s(3)), add.s(4, 4) | mul.s(2))
    res = g.freeze()
    assert isinstance(res, GroupResult)
    assert [t.options.get("group_id") for t in (g.tasks[0], g.tasks[2].tasks[-1])] == [res.id] * 2
    assert [t.options["group_index"] for t in (g.tasks[0], g.tasks[1].tasks[-1], g.tasks[2].tasks[-1])] == [0, 1, 2]
    # A chain ending in a group is one member: its result is that group's, a nested GroupResult.
    assert isinstance(res.results[1], GroupResult) and len(res.results[1]) == 2
    assert res.results[2].id == g.tasks[2].tasks[-1].id  # a chain member's result is its last step
    assert "group_id" not in g.tasks[2].tasks[0].options


def test_a_group_in_a_group_or_a_chord_header_is_spliced_in_submission_order() -> None:
    a, b, c, d = add.s(1, 1), add.s(2, 2), add.s(3, 3), add.s(4, 4)
    g = group(group(a, group(b, c), queue="inner"), d, queue="outer")
    res = g.freeze()
    assert isinstance(res, GroupResult) and [r.id for r in res.results] == [t.id for t in g.tasks]
    assert [t.args for t in g.tasks] == [(1, 1), (2, 2), (3, 3), (4, 4)]
    assert [t.options["group_index"] for t in g.tasks] == [0, 1, 2, 3]
    assert {t.options["group_id"] for t in g.tasks} == {res.id}
    assert [t.options.get("queue") for t in g.tasks] == ["inner", "inner", "inner", None]  # d inherits on the server
    assert g.tasks[0].options["root_id"] == g.tasks[0].id
    header = chord([add.s(0, 0), group(add.s(1, 1), add.s(2, 2))], tsum.s())
    body = header.freeze()
    assert [t.args for t in header.tasks] == [(0, 0), (1, 1), (2, 2)]
    assert isinstance(body.parent, GroupResult) and len(body.parent.results) == 3
    # A group carrying its own callbacks stays one member (they run once, after it).
    linked = group(add.s(1, 1), add.s(2, 2))
    linked.link(tsum.s())
    outer = group(linked, add.s(3, 3))
    assert [type(r) for r in outer.freeze().results] == [GroupResult, AsyncResult]


def test_chunks_get_a_group_id_and_member_ids() -> None:
    ck = add.chunks([(i, i) for i in range(5)], 2)
    res = ck.freeze()
    assert isinstance(res, GroupResult) and res.id == ck.options["task_id"]
    assert [r.id for r in res.results] == ck.member_ids and len(ck.member_ids) == 3
    assert [t.id for t in ck.group().tasks] == ck.member_ids


def test_callbacks_get_ids_and_their_parent() -> None:
    s = add.s(2, 2)
    s.link(mul.s(16))
    s.link_error(xsum.s())
    res = s.freeze()
    callback, errback = s.options["link"][0], s.options["link_error"][0]
    assert callback.id and errback.id and callback.id != errback.id
    assert callback.options["parent_id"] == res.id and errback.options["root_id"] == res.id


def test_empty_canvases_are_refused_or_given_an_id() -> None:
    with pytest.raises(CanvasError, match="at least one task"):
        chain().freeze()
    with pytest.raises(CanvasError, match="no body"):
        chord([add.s(1, 1)]).freeze()
    empty = group([])
    assert empty.freeze().id == empty.options["task_id"]
    assert chord([], xsum.s()).freeze().id


class _Submitted:
    def __init__(self) -> None:
        self.canvases: list[Any] = []

    def submit(self, canvas: Any) -> None:
        self.canvases.append(canvas)


@pytest.fixture
def submitted(monkeypatch: pytest.MonkeyPatch) -> _Submitted:
    recorder = _Submitted()
    monkeypatch.setattr(App, "client", property(lambda self: recorder))
    return recorder


def test_apply_async_freezes_a_copy_and_submits_it(submitted: _Submitted) -> None:
    c = add.s(2, 2) | add.s(4)
    res = c.apply_async(countdown=3)
    assert c.tasks[0].id is None  # the caller's canvas is not modified
    (proto,) = submitted.canvases
    steps = proto.chain.tasks
    assert steps[1].signature.options.task_id == res.id
    assert steps[0].signature.options.task_id == res.parent.id
    assert proto.chain.options.countdown == 3
    assert add.delay(1, 2).id != add.delay(1, 2).id


def test_partial_args_given_when_applying(submitted: _Submitted) -> None:
    from motet import payload

    (add.s(4) | mul.s(8)).apply_async((16,))
    chord([add.s(1)])(xsum.s(), countdown=1)
    chain_proto, chord_proto = submitted.canvases
    assert payload.decode(chain_proto.chain.tasks[0].signature.args) == [16, 4]
    assert chord_proto.chord.body.signature.task == xsum.name and chord_proto.chord.options.countdown == 1


def test_an_immutable_signature_ignores_partial_args_and_kwargs_when_applied(submitted: _Submitted) -> None:
    # Celery 5.7: add.si(1, 2).apply_async((5,), {"y": 7}) runs add(1, 2); options still merge.
    add.si(1, 2).apply_async((5,), {"y": 7}, queue="q2")
    (proto,) = submitted.canvases
    assert payload.decode(proto.signature.args) == [1, 2] and payload.decode(proto.signature.kwargs) == {}
    assert proto.signature.options.queue == "q2"


def test_frozen_ids_are_the_ids_submitted(submitted: _Submitted) -> None:
    c = chord([add.s(1, 1)], tsum.s())
    res = c.freeze()
    assert c.apply_async().id == res.id
    assert submitted.canvases[0].chord.options.group_id == res.parent.id


def test_splicing_leaves_the_caller_s_canvas_alone_when_applied(submitted: _Submitted) -> None:
    g = group(group(add.s(1, 1), add.s(2, 2)), add.s(3, 3))
    res = g.apply_async()
    assert len(g.tasks) == 2 and len(res.results) == 3
    (proto,) = submitted.canvases
    assert [m.WhichOneof("kind") for m in proto.group.tasks] == ["signature"] * 3
    assert group(group(add.s(1, 1), add.s(2, 2)), add.s(3, 3)).apply().get() == [2, 4, 6]


def test_ignore_result_is_known_when_frozen_and_get_returns_none_without_asking(submitted: _Submitted) -> None:
    from tests.unit.tasks import quiet

    sent = add.apply_async((1, 1), ignore_result=True)
    declared = quiet.delay(1)
    assert isinstance(sent, AsyncResult) and sent.ignored and declared.ignored
    assert sent.get() is None and declared.get() is None  # the recorder has no result service
    assert [c.signature.options.ignore_result for c in submitted.canvases] == [True, True]
    assert not quiet.s(1).set(ignore_result=False).freeze().ignored  # a call-time False wins
    res = chord([quiet.s(1), add.s(2, 2)], xsum.s()).freeze()
    assert [r.ignored for r in res.parent.results] == [True, False] and not res.ignored
    assert not add.s(1, 1).freeze().ignored
