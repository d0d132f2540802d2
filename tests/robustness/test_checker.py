"""The checker itself: a made-up history with one violation of each kind is reported in full."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.robustness.test_robustness import Fault, Planned, _check

pytestmark = [pytest.mark.robustness]


class _Done:
    def __init__(self, value: Any) -> None:
        self.value = value
        self.state = "REVOKED"

    def get(self, timeout: float | None = None) -> Any:
        if isinstance(self.value, BaseException):
            raise self.value
        return self.value


def _line(tag: str, task_id: str, retries: int = 0, at: float = 100.0) -> str:
    return f"{tag} {task_id} {retries} w0 1 {at}\n"


def test_every_kind_of_violation_is_listed(tmp_path: Path) -> None:
    history = [
        *(_line("a.0", "ta") for _ in range(6)),  # ran 6 times
        _line("b.0", "tb"),  # b.1 never ran
        _line("c.0", "tc"),
        _line("c.body", "tcb", at=100.0),
        _line("c.body", "tcb", at=101.0),  # the body twice, no fault near
        _line("r.0", "tr"),  # revoked, yet ran
        _line("f.0", "tf", 0),  # the retry never ran
    ]
    (tmp_path / "exec-1").write_text("".join(history))
    planned = [
        Planned("a", "task", _Done("a.0"), "a.0", ["a.0"], submitted=True),
        Planned("b", "chain", _Done("b.0>b.1"), "b.0>b.1", ["b.0", "b.1"], submitted=True),
        Planned("c", "chord", _Done(["c.1"]), ["c.0"], ["c.0"], body_tag="c.body", submitted=True),
        Planned("r", "revoke", _Done(None), None, ["r.0"], revoked=True, submitted=True),
        Planned("f", "retry", _Done(TimeoutError("still PENDING")), "f.0", retry_tags=["f.0"], submitted=True),
    ]
    violations, stats = _check(planned, [Fault("worker_sigkill", "w0", 500.0, 501.0)], tmp_path)
    text = "\n".join(violations)
    assert "ta attempt 0 ran 6 times" in text
    assert "task b.1 never ran (lost)" in text
    assert "c (chord) value ['c.1'] != expected ['c.0']" in text
    assert "chord body ran 2 times with no fault near" in text
    assert "revoked task r.0 ran 1 times" in text
    assert "f (retry) did not end well: TimeoutError: still PENDING" in text
    assert "expected 0 and 1" in text
    assert stats["violations"] == len(violations) == 7
