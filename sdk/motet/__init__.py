"""Motet: Celery-compatible canvas workflows over gRPC.

Change `from celery import ...` to `from motet import ...`::

    from motet import App, chain, chord, group

    app = App("proj")

    @app.task
    def add(x, y):
        return x + y

    chord(add.s(i, i) for i in range(100))(tsum.s()).get()
"""

from motet import exceptions
from motet.app import App, current_app
from motet.canvas import Signature, chain, chord, chunks, group, signature, xmap, xstarmap
from motet.compile import from_proto
from motet.result import AsyncResult, GroupResult
from motet.task import Task

__all__ = [
    "App",
    "AsyncResult",
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
    "signature",
    "xmap",
    "xstarmap",
]
