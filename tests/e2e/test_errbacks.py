"""Callbacks and errbacks as Celery 5.7 calls them (Celery 5.7), on a real cluster:
the calling conventions, and who gets called how often."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from examples.guide.tasks import add, app, fail, mul, xsum
from motet import GroupResult, chain, chord, group
from tests.e2e.notes import new_tag, notes
from tests.e2e.tasks import eb_bound, eb_new, eb_old, eb_plain, eb_star, note_value, retry_task

T = 30


def _fails(res: object) -> None:
    with pytest.raises(Exception):  # noqa: B017, PT011 - which error is asserted elsewhere
        res.get(timeout=T)  # type: ignore[attr-defined]


# -- calling conventions ---------------------------------------------------------------------


def test_a_new_style_errback_gets_request_exc_traceback_then_its_own_args(cluster: object) -> None:
    tag = new_tag()
    res = fail.s(1, 2).on_error(eb_new.s(tag)).delay()
    _fails(res)
    (call,) = notes(tag, 1)
    assert call["style"] == "new"
    assert (call["id"], call["root_id"], call["exc"], call["message"]) == (res.id, res.id, "RuntimeError", "fail")
    assert call["traceback"] and call["task"] == fail.name and call["args"] == [1, 2]


def test_an_errback_taking_star_args_is_new_style(cluster: object) -> None:
    tag = new_tag()
    res = fail.s().on_error(eb_star.s(tag)).delay()
    _fails(res)
    (call,) = notes(tag, 1)
    assert (call["style"], call["n"], call["id"], call["exc"]) == ("new", 4, res.id, "RuntimeError")


def test_an_errback_of_one_parameter_gets_the_failed_task_id(cluster: object) -> None:
    tag = new_tag()
    res = fail.s().on_error(eb_old.s(tag=tag)).delay()
    _fails(res)
    assert notes(tag, 1) == [{"tag": tag, "style": "old", "failed": res.id}]


def test_a_bound_errback_is_old_style_and_its_parent_is_the_failed_task(cluster: object) -> None:
    tag = new_tag()
    res = fail.s().on_error(eb_bound.s(tag)).delay()
    _fails(res)
    (call,) = notes(tag, 1)
    assert (call["style"], call["failed"], call["parent_id"], call["root_id"]) == ("old", res.id, res.id, res.id)


def test_an_immutable_errback_gets_only_its_own_args(cluster: object) -> None:
    tag = new_tag()
    _fails(fail.s().on_error(eb_plain.si(tag, "mine")).delay())
    _fails(fail.s().on_error(eb_star.si(tag)).delay())
    calls = notes(tag, 2)
    assert sorted(c["style"] + str(c.get("extra", c.get("n"))) for c in calls) == ["own1", "ownmine"]


def test_several_errbacks_on_one_task_each_run_once(cluster: object) -> None:
    tag = new_tag()
    res = fail.s().on_error(eb_new.s(tag)).on_error(eb_old.s(tag=tag)).on_error(eb_plain.si(tag, "x")).delay()
    _fails(res)
    assert sorted(c["style"] for c in notes(tag, 3)) == ["new", "old", "own"]


def test_errbacks_run_on_failure_not_on_retry(cluster: object) -> None:
    tag = new_tag()
    assert retry_task.s(2).on_error(eb_new.s(tag)).delay().get(timeout=T) == 2  # retried twice
    assert notes(tag, 1, timeout=1) == []


def test_several_callbacks_are_one_group_child_and_each_gets_the_value_once(cluster: object) -> None:
    tag = new_tag()
    res = add.apply_async((2, 2), link=[mul.s(4), add.s(1), note_value.s(tag)])
    assert res.get(timeout=T) == 4
    (child,) = res.children
    assert isinstance(child, GroupResult)
    assert child.get(timeout=T) == [16, 5, 4]
    assert [c["value"] for c in notes(tag, 1)] == [4]


def test_one_callback_is_its_own_child(cluster: object) -> None:
    res = add.apply_async((2, 2), link=mul.s(4))
    assert res.get(timeout=T) == 4
    (child,) = res.children
    assert not isinstance(child, GroupResult) and child.get(timeout=T) == 16


# -- who gets called how often ---------------------------------------------------------------


def test_a_chain_s_callback_gets_the_last_task_s_value_once(cluster: object) -> None:
    tag = new_tag()
    c = chain(add.s(1, 1), add.s(1), add.s(1))
    c.link(note_value.s(tag))
    assert c().get(timeout=T) == 4
    assert [n["value"] for n in notes(tag, 1)] == [4]
    other = new_tag()
    assert chain(add.s(1, 1), mul.s(10)).apply_async(link=note_value.s(other)).get(timeout=T) == 20
    assert [n["value"] for n in notes(other, 1)] == [20]


def test_a_chain_s_errback_reaches_every_step_and_runs_once(cluster: object) -> None:
    tag = new_tag()
    res = chain(add.s(1, 1), fail.s(), add.s(1)).on_error(eb_new.s(tag))()
    _fails(res)
    (call,) = notes(tag, 1)
    assert call["id"] == res.parent.id  # the step that failed
    # A step's own errback and the chain's both run (Celery adds the chain's to every step).
    own, chained = new_tag(), new_tag()
    _fails(chain(add.s(1, 1), fail.s().on_error(eb_old.s(tag=own))).on_error(eb_old.s(tag=chained))())
    assert len(notes(own, 1)) == 1 and len(notes(chained, 1)) == 1


def test_a_group_s_errback_runs_once_per_failing_member(cluster: object) -> None:
    tag = new_tag()
    g = group(fail.s(), add.s(1, 1), fail.s())
    g.link_error(eb_new.s(tag))
    res = g()
    _fails(res)
    calls = notes(tag, 2)
    assert sorted(c["id"] for c in calls) == sorted([res.results[0].id, res.results[2].id])
    assert {c["group_id"] for c in calls} == {res.id}


def test_a_chain_ending_in_a_group_runs_its_errback_per_failing_member(cluster: object) -> None:
    tag = new_tag()
    _fails(chain(add.s(1, 1), group(fail.s(), fail.s(), add.s(1))).on_error(eb_old.s(tag=tag))())
    assert len(notes(tag, 2)) == 2


def test_a_chord_header_failure_runs_the_errback_once_with_the_body_s_id_and_chord_error(cluster: object) -> None:
    tag = new_tag()
    body = note_value.s(tag)
    c = chord([add.s(1, 1), fail.s(), fail.s()], body)
    c.link_error(eb_new.s(tag))
    res = c()
    _fails(res)
    (call,) = notes(tag, 1)  # the body (note_value) never runs: it would note too
    assert (call["style"], call["id"], call["exc"]) == ("new", res.id, "ChordError")


def test_a_chord_body_failure_runs_the_errback_once(cluster: object) -> None:
    tag = new_tag()
    res = chord([add.s(1, 1), add.s(2, 2)], fail.s().on_error(eb_new.s(tag)))()
    _fails(res)
    (call,) = notes(tag, 1)
    assert (call["id"], call["exc"]) == (res.id, "RuntimeError")


def test_a_chord_s_errback_via_apply_async_reaches_the_body(cluster: object) -> None:
    tag = new_tag()
    _fails(chord([add.s(1, 1)], fail.s()).apply_async(link_error=eb_old.s(tag=tag)))
    assert len(notes(tag, 1)) == 1


def test_a_chord_with_a_group_body_runs_the_errback_per_failing_body_member(cluster: object) -> None:
    tag = new_tag()
    c = chord([add.s(1, 1)], group(fail.s(), xsum.s(), fail.s()))
    c.link_error(eb_old.s(tag=tag))
    _fails(c())
    assert len(notes(tag, 2)) == 2


def test_a_chord_in_a_chord_header_runs_the_outer_errback_once(cluster: object) -> None:
    tag = new_tag()
    c = chord([chord([fail.s(), add.s(1, 1)], xsum.s()), add.s(2, 2)], xsum.s())
    c.link_error(eb_old.s(tag=tag))
    _fails(c())
    assert len(notes(tag, 1)) == 1


@pytest.fixture
def errbacks_on_chord_headers() -> Iterator[None]:
    app.conf.task_allow_error_cb_on_chord_header = True
    try:
        yield
    finally:
        app.conf.task_allow_error_cb_on_chord_header = False


def test_with_the_header_setting_each_failed_member_and_the_body_call_the_errback(
    cluster: object, errbacks_on_chord_headers: None
) -> None:
    tag = new_tag()
    c = chord([fail.s(), add.s(1, 1), fail.s()], xsum.s())
    c.link_error(eb_star.s(tag))
    res = c()
    _fails(res)
    calls = notes(tag, 3)
    # Celery 5.7: each header member gets `errback.clone(immutable=True)`, which sets only an
    # option, so the copies are called as the errback itself (new style) - for the two failed
    # members with their own request and error, and once for the body with the ChordError.
    assert [c["style"] for c in calls] == ["new", "new", "new"]
    failed_members = {res.parent.results[0].id, res.parent.results[2].id}
    by_id = {c["id"]: c["exc"] for c in calls}
    assert by_id == {**dict.fromkeys(failed_members, "RuntimeError"), res.id: "ChordError"}
