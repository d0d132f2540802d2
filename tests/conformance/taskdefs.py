"""The task functions of the conformance suite, defined once, as plain functions.

Both `celery_app.py` (in the Celery venv) and `motet_app.py` register every function of
`TASKS` under the same name (``conf.<function name>``), so a program written against the
façade calls the same code on both systems. This module imports neither Celery nor Motet.

Side effects go to files: ``$CONF_RECORD_DIR/<key>`` gets one JSON line per call, where `key`
(``<program>/<what>``) is passed as a keyword argument by the program (`c.key("cb")`).
"""

from __future__ import annotations

import json
import os
import time
from typing import Any

RECORD_DIR_ENV = "CONF_RECORD_DIR"


def _jsonable(value: Any) -> Any:
    if isinstance(value, BaseException):
        return {"exc": type(value).__name__, "msg": str(value)}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    return repr(value)


def write_record(key: str, entry: Any) -> None:
    """Appends one JSON line to the record file `key` (a no-op when no record dir is set)."""
    base = os.environ.get(RECORD_DIR_ENV)
    if not base:
        return
    path = os.path.join(base, key)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    line = json.dumps(_jsonable(entry), sort_keys=True)
    with open(path, "a") as fh:
        fh.write(line + "\n")


# -- values -----------------------------------------------------------------------------------


def add(x: Any, y: Any) -> Any:
    return x + y


def mul(x: Any, y: Any) -> Any:
    return x * y


def addk(x: Any, y: Any = 0, z: Any = 0) -> Any:
    return x + y + z


def xsum(numbers: Any) -> Any:
    total = 0
    for n in numbers:
        total += xsum(n) if isinstance(n, list) else n
    return total


def identity(value: Any) -> Any:
    return value


def const(value: Any) -> Any:
    return value


def noarg() -> str:
    return "noarg"


def echo(*args: Any, **kwargs: Any) -> dict[str, Any]:
    """What the task was called with (shows merging of partial args and kwargs)."""
    return {"args": list(args), "kwargs": kwargs}


def sleep_then(value: Any, seconds: float) -> Any:
    time.sleep(seconds)
    return value


def started_sleep(value: Any, seconds: float, *, key: str) -> Any:
    """Records that it started, then sleeps (lets a program act while it runs)."""
    write_record(key, {"started": True})
    time.sleep(seconds)
    return value


def wall_clock(*args: Any) -> float:
    """The worker's wall clock when it ran (the client compares it with its own)."""
    return time.time()


# -- failures ---------------------------------------------------------------------------------


def fail(*args: Any) -> None:
    raise ValueError("boom")


def fail_key(*args: Any) -> None:
    raise KeyError("missing")


def fail_after(seconds: float) -> None:
    time.sleep(seconds)
    raise ValueError(f"late {seconds}")


def fail_if(value: Any, bad: Any) -> Any:
    if value == bad:
        raise ValueError(f"bad {value}")
    return value


# -- side effects -----------------------------------------------------------------------------


def record(*args: Any, key: str, **kwargs: Any) -> list[Any]:
    """A callback: records the arguments it got."""
    write_record(key, {"args": list(args), "kwargs": kwargs})
    return list(args)


def err_new(request: Any, exc: Any, traceback: Any, *, key: str) -> str:
    """A new-style errback (three positional parameters): (request, exc, traceback)."""
    write_record(
        key,
        {
            "style": "new",
            "request_id": getattr(request, "id", None),
            "exc": type(exc).__name__,
            "msg": str(exc),
            "traceback_is_str": isinstance(traceback, str),
        },
    )
    return "handled"


def err_new_args(request: Any, exc: Any, traceback: Any, tag: Any, *, key: str) -> str:
    """A new-style errback with an argument of its own."""
    write_record(
        key, {"style": "new", "request_id": getattr(request, "id", None), "exc": type(exc).__name__, "tag": tag}
    )
    return "handled"


def err_old(task_id: Any, *, key: str) -> str:
    """An old-style errback (one positional parameter): gets the failed task's id."""
    write_record(key, {"style": "old", "args": [task_id]})
    return "handled"


def err_any(*args: Any, key: str) -> str:
    """An errback taking *args (new style in Celery): records how many args and their kinds."""
    write_record(key, {"nargs": len(args), "kinds": [type(a).__name__ for a in args][1:]})
    return "handled"


def err_bound(self: Any, *args: Any, key: str) -> str:
    """A bind=True errback: old style in Celery (sent as a task with the failed task's id)."""
    write_record(
        key, {"style": "bound", "args": [a if isinstance(a, str) and len(a) < 64 else type(a).__name__ for a in args]}
    )
    return "handled"


