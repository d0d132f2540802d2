"""The façade a conformance program is written against, and how observations are normalised.

A program is `def prog(c): ...` returning a dict of observations. `c` is a `Ctx`: the canvas
names (`c.chain`, `c.group`, `c.chord`, `c.signature`, `c.chunks`, `c.xmap`, `c.xstarmap`), the
tasks (`c.t.add`, ... registered as ``conf.<name>`` on both systems), the app (`c.app`), the
exception classes a program may name (`c.TimeoutError`, `c.ChordError`, `c.TaskRevokedError`),
and helpers that turn what a user sees into JSON-able, system-independent values (`c.get`,
`c.attempt`, `c.shape`, `c.records`, ...). Nothing here imports Celery or Motet: `System` is
built by `celery_app.system()` or `motet_app.system()`.
"""

from __future__ import annotations

import json
import os
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any

from tests.conformance.taskdefs import RECORD_DIR_ENV, TASKS, task_name

UUID_RE = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
# Python object reprs carry addresses: <foo object at 0x7f...>
ADDR_RE = re.compile(r" at 0x[0-9a-f]+")

TIMEOUT = "TIMEOUT"  # the observation for a get() that ran out of time (a hang)
HANG = "HANG"  # the observation for a program that did not return within its deadline


@dataclass
class System:
    """One system under observation: its canvas names, tasks, app and exception classes."""

    name: str  # "celery" or "motet"
    app: Any
    canvas: dict[str, Any]  # chain, group, chord, signature, chunks, xmap, xstarmap, maybe_signature
    exceptions: dict[str, type[BaseException]]  # TimeoutError, ChordError, TaskRevokedError
    tasks: dict[str, Any] = field(default_factory=dict)  # short name -> task object

    def __post_init__(self) -> None:
        if not self.tasks:
            self.tasks = {name: self.app.tasks[task_name(name)] for name in TASKS}


