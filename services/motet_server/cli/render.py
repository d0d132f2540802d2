"""How the operator commands show a result in a terminal: state, timing, value or error, colour.

Colour is ANSI SGR, used only when asked (`--color always`) or when the stream is a terminal and
NO_COLOR is not set (`--color auto`, the default), so piped output stays plain text.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import sys
from typing import Any, TextIO

from motet import payload
from motet.exceptions import MotetError
from motet.result import READY_STATES, state_name
from motet.v1 import results_pb2

__all__ = ["COLOR_CHOICES", "Palette", "complain", "describe", "duration", "error_line", "value_json"]

COLOR_CHOICES = ("auto", "always", "never")
"""What --color accepts."""

_STATE_SGR = {
    "SUCCESS": "32",  # green
    "FAILURE": "31",  # red
    "REVOKED": "35",  # magenta
    "RETRY": "33",  # yellow
    "STARTED": "36",  # cyan
    "RECEIVED": "36",
}
_VALUE_WIDTH = 80
_ERROR_WIDTH = 120


class Palette:
    """Colours text when enabled; a no-op otherwise."""

    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled

    @classmethod
    def choose(cls, mode: str, stream: TextIO) -> Palette:
        """`always`, `never`, or `auto`: on when `stream` is a terminal and NO_COLOR is unset."""
        if mode == "auto":
            return cls(stream.isatty() and not os.environ.get("NO_COLOR"))
        return cls(mode == "always")

    def paint(self, text: str, sgr: str) -> str:
        """`text` in the SGR attributes `sgr` ("1;31"), or as it is when colour is off."""
        return f"\x1b[{sgr}m{text}\x1b[0m" if self.enabled else text

    def state(self, state: str) -> str:
        """A state name in its colour (PENDING stays plain)."""
        sgr = _STATE_SGR.get(state)
        return self.paint(state, sgr) if sgr else state

    def dim(self, text: str) -> str:
        """Secondary text (timing)."""
        return self.paint(text, "2")


def _clip(text: str, width: int) -> str:
    return text if len(text) <= width else text[:width] + "..."


def value_json(result: results_pb2.TaskResult) -> str:
    """A successful result's value as one line of JSON (values JSON cannot hold, such as a
    datetime, as their text)."""
    return json.dumps(payload.decode(result.value), default=str)


def _value_text(result: results_pb2.TaskResult) -> str:
    try:
        return value_json(result)
    except (MotetError, ValueError, TypeError):  # an encoding this process cannot read
        return result.value.data.decode(errors="replace")


def error_line(result: results_pb2.TaskResult) -> str:
    """What a failed or revoked task raised, on one line: "builtins.RuntimeError: fail"."""
    failure = result.failure
    if state_name(result) == "REVOKED" and not failure.exc_type:
        return "revoked"
    message = " ".join(failure.message.split())
    text = f"{failure.exc_type or 'error'}: {message}" if message else failure.exc_type or "error"
    if failure.task_id and failure.task_id != result.task_id:
        text += f" (raised by {failure.task_id})"
    return text


def _done(result: results_pb2.TaskResult) -> dt.datetime | None:
    return result.date_done.ToDatetime(tzinfo=dt.UTC) if result.HasField("date_done") else None


def duration(result: results_pb2.TaskResult, parent: results_pb2.TaskResult | None) -> float | None:
    """Seconds from the parent's completion (when this task's input was ready) to this task's,
    queueing included; None when either is not done (a root task has no start on record)."""
    done, before = _done(result), _done(parent) if parent is not None else None
    if done is None or before is None:
        return None
    return max((done - before).total_seconds(), 0.0)


def describe(
    result: results_pb2.TaskResult, palette: Palette, parent: results_pb2.TaskResult | None = None, **_: Any
) -> str:
    """One line for a result: "proj.add[ID] SUCCESS 4 (done 2026-12-02 04:49:54.374Z, 0.002s)".

    The value (successful) or error (failed, revoked) comes right after the state; pending tasks
    name their queue.
    """
    state = state_name(result)
    text = f"{result.task or '?'}[{result.task_id}] {palette.state(state)}"
    if state == "SUCCESS" and result.value.data:
        text += " " + _clip(_value_text(result), _VALUE_WIDTH)
    elif state in ("FAILURE", "REVOKED", "RETRY") and (result.failure.exc_type or state == "REVOKED"):
        text += " " + palette.paint(_clip(error_line(result), _ERROR_WIDTH), "31")
    elif state == "PENDING" and result.queue:
        text += f" (waiting in queue {result.queue})"
    done = _done(result)
    if done is not None and state in READY_STATES:
        took = duration(result, parent)
        when = done.strftime("%Y-%m-%d %H:%M:%S.") + f"{done.microsecond // 1000:03d}Z"
        text += " " + palette.dim(
            f"(done {when}" + (f", {took:.3f}s after its parent" if took is not None else "") + ")"
        )
    return text


def complain(command: str, text: object) -> None:
    """A client command's error: one line on stderr, ``motet COMMAND: what went wrong`` (the
    message's own line breaks folded into spaces)."""
    sys.stderr.write(f"motet {command}: {' '.join(str(text).split())}\n")