# -- bound tasks --------------------------------------------------------------------------------


def req_info(self: Any, *args: Any, **kwargs: Any) -> dict[str, Any]:
    """What the worker put in self.request (ids are abstracted by the program)."""
    r = self.request
    delivery = getattr(r, "delivery_info", None) or {}
    return {
        "args": list(args),
        "id": r.id,
        "root_id": getattr(r, "root_id", None),
        "parent_id": getattr(r, "parent_id", None),
        "group_id": getattr(r, "group", None),
        "group_index": getattr(r, "group_index", None),
        "retries": r.retries,
        "queue": delivery.get("routing_key"),
        "priority": delivery.get("priority"),
    }


def retry_n(self: Any, times: int) -> int:
    """Retries `times` times (countdown 0.05 s), then returns the retry count."""
    if self.request.retries < times:
        raise self.retry(countdown=0.05)
    return int(self.request.retries)


def retry_forever(self: Any) -> None:
    """Retries until max_retries (1) is exceeded; then the original KeyError surfaces."""
    raise self.retry(exc=KeyError("gone"), countdown=0.05, max_retries=1)


def replace_with_chain(self: Any, x: int) -> Any:
    """Replaces itself with add(x, 1) | mul(2)."""
    sig = self.app.signature("conf.add", args=(x, 1)) | self.app.signature("conf.mul", args=(2,))
    raise self.replace(sig)


def replace_with_group(self: Any, x: int) -> Any:
    """Replaces itself with a group add(x, 1), add(x, 2)."""
    group = _canvas(self.app, "group")
    raise self.replace(group(self.app.signature("conf.add", args=(x, y)) for y in (1, 2)))


def replace_with_empty_chain(self: Any) -> Any:
    """Replaces itself with an empty chain (Celery: ImproperlyConfigured)."""
    raise self.replace(_canvas(self.app, "chain")())


def _canvas(app: Any, name: str) -> Any:
    """A canvas class of the app's own system (celery.group, motet.chain, ...)."""
    module = type(app).__module__.split(".")[0]
    return getattr(__import__(module, fromlist=[name]), name)


def get_inside(self: Any) -> Any:
    """Waits for another task's result inside a task (Celery refuses: RuntimeError)."""
    return self.app.signature("conf.add", args=(1, 1)).delay().get(timeout=5)


def grow_chord(self: Any, x: Any) -> Any:
    """Adds const(100) to the chord this task is a header member of (Celery: Redis only)."""
    self.add_to_chord(self.app.signature("conf.const", args=(100,)))
    return x


def spawn(self: Any, n: int) -> int:
    """Sends n add tasks from inside its body (they become its children)."""
    for i in range(n):
        self.app.signature("conf.add", args=(i, i)).delay()
    return n


# name -> (function, task options). Registered as "conf.<name>" on both systems.
TASKS: dict[str, tuple[Any, dict[str, Any]]] = {
    "add": (add, {}),
    "mul": (mul, {}),
    "addk": (addk, {}),
    "xsum": (xsum, {}),
    "identity": (identity, {}),
    "const": (const, {}),
    "noarg": (noarg, {}),
    "echo": (echo, {}),
    "sleep_then": (sleep_then, {}),
    "started_sleep": (started_sleep, {}),
    "wall_clock": (wall_clock, {}),
    "fail": (fail, {}),
    "fail_key": (fail_key, {}),
    "fail_if": (fail_if, {}),
    "fail_after": (fail_after, {}),
    "record": (record, {}),
    "err_new": (err_new, {}),
    "err_new_args": (err_new_args, {}),
    "err_old": (err_old, {}),
    "err_any": (err_any, {}),
    "err_bound": (err_bound, {"bind": True}),
    "req_info": (req_info, {"bind": True}),
    "retry_n": (retry_n, {"bind": True, "max_retries": 5}),
    "retry_forever": (retry_forever, {"bind": True, "max_retries": 1}),
    "replace_with_chain": (replace_with_chain, {"bind": True}),
    "replace_with_group": (replace_with_group, {"bind": True}),
    "spawn": (spawn, {"bind": True}),
    "replace_with_empty_chain": (replace_with_empty_chain, {"bind": True}),
    "get_inside": (get_inside, {"bind": True}),
    "grow_chord": (grow_chord, {"bind": True}),
}

PREFIX = "conf."


def task_name(name: str) -> str:
    return PREFIX + name