class Ctx:
    """What a program sees: one system, bound to one program (its record keys and id labels)."""

    def __init__(self, system: System, program: str, timeout: float) -> None:
        self.system_name = system.name  # for the harness; programs must not branch on it
        self.app = system.app
        self.program = program
        self.T = timeout
        for name, obj in system.canvas.items():
            setattr(self, name, obj)
        self.t = SimpleNamespace(**system.tasks)
        self.TimeoutError = system.exceptions["TimeoutError"]
        self.ChordError = system.exceptions["ChordError"]
        self.TaskRevokedError = system.exceptions["TaskRevokedError"]
        self._labels: dict[str, str] = {}

    # -- side effects --------------------------------------------------------------------------

    def key(self, what: str) -> str:
        """A record key private to this program."""
        return f"{self.program}/{what}"

    def rec(self, what: str, *args: Any) -> Any:
        """A callback signature that records what it is called with under `what`."""
        return self.t.record.s(*args, key=self.key(what))

    def rec_si(self, what: str, *args: Any) -> Any:
        """The immutable version of `rec`."""
        return self.t.record.si(*args, key=self.key(what))

    def err_new(self, what: str) -> Any:
        """A new-style errback (request, exc, traceback) recording under `what`."""
        return self.t.err_new.s(key=self.key(what))

    def err_old(self, what: str) -> Any:
        """An old-style errback (the failed task's id) recording under `what`."""
        return self.t.err_old.s(key=self.key(what))

    def _record_path(self, what: str) -> str:
        return os.path.join(os.environ[RECORD_DIR_ENV], self.key(what))

    def _read(self, what: str) -> list[Any]:
        try:
            with open(self._record_path(what)) as fh:
                return [json.loads(line) for line in fh if line.strip()]
        except FileNotFoundError:
            return []

    def records(self, what: str, n: int = 1, timeout: float = 10.0, grace: float = 0.4) -> list[Any]:
        """The records under `what`: waits for at least `n` (at most `timeout` s), then `grace`
        s more for extra ones, and returns them normalised (ids as labels)."""
        deadline = time.monotonic() + timeout
        while len(self._read(what)) < n and time.monotonic() < deadline:
            time.sleep(0.05)
        if grace:
            time.sleep(grace)
        return self.norm(self._read(what))

    def count(self, what: str, n: int = 1, timeout: float = 10.0, grace: float = 0.4) -> int:
        """How many records `what` has (waiting as `records` does)."""
        return len(self.records(what, n, timeout, grace))

    # -- ids -----------------------------------------------------------------------------------

    def label(self, obj: Any, name: str) -> Any:
        """Names an id (or a result's id) so it shows as `<name>` in observations; returns obj."""
        ident = obj if isinstance(obj, str) else getattr(obj, "id", None)
        if ident:
            self._labels.setdefault(str(ident), name)
        return obj

    def label_tree(self, res: Any, name: str = "res") -> Any:
        """Labels a result, its parents (`name^1`, `name^2`, ...) and group members (`name[i]`)."""
        node, depth, seen = res, 0, set()
        while node is not None and id(node) not in seen and depth < 12:
            seen.add(id(node))
            label = name if depth == 0 else f"{name}^{depth}"
            self.label(node, label)
            for i, member in enumerate(getattr(node, "results", None) or []):
                self.label(member, f"{label}[{i}]")
            node, depth = getattr(node, "parent", None), depth + 1
        return res

    def ids(self, text: str) -> str:
        """Replaces known ids with their labels and unknown ones with <id>."""
        return UUID_RE.sub(lambda m: f"<{self._labels[m.group(0)]}>" if m.group(0) in self._labels else "<id>", text)

    # -- observing -----------------------------------------------------------------------------

    def exc(self, e: BaseException) -> Any:
        """A raised exception as an observation."""
        if isinstance(e, self.TimeoutError):
            return TIMEOUT
        return {"raised": type(e).__name__, "msg": self.ids(ADDR_RE.sub("", str(e)))}

    def norm(self, value: Any) -> Any:
        """A JSON-able, system-independent version of a value."""
        if isinstance(value, BaseException):
            return {"exc": type(value).__name__, "msg": self.ids(ADDR_RE.sub("", str(value)))}
        if isinstance(value, str):
            return self.ids(value)
        if isinstance(value, bool) or value is None or isinstance(value, (int, float)):
            return value
        if isinstance(value, (list, tuple)):
            return [self.norm(v) for v in value]
        if isinstance(value, dict):
            return {self.ids(str(k)): self.norm(v) for k, v in value.items()}
        if hasattr(value, "id") and hasattr(value, "parent") and hasattr(value, "ready"):
            return {"result": type(value).__name__}
        return self.ids(ADDR_RE.sub("", repr(value)))

    def attempt(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        """Calls fn; its normalised value, or the exception it raised as an observation."""
        try:
            return self.norm(fn(*args, **kwargs))
        except BaseException as e:  # noqa: BLE001 - every exception is an observation
            return self.exc(e)

    def get(self, res: Any, timeout: float | None = None, **kwargs: Any) -> Any:
        """`res.get(timeout=...)`: the value, the exception raised, or TIMEOUT."""
        if res is None:
            return {"raised": "NoResult", "msg": "the call returned None"}
        try:
            return self.norm(res.get(timeout=timeout if timeout is not None else self.T, **kwargs))
        except BaseException as e:  # noqa: BLE001 - every exception is an observation
            return self.exc(e)

    def state(self, res: Any) -> Any:
        return self.attempt(lambda: res.state)

    def wait_ready(self, res: Any, timeout: float | None = None) -> bool:
        """Polls res.ready() (without raising) until it is true or `timeout` passes."""
        deadline = time.monotonic() + (timeout if timeout is not None else self.T)
        while time.monotonic() < deadline:
            try:
                if res.ready():
                    return True
            except Exception:  # noqa: BLE001 - an unreadable result is simply not ready
                pass
            time.sleep(0.05)
        return False

    def cls(self, obj: Any) -> str:
        return type(obj).__name__

    def shape(self, res: Any, depth: int = 8, members: bool = True) -> Any:
        """The structure of a result: class, label, group members, parents (ids as labels)."""
        if res is None:
            return None
        if depth <= 0:
            return "..."
        out: dict[str, Any] = {"cls": type(res).__name__}
        ident = getattr(res, "id", None)
        if ident and str(ident) in self._labels:
            out["id"] = self._labels[str(ident)]
        results = getattr(res, "results", None)
        if results is not None and members:
            out["results"] = [self.shape(r, depth - 1, members) for r in results]
        out["parent"] = self.attempt(lambda: self.shape(getattr(res, "parent", None), depth - 1, members=False))
        return out

    def parents(self, res: Any, limit: int = 8) -> list[str]:
        """The classes along res, res.parent, res.parent.parent, ..."""
        out, node = [], res
        while node is not None and len(out) < limit:
            out.append(type(node).__name__)
            node = getattr(node, "parent", None)
        return out

    def sleep(self, seconds: float) -> None:
        time.sleep(seconds)
