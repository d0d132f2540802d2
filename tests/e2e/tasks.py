"""Tasks for the end-to-end suites: the guide's tasks plus a few that exercise the worker."""

from __future__ import annotations

import os
import time
from typing import Any

from examples.guide.tasks import *  # noqa: F403 - one App serves the guide's and these tasks
from examples.guide.tasks import _record, app

__all__ = ["app"]


@app.task
def slow_add(x: int, y: int) -> int:
    """Records that it started (for redelivery checks), then takes a while."""
    _record("slow_add", slow_add.request.id or "")
    time.sleep(0.4)
    return x + y


@app.task(bind=True, max_retries=5)
def retry_task(self: Any, times: int) -> int:
    """Retries `times` times, then returns how many retries it took."""
    if self.request.retries < times:
        raise self.retry(countdown=0.05)
    return int(self.request.retries)


class Flaky(Exception):
    """An error autoretry_for retries."""


@app.task(bind=True, autoretry_for=(Flaky,), max_retries=2, retry_backoff=0.05)
def autoretry_task(self: Any) -> int:
    """Fails with Flaky twice (autoretried), then succeeds."""
    if self.request.retries < 2:
        raise Flaky("not yet")
    return int(self.request.retries)


@app.task(bind=True, max_retries=1)
def always_retry(self: Any) -> None:
    """Retries until max_retries is exceeded, then fails with the original error."""
    raise self.retry(exc=KeyError("gone"), countdown=0.05)


@app.task(bind=True)
def request_info(self: Any, *args: Any) -> dict[str, Any]:
    """Returns what the worker put in self.request."""
    r = self.request
    return {
        "id": r.id,
        "root_id": r.root_id,
        "parent_id": r.parent_id,
        "group_id": r.group_id,
        "group_index": r.group_index,
        "retries": r.retries,
        "queue": r.delivery_info.get("routing_key"),
    }


@app.task(bind=True)
def replace_with_chain(self: Any, x: int) -> None:
    """Replaces itself with add(x, 1) | mul(2)."""
    from examples.guide.tasks import add, mul

    raise self.replace(add.s(x, 1) | mul.s(2))


@app.task(soft_time_limit=0.3)
def soft_limited() -> str:
    """Catches its soft time limit and returns."""
    from motet.exceptions import SoftTimeLimitExceeded

    try:
        for _ in range(100):  # Python code between short sleeps: the limit interrupts it promptly
            time.sleep(0.05)
    except SoftTimeLimitExceeded:
        return "cleaned up"
    return "slept"


@app.task
def pid() -> int:
    """The worker process id."""
    return os.getpid()


@app.task
def record_order(tag: str) -> str:
    """Appends its tag to the "order" record (to observe dispatch order)."""
    _record("order", tag)
    return tag


@app.task(track_started=True)
def tracked_sleep(seconds: float) -> float:
    """Sleeps; its state reads STARTED while it runs."""
    time.sleep(seconds)
    return seconds


@app.task(ignore_result=True)
def quiet_add(x: int, y: int) -> int:
    """Declared ignore_result: records its sum, stores no result."""
    _record("quiet_add", str(x + y))
    return x + y


@app.task
def spawn(n: int, nested: bool = False) -> list[str]:
    """Sends `n` add tasks from inside itself (and, nested, one more spawn); returns their ids."""
    from examples.guide.tasks import add

    ids = [add.delay(i, i).id for i in range(n)]
    if nested:
        ids.append(spawn.delay(1).id)
    return ids


@app.task
def spawn_group_then_fail() -> None:
    """Sends a group from inside itself, then fails."""
    from examples.guide.tasks import add
    from motet import group

    group(add.s(1, 1), add.s(2, 2)).delay()
    raise ValueError("failed after sending")


# -- errbacks, callbacks, replacement, add_to_chord ----------------------------------------------
# Each call notes what it received as one JSON line under its tag (tests/e2e/notes.py reads them).


def _note(tag: str, **fields: Any) -> None:
    import json

    _record("notes", json.dumps({"tag": tag, **fields}, default=repr))


