"""The robustness suite's tasks: each execution appends one line to a file of its own process.

A line is ``tag task_id retries worker pid``; the checker counts executions from these files
(``O_APPEND`` writes of one short line do not interleave).
"""

from __future__ import annotations

import os
import random
import time
from typing import Any

from motet import App

app = App("robust")


def _record(tag: str, task_id: str, retries: int) -> None:
    folder = os.environ.get("MOTET_ROBUST_DIR")
    if not folder:
        return
    worker = os.environ.get("MOTET_ROBUST_WORKER", "?")
    line = f"{tag} {task_id} {retries} {worker} {os.getpid()} {time.time():.3f}\n"
    fd = os.open(os.path.join(folder, f"exec-{os.getpid()}"), os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, line.encode())
    finally:
        os.close(fd)


def _pause(tag: str) -> None:
    time.sleep(random.Random(tag).uniform(0.0, 0.15))


@app.task(bind=True)
def work(self: Any, tag: str) -> str:
    """A leaf: returns its tag."""
    _record(tag, self.request.id or "", int(self.request.retries))
    _pause(tag)
    return tag


@app.task(bind=True)
def step(self: Any, prev: str, tag: str) -> str:
    """A chain step: appends its tag to what came before."""
    _record(tag, self.request.id or "", int(self.request.retries))
    _pause(tag)
    return f"{prev}>{tag}"


@app.task(bind=True)
def body(self: Any, values: list[Any], tag: str) -> list[Any]:
    """A chord body: returns the header values it was given, in the order given."""
    _record(tag, self.request.id or "", int(self.request.retries))
    return values


@app.task(bind=True, max_retries=3)
def flaky(self: Any, tag: str) -> str:
    """Retries once with a countdown, then returns its tag."""
    _record(tag, self.request.id or "", int(self.request.retries))
    if self.request.retries < 1:
        raise self.retry(countdown=0.5)
    return tag
