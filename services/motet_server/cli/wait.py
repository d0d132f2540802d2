"""`motet wait ID`: a progress bar on stderr while a task, group or chord runs, its value on stdout.

One WaitResult stream carries every result waited for; the bar moves as each arrives (a line
per result when stderr is not a terminal). Exit codes: 0 the value was printed, 1 a task waited
for failed or was revoked (its error on one line), 2 the timeout passed first, 3 the wait could
not be made (a service unreachable, a bad id).
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterable
from typing import Any, TextIO

from motet import payload
from motet.client import Client
from motet.exceptions import MotetError, NotFound, TimeoutError
from motet.result import READY_STATES, state_name
from motet.settings import ClientSettings
from motet.v1 import results_pb2
from motet_server.cli.render import complain, error_line

__all__ = ["EXIT_ERROR", "EXIT_FAILED", "EXIT_OK", "EXIT_TIMEOUT", "Progress", "Shape", "follow", "wait"]

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_TIMEOUT = 2
EXIT_ERROR = 3

Shape = str | None | list[Any]
"""What a value is made of: a task id (its value), None (a task that stores no result: its value
is null), or a list of shapes (a group: the list of its members' values)."""

_BAR = 30


def shape_ids(shape: Shape) -> list[str]:
    """The task ids a shape's value needs, in order."""
    if shape is None:
        return []
    if isinstance(shape, str):
        return [shape]
    return [i for part in shape for i in shape_ids(part)]


def _build(shape: Shape, results: dict[str, results_pb2.TaskResult]) -> Any:
    if shape is None:
        return None
    if isinstance(shape, str):
        return payload.decode(results[shape].value)
    return [_build(part, results) for part in shape]


class Progress:
    """'3 of 5 done' on `stream`: a bar redrawn in place on a terminal, else a line per result."""

    def __init__(self, total: int, stream: TextIO) -> None:
        self.total, self.done, self.stream = total, 0, stream
        self.tty = stream.isatty()
        self._draw(None)

    def _draw(self, result: results_pb2.TaskResult | None) -> None:
        count = f"{self.done} of {self.total} done"
        if self.tty:
            filled = _BAR * self.done // max(self.total, 1)
            self.stream.write(f"\r[{'#' * filled}{'.' * (_BAR - filled)}] {count}")
        elif result is None:
            self.stream.write(f"{count}\n")
        else:
            self.stream.write(f"{count}: {result.task or '?'}[{result.task_id}] {state_name(result)}\n")
        self.stream.flush()

    def advance(self, result: results_pb2.TaskResult) -> None:
        """Counts one more result."""
        self.done += 1
        self._draw(result)

    def close(self) -> None:
        """Ends the bar's line (on a terminal), so what follows starts on its own."""
        if self.tty:
            self.stream.write("\n")
            self.stream.flush()


def follow(
    client: Client,
    shape: Shape,
    watched: Iterable[str],
    timeout: float | None,
    *,
    unknown: str = "",
    out: TextIO = sys.stdout,
    err: TextIO = sys.stderr,
) -> int:
    """Waits over one stream for `watched` (which includes every id of `shape`) until the ids of
    `shape` are ready; prints the value of `shape` as JSON on `out`. `unknown` names an id never
    seen, for the timeout's message. Returns an EXIT_* code."""
    needed = set(shape_ids(shape))
    ids = list(dict.fromkeys([*watched, *shape_ids(shape)]))
    results: dict[str, results_pb2.TaskResult] = {}
    progress = Progress(len(ids), err)
    stream = client.wait(ids, timeout)
    try:
        for result in stream:
            results[result.task_id] = result
            progress.advance(result)
            if result.task_id in needed and state_name(result) != "SUCCESS" and state_name(result) in READY_STATES:
                progress.close()
                verb = "was revoked" if state_name(result) == "REVOKED" else "failed"
                err.write(f"motet wait: {result.task or 'task'}[{result.task_id}] {verb}: {error_line(result)}\n")
                return EXIT_FAILED
            if needed <= results.keys():
                # The stream sends what is already ready in no particular order: count the
                # rest that finished too (upstream of the value, they normally all have).
                rest = [i for i in ids if i not in results]
                for other in client.get_results(rest) if rest else []:
                    if state_name(other) in READY_STATES:
                        progress.advance(other)
                break
    except TimeoutError as exc:
        progress.close()
        hint = f"; nothing is known about {unknown}: is the id right?" if unknown and unknown not in results else ""
        err.write(f"motet wait: {' '.join(str(exc).split())} ({progress.done} of {progress.total} done){hint}\n")
        return EXIT_TIMEOUT
    except MotetError as exc:
        progress.close()
        err.write(f"motet wait: {' '.join(str(exc).split())}\n")
        return EXIT_ERROR
    finally:
        close = getattr(stream, "close", None)  # a generator: closing it cancels the stream
        if close is not None:
            close()
    progress.close()
    try:
        text = json.dumps(_build(shape, results), default=str)
    except MotetError as exc:  # an encoding this process cannot read
        err.write(f"motet wait: cannot read the value: {exc}\n")
        return EXIT_ERROR
    out.write(text + "\n")
    return EXIT_OK


def _group_shape(ref: results_pb2.ResultRef) -> Shape:
    if ref.WhichOneof("ref") == "group":
        return [_group_shape(member) for member in ref.group.members]
    return ref.task_id


def wait(settings: ClientSettings, task_id: str, timeout: float | None) -> int:
    """Waits for a task (a chord: its result id) or a saved group; see the module for exit codes.

    An id the services have never seen is waited for too (a chord's result id appears only when
    its header is done), after a note on stderr."""
    client = Client(settings)
    unknown = ""
    try:
        (current,) = client.get_results([task_id])
        shape: Shape = task_id
        if not current.task and state_name(current) not in READY_STATES:
            try:
                group = client.restore_group(task_id)
                shape = [_group_shape(member) for member in group.members]
            except NotFound:
                unknown = task_id
                sys.stderr.write(
                    f"motet wait: nothing is known about {task_id} yet; waiting for it to appear "
                    "(a chord's result id does once its header is done)\n"
                )
    except MotetError as exc:
        complain("wait", exc)
        return EXIT_ERROR
    return follow(client, shape, shape_ids(shape), timeout, unknown=unknown)