def _request_fields(request: Any) -> dict[str, Any]:
    return {
        "id": request.id,
        "root_id": request.root_id,
        "parent_id": request.parent_id,
        "group_id": request.group_id,
        "group_index": request.group_index,
    }


@app.task
def eb_new(request: Any, exc: BaseException, traceback: str, tag: str) -> None:
    """A new-style errback (more than one positional parameter)."""
    _note(
        tag,
        style="new",
        exc=type(exc).__name__,
        message=str(exc),
        traceback=bool(traceback),
        task=getattr(request, "task", None),
        args=list(getattr(request, "args", ())),
        **_request_fields(request),
    )


@app.task
def eb_star(*args: Any) -> None:
    """*args: new style when mutable; only its own args when immutable (its tag is the last)."""
    if len(args) > 1:
        request, exc = args[0], args[1]
        _note(args[-1], style="new", n=len(args), exc=type(exc).__name__, **_request_fields(request))
    else:
        _note(args[-1], style="own", n=len(args))


@app.task
def eb_old(task_id: str, *, tag: str) -> None:
    """An old-style errback (exactly one positional parameter): the failed task's id."""
    _note(tag, style="old", failed=task_id)


@app.task(bind=True)
def eb_bound(self: Any, task_id: str, tag: str) -> None:
    """A bound errback is old style: (failed_task_id, *own_args); its own request too."""
    _note(tag, style="old", failed=task_id, **_request_fields(self.request))


@app.task
def eb_plain(tag: str, extra: str) -> None:
    """Mutable it would be new style; immutable (.si) it gets only its own two args."""
    _note(tag, style="own", extra=extra)


@app.task
def note_value(value: Any, tag: str) -> Any:
    """A callback that notes the value it received."""
    _note(tag, value=value)
    return value


@app.task(bind=True)
def request_after(self: Any, seconds: float, *args: Any) -> dict[str, Any]:
    """Sleeps, then returns its request (to be the last to finish)."""
    time.sleep(seconds)
    return dict(_request_fields(self.request))


@app.task(bind=True)
def replace_with(self: Any, x: int, kind: str) -> None:
    """Replaces itself with a canvas of `kind` built around x."""
    from examples.guide.tasks import add, fail, mul, xsum
    from motet import chain, chord, group

    replacements = {
        "task": lambda: add.s(x, 1),
        "chain": lambda: add.s(x, 1) | mul.s(2),
        "group": lambda: group(add.s(x, 1), add.s(x, 2)),
        "chord": lambda: chord([add.s(x, 1), add.s(x, 2)], xsum.s()),
        "chunks": lambda: add.chunks([(x, 1), (x, 2), (x, 3)], 2),
        "empty_group": lambda: group([]),
        "empty_chain": lambda: chain(),
        "info": lambda: request_info.s(x),
        "fail_task": lambda: fail.s(x),
        "fail_chain": lambda: add.s(x, 1) | fail.s(),
        "fail_group": lambda: group(add.s(x, 1), fail.s()),
        "fail_chord": lambda: chord([add.s(x, 1), fail.s()], xsum.s()),
    }
    raise self.replace(replacements[kind]())


@app.task(bind=True)
def grow_chord(self: Any, x: int, *added: Any) -> int:
    """Adds a member to its chord for each of `added` ("slow:N" adds slow_add(N, N), "info" a
    request_info), then returns x."""
    for what in added:
        if what == "info":
            self.add_to_chord(request_info.s())
        else:
            n = int(str(what).split(":")[1])
            self.add_to_chord(slow_add.s(n, n))
    return x


@app.task
def note_run(tag: str, seconds: float) -> str:
    """Records each execution of itself under "runs", then sleeps."""
    _record("runs", tag)
    time.sleep(seconds)
    return tag


def _deep_helper(n: int) -> int:
    raise ValueError(f"bad input {n}")


@app.task
def fails_deep(n: int) -> int:
    """Raises from a helper: the remote traceback shows both frames, and none of Motet's."""
    return _deep_helper(n)


@app.task
def current_trace() -> str:
    """The traceparent a canvas sent from inside this task would carry (tracing tests)."""
    from motet import tracing

    return tracing.current_traceparent()
