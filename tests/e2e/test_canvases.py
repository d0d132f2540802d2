"""Nested canvases, failures downstream and time options on a real cluster."""

from __future__ import annotations

import datetime as dt
import time

import pytest

from examples.guide.tasks import add, identity, mul, raising_task, sleep_task, tsum, xsum
from motet import AsyncResult, chain, chord, group
from motet.exceptions import ChordError, TaskRevokedError

T = 30


def test_chord_of_chords(cluster: object) -> None:
    inner_a = chord([add.s(1, 1), add.s(2, 2)], xsum.s())
    inner_b = chord([add.s(3, 3)], xsum.s())
    assert chord([inner_a, inner_b], xsum.s())().get(timeout=T) == 12


def test_group_of_chains(cluster: object) -> None:
    assert group(add.s(1, 1) | mul.s(2), add.s(2, 2) | mul.s(3))().get(timeout=T) == [4, 12]


def test_chain_ending_in_a_group_forwards_the_value(cluster: object) -> None:
    res = (add.s(1, 1) | group(add.s(1), add.s(2)))()
    assert res.get(timeout=T) == [3, 4]
    assert res.parent.get(timeout=T) == 2


def test_nested_group_in_a_chord_header_is_spliced_in_order(cluster: object) -> None:
    # Celery 5.7: a group in a chord header is flattened into the body's list; Motet
    # keeps submission order where Celery reverses it (docs/celery-differences.md, point 2).
    res = chord([group(add.s(i, i) for i in range(3)), add.s(10, 10)], identity.s())()
    assert res.get(timeout=T) == [0, 2, 4, 20]
    assert len(res.parent.results) == 4
    res = chord([identity.s(0), group(identity.s(1), identity.s(2), identity.s(3)), identity.s(4)], identity.s())()
    assert res.get(timeout=T) == [0, 1, 2, 3, 4]


def test_a_group_in_a_group_is_spliced_in_submission_order(cluster: object) -> None:
    # Celery 5.7: group(group(1, 2), 3) gives [1, 2, 3]; frozen first (the end of a
    # chain) Celery gives [2, 1, 3], Motet still [1, 2, 3].
    res = group(group(identity.s(1), identity.s(2)), identity.s(3))()
    assert res.get(timeout=T) == [1, 2, 3]
    assert [r.get(timeout=T) for r in res.results] == [1, 2, 3]
    res = (identity.si(0) | group(group(identity.si(1), identity.si(2)), identity.si(3)))()
    assert res.get(timeout=T) == [1, 2, 3]
    assert group(group(add.s(1, 1), group(add.s(2, 2), add.s(3, 3))), add.s(4, 4))().get(timeout=T) == [2, 4, 6, 8]
    # Read back from a fresh handle, the group's children are the flat member list too.
    assert [r.id for r in AsyncResult(res.parent.id).children[0].results] == [r.id for r in res.results]


def test_a_chain_ending_in_a_group_still_gives_a_nested_list(cluster: object) -> None:
    # Celery 5.7: chord(group(chain(id(42), group(id(), id()))), id.s()) gives [[42, 42]].
    res = chord(group(identity.s(42) | group(identity.s(), identity.s())), identity.s())()
    assert res.get(timeout=T) == [[42, 42]]
    assert group(add.s(1, 1) | group(add.s(1), add.s(2)), add.s(5, 5))().get(timeout=T) == [[3, 4], 10]


def test_a_long_chain_with_groups_and_a_chord_between_its_steps(cluster: object) -> None:
    # Longer than the steps a task record carries (CHAIN_INLINE_STEPS): the rest are read from
    # stored chain segments as the chain reaches them, past a group and a chord midway.
    steps = [add.s(1) for _ in range(60)]
    c = chain(add.s(0, 0), *steps[:20], group(add.s(1), add.s(2)), xsum.s(), *steps[20:40])
    c = chain(c, chord([add.s(10), add.s(20)], xsum.s()), *steps[40:])
    res = c()
    # 0, +20 = 20, [21, 22] -> 43, +20 = 63, [73, 83] -> 156, +20 = 176
    assert res.get(timeout=T) == 176
    node, hops = res, 0
    while node.parent is not None:
        node, hops = node.parent, hops + 1
    assert hops > 60


def test_chain_of_chords(cluster: object) -> None:
    c = chord([add.s(1, 1), add.s(2, 2)], xsum.s()) | group(add.s(1), add.s(2)) | xsum.s()
    assert c().get(timeout=T) == 15


def test_empty_chord_header_calls_the_body_with_an_empty_list(cluster: object) -> None:
    assert chord([], tsum.s())().get(timeout=T) == 0


def test_wide_chord_1000(cluster: object) -> None:
    assert chord(add.s(i, i) for i in range(1000))(tsum.s()).get(timeout=120) == 999000


def test_a_failed_step_fails_everything_downstream_promptly(cluster: object) -> None:
    res = (add.s(1, 1) | raising_task.s() | add.s(1) | group(add.s(1), add.s(2)))()
    with pytest.raises(ValueError, match="something something"):
        res.get(timeout=T)
    assert [r.state for r in res.results] == ["FAILURE", "FAILURE"]
    assert res.parent.state == "FAILURE"


