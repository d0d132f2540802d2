"""`self.request` for every kind of member (id, root_id, parent_id, group_id,
group_index, retries, delivery_info), as Celery sets it (Celery 5.7)."""

from __future__ import annotations

import pytest

from examples.guide.tasks import add, fail
from motet import GroupResult, chain, chord, group
from tests.e2e.notes import new_tag, notes
from tests.e2e.tasks import eb_bound, eb_new, replace_with, request_after, request_info

T = 30


def test_chain_steps_have_the_previous_step_as_parent(cluster: object) -> None:
    res = (request_info.s() | request_info.s() | request_info.s())()
    last = res.get(timeout=T)
    middle, first = res.parent.get(timeout=T), res.parent.parent.get(timeout=T)
    assert (first["parent_id"], middle["parent_id"], last["parent_id"]) == (None, first["id"], middle["id"])
    assert {first["root_id"], middle["root_id"], last["root_id"]} == {first["id"]}
    assert {first["group_id"], middle["group_id"], last["group_id"]} == {None}
    assert (first["retries"], first["queue"]) == (0, "celery")


def test_group_members_have_the_group_id_and_their_index(cluster: object) -> None:
    res = group(request_info.s(), request_info.s(), request_info.s())()
    infos = res.get(timeout=T)
    assert [(i["group_id"], i["group_index"]) for i in infos] == [(res.id, 0), (res.id, 1), (res.id, 2)]
    assert {i["parent_id"] for i in infos} == {None}
    assert {i["root_id"] for i in infos} == {res.results[0].id}


def test_a_chain_in_a_group_is_a_member_through_its_last_step(cluster: object) -> None:
    res = group(request_info.s() | request_info.s(), request_info.s())()
    last, other = res.get(timeout=T)
    first = res.results[0].parent.get(timeout=T)
    assert (first["group_id"], first["group_index"]) == (None, None)  # Celery: only the last step
    assert (last["group_id"], last["group_index"], last["parent_id"]) == (res.id, 0, first["id"])
    assert (other["group_id"], other["group_index"]) == (res.id, 1)


def test_chord_header_members_and_the_body(cluster: object) -> None:
    res = chord([request_info.s(), request_after.s(0.5)], request_info.s())()
    body = res.get(timeout=T)
    header = res.parent
    fast, slow = (r.get(timeout=T) for r in header.results)
    assert [(m["group_id"], m["group_index"]) for m in (fast, slow)] == [(header.id, 0), (header.id, 1)]
    assert body["id"] == res.id
    assert body["parent_id"] == slow["id"]  # the last header member to finish
    assert body["group_id"] is None  # the body is no member of its own header
    assert body["root_id"] == fast["root_id"] == fast["id"]


def test_a_chord_in_a_group_is_a_member_through_its_body(cluster: object) -> None:
    res = group(chord([add.s(1, 1)], request_info.s()), request_info.s())()
    body, other = res.get(timeout=T)
    assert (body["group_id"], body["group_index"]) == (res.id, 0)
    assert (other["group_id"], other["group_index"]) == (res.id, 1)


def test_callbacks_have_the_task_that_sent_them_as_parent(cluster: object) -> None:
    res = add.apply_async((1, 1), link=request_info.s())
    assert res.get(timeout=T) == 2
    (child,) = res.children
    info = child.get(timeout=T)
    assert (info["parent_id"], info["root_id"], info["group_id"]) == (res.id, res.id, None)
    both = add.apply_async((1, 1), link=[request_info.s(), request_info.s()])
    both.get(timeout=T)
    (bundle,) = both.children
    assert isinstance(bundle, GroupResult)
    infos = bundle.get(timeout=T)
    assert [(i["group_id"], i["group_index"], i["parent_id"]) for i in infos] == [
        (bundle.id, 0, both.id),
        (bundle.id, 1, both.id),
    ]


def test_errbacks_see_the_failed_task_and_have_it_as_parent(cluster: object) -> None:
    tag = new_tag()
    res = chain(add.s(1, 1), group(fail.s().on_error(eb_new.s(tag)), add.s(1)))()
    with pytest.raises(RuntimeError):
        res.get(timeout=T)
    (call,) = notes(tag, 1)
    failed = res.results[0]
    first = res.parent
    # The request a new-style errback receives is the failed task's.
    assert (call["id"], call["parent_id"], call["root_id"]) == (failed.id, first.id, first.id)
    assert (call["group_id"], call["group_index"]) == (res.id, 0)
    # An old-style (bound) errback is a task whose parent is the failed task.
    bound = new_tag()
    res = fail.s().on_error(eb_bound.s(bound)).delay()
    with pytest.raises(RuntimeError):
        res.get(timeout=T)
    (call,) = notes(bound, 1)
    assert (call["failed"], call["parent_id"], call["root_id"]) == (res.id, res.id, res.id)


def test_a_replacement_runs_as_the_replaced_task(cluster: object) -> None:
    res = (add.s(1, 1) | group(replace_with.s("info"), add.s(1)))()
    info, _ = res.get(timeout=T)
    replaced, first = res.results[0], res.parent
    assert (info["id"], info["root_id"]) == (replaced.id, first.id)
    # It takes the replaced task's place: its parent (Celery would name the replaced task, which
    # is the replacement's own id here) and its membership.
    assert info["parent_id"] == first.id
    assert (info["group_id"], info["group_index"]) == (res.id, 0)
    c = chord([add.s(1, 1), replace_with.s(5, "info")], request_info.s())()
    c.get(timeout=T)
    member = c.parent.results[1]
    info = member.get(timeout=T)
    assert (info["id"], info["group_id"], info["group_index"]) == (member.id, c.parent.id, 1)


@pytest.mark.parametrize("kind", ["task", "chain", "group", "chunks"])
def test_what_follows_a_replaced_task_has_it_as_parent(cluster: object, kind: str) -> None:
    res = (replace_with.s(1, kind) | request_info.s())()
    assert res.get(timeout=T)["parent_id"] == res.parent.id
    replaced = replace_with.s(1, kind).set(link=request_info.s()).delay()
    replaced.get(timeout=T)
    (callback,) = replaced.children
    assert callback.get(timeout=T)["parent_id"] == replaced.id
