"""`rpc.metrics.TaskLabels`: task names as label values, capped so a label never grows without bound."""

from __future__ import annotations

import threading
import time

from motet_server.config import METRIC_TASK_NAMES
from motet_server.rpc.metrics import TaskLabels, task_label


def test_the_first_names_keep_their_label_later_ones_read_other_and_a_seen_name_stays_itself() -> None:
    labels = TaskLabels(3)
    assert [labels(n) for n in ("a", "b", "c")] == ["a", "b", "c"]
    assert [labels(n) for n in ("d", "e")] == ["other", "other"]
    # A name seen before the cap was reached keeps its label however often it comes back.
    assert [labels(n) for n in ("b", "a", "d", "c", "a")] == ["b", "a", "other", "c", "a"]
    # A capped name does not take a freed place later: the set of named series is fixed.
    assert labels("d") == "other"


def test_repeats_count_once_toward_the_cap() -> None:
    labels = TaskLabels(2)
    assert [labels("a") for _ in range(5)] == ["a"] * 5
    assert labels("b") == "b"
    assert labels("c") == TaskLabels.OTHER == "other"


def test_a_cap_of_zero_labels_everything_other() -> None:
    labels = TaskLabels(0)
    assert {labels(n) for n in ("a", "b", "a")} == {"other"}


def test_a_name_admitted_while_another_call_for_it_waited_keeps_its_label() -> None:
    labels = TaskLabels(1)
    got: list[str] = []
    # Both calls miss the unlocked fast path and queue on the lock: the second must see that
    # the first admitted the name (the last free place), not read "other" for it.
    with labels._lock:
        callers = [threading.Thread(target=lambda: got.append(labels("x"))) for _ in range(2)]
        for t in callers:
            t.start()
        time.sleep(0.2)
    for t in callers:
        t.join(timeout=5)
    assert got == ["x", "x"]


def test_the_scheduler_label_is_capped_at_the_configured_count() -> None:
    assert task_label.limit == METRIC_TASK_NAMES
