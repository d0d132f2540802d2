"""The load test's tasks: each execution appends ``tag pid`` to a file of its own process.

``O_APPEND`` writes of one short line do not interleave, so the test counts executions per tag.
"""

from __future__ import annotations

import os

from motet import App

app = App("load")


def _record(tag: str) -> None:
    folder = os.environ.get("MOTET_LOAD_DIR")
    if not folder:
        return
    fd = os.open(os.path.join(folder, f"exec-{os.getpid()}"), os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, f"{tag}\n".encode())
    finally:
        os.close(fd)


@app.task
def add(x: int, y: int, tag: str) -> int:
    """``x + y``, recorded under ``tag``."""
    _record(tag)
    return x + y


@app.task
def tsum(values: list[int], tag: str) -> int:
    """The sum of a chord header's values, recorded under ``tag``."""
    _record(tag)
    return sum(values)
