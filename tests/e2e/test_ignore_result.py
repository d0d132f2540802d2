"""ignore_result (Celery 5.7): no result is stored, the state stays PENDING, `get()`
returns None at once; the value still goes on, and a chord member still feeds its chord."""

from __future__ import annotations

import os
import time

import pytest

from examples.guide.tasks import add, raising_task, xsum
from motet import App, AsyncResult, chord, group
from tests.e2e.tasks import quiet_add

T = 30


def _at_once(result: object) -> object:
    started = time.monotonic()
    value = result.get(timeout=T)  # type: ignore[attr-defined]
    assert time.monotonic() - started < 0.05, "get() of an ignored result must not wait"
    return value


def test_a_task_sent_with_ignore_result_stores_nothing_and_get_returns_none_at_once(cluster: object) -> None:
    res = (add.s(2, 2).set(ignore_result=True) | add.s(10))()
    quiet = res.parent
    assert _at_once(quiet) is None
    assert res.get(timeout=T) == 14  # its value still went on to the next step
    assert quiet.state == "PENDING" and not quiet.ready()
    fresh = AsyncResult(quiet.id)
    assert fresh.state == "PENDING" and fresh.result is None and not fresh.ignored
    assert add.apply_async((1, 1), ignore_result=True).get() is None


def test_a_task_declared_ignore_result_stores_nothing(cluster: object, record_dir: str) -> None:
    res = quiet_add.delay(20, 22)
    assert res.ignored and _at_once(res) is None
    deadline = time.time() + T
    while "42" not in _lines(record_dir, "quiet_add") and time.time() < deadline:
        time.sleep(0.05)
    assert "42" in _lines(record_dir, "quiet_add")
    time.sleep(0.2)  # what a completion writes, it writes in the txn that ran before the record
    assert AsyncResult(res.id).state == "PENDING"
    # A client that does not have the task registered sends it by name: the worker declares it
    # ignore_result (WorkerHello), so the scheduler still stores nothing for it.
    other = App("elsewhere")
    sent = other.signature(quiet_add.name, (1, 2)) | other.signature(add.name, (10,))
    out = sent.apply_async()
    assert not out.parent.ignored
    assert out.get(timeout=T) == 13
    assert AsyncResult(out.parent.id).state == "PENDING"


def test_a_chord_member_with_ignore_result_still_feeds_the_chord(cluster: object) -> None:
    res = chord([add.s(1, 1).set(ignore_result=True), add.s(2, 2), quiet_add.s(3, 3)], xsum.s())()
    assert res.get(timeout=T) == 12
    header = res.parent
    assert [r.state for r in header.results] == ["PENDING", "SUCCESS", "PENDING"]
    assert _at_once(header) == [None, 4, None]
    assert group(add.s(1, 1).set(ignore_result=True), add.s(2, 2))().get(timeout=T) == [None, 4]


def test_a_failing_task_with_ignore_result_stores_no_error_but_fails_what_follows(cluster: object) -> None:
    res = (raising_task.s().set(ignore_result=True) | add.s(1))()
    with pytest.raises(ValueError, match="something something"):
        res.get(timeout=T)
    assert _at_once(res.parent) is None
    assert res.parent.state == "PENDING"


def _lines(record_dir: str, kind: str) -> list[str]:
    path = os.path.join(record_dir, kind)
    if not os.path.exists(path):
        return []
    with open(path) as fh:
        return fh.read().split()
