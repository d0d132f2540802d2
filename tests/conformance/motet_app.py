"""The conformance tasks as a Motet app: loaded by the Motet worker
(``motet worker --app tests.conformance.motet_app``) and used by the pytest side as the client.
Endpoints come from MOTET_SCHEDULER / MOTET_RESULTS (set by the suite's DevCluster fixture).
"""

from __future__ import annotations

import motet
from motet import App
from motet import exceptions as motet_exceptions
from tests.conformance.facade import System
from tests.conformance.taskdefs import TASKS, task_name

app = App("conf")

for _name, (_fn, _options) in TASKS.items():
    app.task(name=task_name(_name), **_options)(_fn)


def system() -> System:
    return System(
        name="motet",
        app=app,
        canvas={
            "chain": motet.chain,
            "group": motet.group,
            "chord": motet.chord,
            "signature": motet.signature,
            "chunks": motet.chunks,
            "xmap": motet.xmap,
            "xstarmap": motet.xstarmap,
            "maybe_signature": motet.maybe_signature,
        },
        exceptions={
            "TimeoutError": motet_exceptions.TimeoutError,
            "ChordError": motet_exceptions.ChordError,
            "TaskRevokedError": motet_exceptions.TaskRevokedError,
        },
    )
