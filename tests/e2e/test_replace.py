"""`self.replace(sig)` as in Celery (Celery 5.7): the replacement takes over the task's
id, its group / chord membership, its callbacks and errbacks and the rest of its chain, for
every kind of replacement."""

from __future__ import annotations

import pytest

from examples.guide.tasks import identity
from motet import chord, group
from motet.exceptions import ImproperlyConfigured
from tests.e2e.notes import new_tag, notes
from tests.e2e.tasks import eb_new, note_value, replace_with

T = 30

VALUES = {
    "task": 2,
    "chain": 4,
    "group": [2, 3],
    "chord": 5,
    "chunks": [[2, 3], [4]],
    "empty_group": [],
}


@pytest.mark.parametrize("kind", list(VALUES))
def test_the_replacement_s_value_is_the_task_s_result_and_its_callback_gets_it_once(cluster: object, kind: str) -> None:
    tag = new_tag()
    res = replace_with.s(1, kind).set(link=note_value.s(tag)).delay()
    assert res.get(timeout=T) == VALUES[kind]
    assert res.state == "SUCCESS"
    assert [n["value"] for n in notes(tag, 1)] == [VALUES[kind]]


@pytest.mark.parametrize("kind", list(VALUES))
def test_the_replacement_takes_over_the_rest_of_the_chain(cluster: object, kind: str) -> None:
    res = (replace_with.s(1, kind) | identity.s() | note_value.s("chain-" + kind))()
    assert res.get(timeout=T) == VALUES[kind]
    assert res.parent.parent.get(timeout=T) == VALUES[kind]  # the replaced task's own result


def test_replacements_keep_their_group_and_chord_membership(cluster: object) -> None:
    kinds = list(VALUES)
    g = group(replace_with.s(1, k) for k in kinds)()
    assert g.get(timeout=T) == [VALUES[k] for k in kinds]
    c = chord([replace_with.s(1, k) for k in kinds], identity.s())()
    assert c.get(timeout=T) == [VALUES[k] for k in kinds]
    assert [r.get(timeout=T) for r in g.results] == [VALUES[k] for k in kinds]  # under the members' ids


@pytest.mark.parametrize("kind", ["fail_task", "fail_chain", "fail_group", "fail_chord"])
def test_the_replacement_takes_over_the_task_s_errbacks_which_run_once(cluster: object, kind: str) -> None:
    tag = new_tag()
    res = replace_with.s(1, kind).on_error(eb_new.s(tag)).delay()
    with pytest.raises(Exception):  # noqa: B017, PT011 - RuntimeError, or ChordError for a chord
        res.get(timeout=T)
    assert res.state == "FAILURE"
    assert len(notes(tag, 1)) == 1


def test_replacing_with_an_empty_chain_fails_the_task_with_improperly_configured(cluster: object) -> None:
    res = replace_with.delay(1, "empty_chain")
    with pytest.raises(ImproperlyConfigured, match="empty chain"):
        res.get(timeout=T)
    assert res.state == "FAILURE"
