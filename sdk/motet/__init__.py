"""Motet: Celery-compatible canvas workflows (chain, group, chord, map, chunks) over gRPC.

Change `from celery import ...` to `from motet import ...`::

    from motet import App, chain, chord, group

    app = App("proj")

    @app.task
    def add(x, y):
        return x + y

    chord(add.s(i, i) for i in range(100))(tsum.s()).get()

Modules, each importing only those before it: `exceptions`, `settings` (endpoints and
limits), `state` (the current app), `payload` (JSON values), `failures` (errors across the
wire), `graph`, `channels` + `client` (gRPC calls), `result` (AsyncResult,
GroupResult), `canvas` (build, compose, freeze, compile), `task` (Task), `app` (App).
"""

from motet import exceptions
from motet.app import App, current_app
from motet.canvas import (
    Signature,
    chain,
    chord,
    chunks,
    from_proto,
    group,
    maybe_signature,
    signature,
    to_proto,
    xmap,
    xstarmap,
)
from motet.result import AsyncResult, EagerResult, GroupResult
from motet.task import Task

__all__ = [
    "App",
    "AsyncResult",
    "EagerResult",
    "GroupResult",
    "Signature",
    "Task",
    "chain",
    "chord",
    "chunks",
    "current_app",
    "exceptions",
    "from_proto",
    "group",
    "maybe_signature",
    "signature",
    "to_proto",
    "xmap",
    "xstarmap",
]
