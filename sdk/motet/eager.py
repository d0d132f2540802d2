"""EagerResult: the outcome of running a canvas inline with `.apply()` (nothing submitted)."""

from __future__ import annotations

import traceback as tb_module
from collections.abc import Callable
from typing import Any

__all__ = ["EagerResult"]


class EagerResult:
    """A result that is already known (Celery's EagerResult).

    Args:
        id: The task id given to the inline run.
        value: The return value, or the exception raised.
        state: "SUCCESS" or "FAILURE".
        traceback: The traceback text of a failure.
    """

    def __init__(self, id: str, value: Any, state: str, traceback: str | None = None) -> None:  # noqa: A002 - Celery's parameter name
        self.id = id
        self._value = value
        self.state = state
        self.traceback = traceback

    @classmethod
    def run(cls, fun: Callable[[], Any], *, task_id: str) -> EagerResult:
        """Calls `fun` and records its value or its exception."""
        try:
            return cls(task_id, fun(), "SUCCESS")
        except Exception as exc:  # noqa: BLE001 - recorded as the result's failure
            return cls(task_id, exc, "FAILURE", "".join(tb_module.format_exception(exc)))

    @property
    def task_id(self) -> str:
        """The task id."""
        return self.id

    @property
    def status(self) -> str:
        """The state (Celery's alias)."""
        return self.state

    @property
    def result(self) -> Any:
        """The value, or the exception."""
        return self._value

    info = result

    def get(self, timeout: float | None = None, propagate: bool = True, **_: Any) -> Any:
        """The value; the exception is raised if the run failed and `propagate` is true."""
        if self.state == "FAILURE" and propagate:
            raise self._value
        return self._value

    wait = get

    def ready(self) -> bool:
        """Always true."""
        return True

    def successful(self) -> bool:
        """Whether the run returned."""
        return self.state == "SUCCESS"

    def failed(self) -> bool:
        """Whether the run raised."""
        return self.state == "FAILURE"

    def __repr__(self) -> str:
        return f"<EagerResult: {self.id}>"
