"""Celery's canvas API on Motet's canvas objects (pure logic: nothing is submitted)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from motet import App, AsyncResult, EagerResult, Signature, chain, chord, chunks, group, signature, state, xmap
from tests.unit.tasks import add, app, mul, tsum, xsum


def _round_trip(sig: Signature) -> Signature:
    return signature(json.loads(json.dumps(sig)), app=app)


def test_a_signature_is_celerys_dict() -> None:
    s = add.s(2, y=3).set(queue="q2")
    assert isinstance(s, dict)
    assert dict(s) == {
        "task": add.name,
        "args": (2,),
        "kwargs": {"y": 3},
        "options": {"queue": "q2"},
        "subtask_type": None,
        "immutable": False,
    }
    assert s["args"] is s.args and s == dict(s)


@pytest.mark.parametrize(
    "canvas,kind",
    [
        (add.s(1, 2), Signature),
        (add.s(1) | mul.s(2), chain),
        (group(add.s(1, 1), add.s(2, 2)), group),
        (chord([add.s(1, 1), add.s(2, 2)], tsum.s()), chord),
        (xmap(add.s(), [1, 2]), xmap),
        (chunks(add.s(), [(1, 1), (2, 2), (3, 3)], 2), chunks),
    ],
)
def test_json_round_trip_rebuilds_the_right_kind_ready_to_run(canvas: Signature, kind: type) -> None:
    again = _round_trip(canvas)
    assert type(again) is kind
    assert again == canvas
    assert again.to_proto() == canvas.to_proto()
    assert again.apply().get() == canvas.apply().get()  # runs here: the parts came back whole


def test_celerys_own_dict_layout_is_read() -> None:
    # As Celery 5.7 writes a chord: the header is a group's dict.
    d = {
        "task": "celery.chord",
        "args": [],
        "kwargs": {
            "header": {
                "task": "celery.group",
                "args": [],
                "kwargs": {"tasks": [dict(add.s(1, 1))]},
                "options": {},
                "subtask_type": "group",
                "immutable": False,
            },
            "body": dict(tsum.s()),
            "kwargs": {},
        },
        "options": {},
        "subtask_type": "chord",
        "immutable": False,
    }
    rebuilt = signature(d)
    assert isinstance(rebuilt, chord) and rebuilt.tasks == [add.s(1, 1)] and rebuilt.body == tsum.s()


def test_link_dicts_become_signatures_and_an_equal_link_is_stored_once() -> None:
    s = add.s(1, 1)
    s.link(mul.s(2))
    s.link(mul.s(2))
    s.link_error(dict(xsum.s()))
    assert s.options["link"] == [mul.s(2)] and isinstance(s.options["link_error"][0], Signature)
    assert _round_trip(s).options["link"] == [mul.s(2)]


def test_replace_swaps_parts_whole_and_clone_merges() -> None:
    s = add.s(1, y=2).set(queue="a")
    assert s.replace(args=(5,)).args == (5,) and s.replace(kwargs={"z": 1}).kwargs == {"z": 1}
    assert s.replace(options={"priority": 3}).options == {"priority": 3}
    assert s.clone((0,), {"w": 1}, priority=3) == add.s(0, 1, y=2, w=1).set(queue="a", priority=3)
    assert s.args == (1,)  # the original is left alone


def test_immutable_signatures_ignore_partial_arguments() -> None:
    s = add.si(1, 2)
    assert s.clone((5,), {"y": 7}).args == (1, 2) and s.clone((5,), {"y": 7}).kwargs == {}
    m = add.s(1)
    m.set_immutable(True)
    assert m.immutable and m.clone((5,)).args == (1,)
    g = group(add.s(1), add.s(2))
    g.set_immutable(True)
    assert all(t.immutable for t in g.tasks)
    c = chord([add.s(1)], tsum.s())
    c.set_immutable(True)
    assert c.tasks[0].immutable and not c.body.immutable
    frozen_chain = add.s(1) | add.s(2)
    frozen_chain.set(immutable=True)
    assert frozen_chain.clone((9,)).tasks[0].args == (1,)


def test_ids_given_to_a_chain_or_chord_are_its_last_tasks_and_the_bodys() -> None:
    c = add.s(1) | add.s(2)
    res = c.freeze()
    assert c.id == res.id == c.tasks[-1].id
    assert chain(add.s(1), add.s(2), task_id="last").freeze().id == "last"
    assert chord([add.s(1)], tsum.s(), task_id="body").freeze().id == "body"


def test_an_empty_chain_sends_nothing_and_returns_none() -> None:
    assert chain().apply_async() is None and chain()() is None


def test_group_apply_async_refuses_links_as_celery_does() -> None:
    with pytest.raises(TypeError, match="Cannot add link to group"):
        group(add.s(1, 1)).apply_async(link=mul.s(2))


def test_unchain_tasks_moves_links_to_the_last_step_and_errbacks_to_every_step() -> None:
    c = add.s(1) | add.s(2)
    c.link(mul.s(2))
    c.link_error(xsum.s())
    first, last = c.unchain_tasks()
    assert "link" not in first.options and last.options["link"] == [mul.s(2)]
    assert first.options["link_error"] == last.options["link_error"] == [xsum.s()]


def test_apply_runs_canvases_here_and_returns_eager_results() -> None:
    res = (add.s(2, 2) | mul.s(3)).apply()
    assert isinstance(res, EagerResult) and isinstance(res, AsyncResult)
    assert (res.get(), res.state, res.ready(), res.successful()) == (12, "SUCCESS", True, True)
    assert group(add.s(1, 1), add.s(2, 2)).apply().get() == [2, 4]
    assert chord([add.s(1, 1), add.s(2, 2)], tsum.s()).apply().get() == 6
    assert add.si(1, 2).apply((5,)).get() == 3
    failed = add.s("x").apply((1,))
    assert failed.failed() and isinstance(failed.result, TypeError)
    with pytest.raises(TypeError):
        add.s("x").apply((1,), throw=True)


def test_task_always_eager_runs_apply_async_here(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(app.conf, "task_always_eager", True)
    res = add.delay(2, 3)
    assert isinstance(res, EagerResult) and res.get() == 5
    assert (add.s(1, 1) | mul.s(10)).apply_async().get() == 20


def test_app_conf_has_celerys_names_and_defaults() -> None:
    previous = state.current_app()
    a = App("conf-test")  # becomes the current app, as in Celery
    try:
        assert a.conf.task_always_eager is False and a.conf.result_expires == 86_400
        a.conf.update(result_expires=60)
        a.conf.task_allow_error_cb_on_chord_header = True
        assert a.conf["result_expires"] == 60 and a.conf.task_allow_error_cb_on_chord_header
        a.conf.config_from_object({"broker_url": "redis://", "_private": 1})
        assert a.conf.broker_url == "redis://" and "_private" not in a.conf
        with pytest.raises(AttributeError, match="no setting 'nope'"):
            _ = a.conf.nope
    finally:
        state.set_current_app(previous)


def test_chord_errbacks_reach_the_header_when_the_app_says_so(monkeypatch: pytest.MonkeyPatch) -> None:
    c = chord([add.s(1), add.s(2)], tsum.s())
    monkeypatch.setitem(app.conf, "task_allow_error_cb_on_chord_header", True)
    c.link_error(xsum.s())
    # A copy each, called like the errback itself (Celery's clone(immutable=True) sets only an option).
    assert [t.options["link_error"] for t in c.tasks] == [[xsum.s()], [xsum.s()]]
    assert c.body.options["link_error"] == [xsum.s()]
    monkeypatch.setitem(app.conf, "task_allow_error_cb_on_chord_header", False)
    plain: Any = chord([add.s(1)], tsum.s())
    plain.link_error(xsum.s())
    assert "link_error" not in plain.tasks[0].options


def test_a_chord_hints_how_many_completions_it_waits_for() -> None:
    c = chord([add.s(1), group(add.s(2), add.s(3)), add.s(1) | add.s(2), chord([add.s(1)], tsum.s())], tsum.s())
    assert c.__length_hint__() == 1 + 2 + 1 + 1


def test_maps_and_chunks_are_immutable_and_known_by_their_task_name() -> None:
    m, ck = xmap(add.s(), [1, 2]), chunks(add.s(), [(1, 1)], 1)
    assert (m.subtask_type, m.immutable, m.task) == (None, True, "celery.map")
    assert (ck.subtask_type, ck.immutable) == (None, True)
    assert type(signature(dict(m), app=app)) is xmap and type(signature(dict(ck), app=app)) is chunks


def test_views_and_helpers_celery_code_uses() -> None:
    c = add.s(1) | add.s(2)
    c.freeze()
    assert c.tasks[1].parent_id == c.tasks[0].id and c.tasks[1].root_id == c.tasks[0].id
    s = add.s(1)
    s.link(mul.s(2)).link(xsum.s())
    assert [t.task for t in s.flatten_links()] == [add.name, mul.name, xsum.name]
    assert s.stamp(tenant="acme") is None and s.options["stamps"] == {"tenant": "acme"}
    assert isinstance(group(add.s(1), add.s(2)) | None, chord)