def test_chord_error_names_the_failed_member(cluster: object) -> None:
    res = chord([add.s(4, 4), raising_task.s(), add.s(8, 8)], xsum.s())()
    # Celery 5.7: get() follows parents and raises the member's original exception; the body's
    # own result is the ChordError naming that member.
    with pytest.raises(ValueError, match="something something"):
        res.get(timeout=T)
    with pytest.raises(ChordError, match="raised ValueError") as info:
        res.get(timeout=T, follow_parents=False)
    assert isinstance(res.result, ChordError)
    failed_member = res.parent.results[1]
    assert failed_member.id in str(info.value)
    assert res.parent.results[2].get(timeout=T) == 16  # the other members still ran


def test_countdown_delays_the_start(cluster: object) -> None:
    started = time.monotonic()
    assert add.apply_async((1, 1), countdown=1).get(timeout=T) == 2
    assert time.monotonic() - started >= 0.9


def test_a_countdown_on_a_chord_delays_the_header_and_the_body_follows_at_once(cluster: object) -> None:
    # Celery 5.7: countdown / eta on a chord delay its header members only;
    # the body follows as soon as the header is done (3 s countdown, done at 3.2 s).
    for submit in (
        lambda: chord([add.s(1, 1), add.s(2, 2), sleep_task.s(0.2)], identity.s()).apply_async(countdown=1.5),
        lambda: chord([add.s(1, 1), add.s(2, 2), sleep_task.s(0.2)])(identity.s(), countdown=1.5),
        lambda: (group(add.s(1, 1), add.s(2, 2), sleep_task.s(0.2)) | identity.s()).apply_async(countdown=1.5),
        lambda: chord([add.s(1, 1), add.s(2, 2), sleep_task.s(0.2)], identity.s()).apply_async(
            eta=dt.datetime.now(dt.UTC) + dt.timedelta(seconds=1.5)
        ),
    ):
        sent = time.time()
        res = submit()
        assert res.get(timeout=T) == [2, 4, 0.2]
        header_done = max(r.date_done.timestamp() for r in res.parent.results)
        assert min(r.date_done.timestamp() for r in res.parent.results) >= sent + 1.4  # the header waited
        assert res.date_done.timestamp() - header_done < 0.5  # the body did not wait again
        assert res.date_done.timestamp() - sent < 1.5 + 1.5


def test_expired_task_is_revoked(cluster: object) -> None:
    res = add.apply_async((1, 1), countdown=1.5, expires=0.5)
    with pytest.raises(TaskRevokedError):
        res.get(timeout=T)
    assert res.state == "REVOKED"


def test_revoking_a_later_step_revokes_it_and_what_follows(cluster: object) -> None:
    res = (sleep_task.s(0.5) | add.si(1, 1) | add.s(1))()
    res.parent.revoke()
    with pytest.raises(TaskRevokedError):
        res.get(timeout=T)
    assert res.parent.state == "REVOKED"
    assert res.parent.parent.get(timeout=T) == 0.5


def test_revoking_the_root_cancels_the_canvas(cluster: object) -> None:
    res = add.apply_async((1, 1), countdown=2, link=add.s(5))
    tail = (add.si(1, 1) | add.s(1)).apply_async(countdown=2)
    AsyncResult(tail.parent.id).revoke()
    with pytest.raises(TaskRevokedError):
        tail.get(timeout=T)
    res.revoke()
    with pytest.raises(TaskRevokedError):
        res.get(timeout=T)


def test_parent_and_children_in_a_fresh_result_object(cluster: object) -> None:
    res = add.apply_async((2, 2), link=mul.s(16))
    assert res.get(timeout=T) == 4
    fresh = AsyncResult(res.id)
    assert [c.get(timeout=T) for c in fresh.children] == [64]
    chained = (add.s(1, 1) | mul.s(3))()
    chained.get(timeout=T)
    assert AsyncResult(chained.id).parent.id == chained.parent.id


def test_a_chain_errback_runs_once_for_the_step_that_failed(cluster: object, record_dir: str) -> None:
    import os

    from examples.guide.tasks import log_error

    path = os.path.join(record_dir, "log_error")
    before = len(open(path).read().splitlines()) if os.path.exists(path) else 0
    c = (add.s(1, 1) | raising_task.s() | add.s(1)).on_error(log_error.s())
    res = c()
    with pytest.raises(ValueError):
        res.get(timeout=T)
    failed_id = res.parent.id

    def read() -> list[str]:
        if not os.path.exists(path):
            return []
        with open(path) as fh:
            return fh.read().splitlines()[before:]

    deadline = time.time() + T
    while not read() and time.time() < deadline:
        time.sleep(0.05)
    time.sleep(0.3)  # a second (wrong) call would show up now
    lines = read()
    assert lines == [f"{failed_id} ValueError: something something"]


def test_tagged_values_pass_from_a_result_into_the_next_arguments(cluster: object) -> None:
    """A datetime, Decimal, UUID or bytes result reaches the next chain step, a chord body and a
    callback as itself: the scheduler moves kombu's tagged values on without interpreting them
    (it decoded them into Python values, and failed to encode a datetime again)."""
    import decimal
    import uuid

    when = dt.datetime(2026, 12, 2, 13, 30, tzinfo=dt.UTC)
    values = [when, decimal.Decimal("1.10"), uuid.UUID(int=7), b"\x00\xff"]
    for value in values:
        assert (identity.s(value) | identity.s()).apply_async().get(timeout=T) == value
    assert chord([identity.s(v) for v in values], identity.s())().get(timeout=T) == values
    after = identity.s().set(task_id=str(uuid.uuid4()))
    identity.s(when).apply_async(link=after).get(timeout=T)
    assert AsyncResult(after.id).get(timeout=T) == when
