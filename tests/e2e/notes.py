"""Reading what the noting tasks of tests/e2e/tasks.py recorded (errbacks and callbacks run as
tasks of their own, so a test waits for their notes)."""

from __future__ import annotations

import json
import os
import time
import uuid
from typing import Any

__all__ = ["new_tag", "notes"]


def new_tag() -> str:
    """A tag no other test uses."""
    return uuid.uuid4().hex


def _read(tag: str) -> list[dict[str, Any]]:
    path = os.path.join(os.environ["MOTET_TEST_RECORD_DIR"], "notes")
    if not os.path.exists(path):
        return []
    with open(path) as fh:
        lines = [json.loads(line) for line in fh.read().splitlines() if line]
    return [line for line in lines if line["tag"] == tag]


def notes(tag: str, count: int, timeout: float = 30, settle: float = 0.5) -> list[dict[str, Any]]:
    """The notes under `tag` once there are `count` of them, after `settle` seconds in which a
    further (wrong) call would show up; whatever is there at the timeout otherwise."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        if len(_read(tag)) >= count:
            break
        time.sleep(0.05)
    time.sleep(settle)
    return _read(tag)
