"""`self.add_to_chord(sig)` (Celery 5.7): a running header member enlarges its chord;
the body waits for the new member and gets its value appended to the header results."""

from __future__ import annotations

import time

import pytest

from examples.guide.tasks import add, identity
from motet import chain, chord, group
from motet.exceptions import NotInChord
from tests.e2e.tasks import grow_chord

T = 30


def test_the_body_waits_for_the_added_member_and_gets_its_value_appended(cluster: object) -> None:
    started = time.monotonic()
    res = chord([grow_chord.s(1, "slow:10"), add.s(2, 2)], identity.s())()
    assert res.get(timeout=T) == [1, 4, 20]
    assert time.monotonic() - started >= 0.4  # slow_add takes 0.4 s: the body waited for it


def test_several_members_can_add_several_members_each(cluster: object) -> None:
    res = chord([grow_chord.s(1, "slow:1", "slow:2"), grow_chord.s(2, "slow:3")], identity.s())()
    values = res.get(timeout=T)
    assert values[:2] == [1, 2]
    assert sorted(values[2:]) == [2, 4, 6]  # appended in the order they were added


def test_the_added_member_belongs_to_the_chord_and_was_sent_by_the_adding_task(cluster: object) -> None:
    res = chord([grow_chord.s(7, "info")], identity.s())()
    seven, info = res.get(timeout=T)
    adder = res.parent.results[0]
    assert seven == 7
    assert (info["group_id"], info["group_index"]) == (res.parent.id, 1)
    assert (info["parent_id"], info["root_id"]) == (adder.id, adder.id)


@pytest.mark.parametrize(
    "canvas",
    [
        pytest.param(lambda: grow_chord.s(1, "slow:1"), id="alone"),
        pytest.param(lambda: group(grow_chord.s(1, "slow:1"), add.s(1, 1)), id="plain group member"),
    ],
)
def test_a_task_not_in_a_chord_cannot_add_to_one(cluster: object, canvas: object) -> None:
    res = canvas().delay()  # type: ignore[operator]
    with pytest.raises(NotInChord, match="not a member"):
        res.get(timeout=T)


def test_a_chain_step_before_the_last_in_a_header_is_not_a_member(cluster: object) -> None:
    res = chord([grow_chord.s(1, "slow:1") | add.s(1)], identity.s())()
    step = res.parent.results[0].parent  # Celery: only a chain's last step belongs to the chord
    with pytest.raises(NotInChord, match="not a member"):
        step.get(timeout=T)


def test_a_chain_s_last_step_in_a_header_is_a_member(cluster: object) -> None:
    res = chord([chain(add.s(1, 1), grow_chord.s("slow:5")), add.s(3, 3)], identity.s())()
    assert res.get(timeout=T) == [2, 6, 10]
