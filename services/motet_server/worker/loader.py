"""Finds the user's `motet.App`: imports the module of ``@app.task`` functions by name.

Used by the worker process at start, by `motet dev` (for the app's settings) and by every child
of a process pool, which imports the module afresh (spawned children share nothing with their
parent).

The module is imported as if a task were running: the SDK refuses to wait for a result inside a
task, so a module that calls ``.get()`` at import (a script without an
``if __name__ == "__main__":`` guard) fails at once with `AppNotLoaded` instead of blocking the
worker forever (the tasks it waits for need the very worker that is importing it).
"""

from __future__ import annotations

import importlib
import os
import sys

from motet import App, state
from motet.exceptions import MotetError

__all__ = ["AppNotLoaded", "find_app"]


class AppNotLoaded(Exception):
    """The --app module cannot be imported, or defines no App; the message is one line."""


class _Importing:
    """The request the module is imported under: a worker's (so waits are refused), with no id
    (so what it sends has no parent)."""

    id = ""
    called_directly = False
    is_eager = False


_WAIT_REFUSED = "within a task"
"""Part of the SDK's refusal to wait inside a task (`motet.result`), which is what a wait at
import raises here."""


def _first_line(exc: BaseException) -> str:
    lines = str(exc).splitlines()
    return lines[0] if lines else ""


def find_app(module_name: str) -> App:
    """Imports the module (cwd on sys.path) and returns its App.

    Args:
        module_name: A dotted module name, e.g. ``proj.tasks``.

    Returns:
        The module's ``app`` attribute when it is an App, else the first App it defines.

    Raises:
        AppNotLoaded: The module cannot be imported (its error is in the message), waits for a
            result while it is imported, or defines no App.
    """
    # Like `celery -A`: a module next to where the worker was started is importable.
    if os.getcwd() not in sys.path:
        sys.path.insert(0, os.getcwd())
    state.push_request(_Importing())
    try:
        module = importlib.import_module(module_name)
    except RuntimeError as exc:
        if _WAIT_REFUSED not in str(exc):
            raise AppNotLoaded(
                f"cannot import --app module {module_name!r}: {type(exc).__name__}: {_first_line(exc)}"
            ) from exc
        raise AppNotLoaded(
            f"--app module {module_name!r} waits for a result when it is imported (.get() at top level), "
            'which would block the worker forever; put such calls under `if __name__ == "__main__":`'
        ) from exc
    except MotetError as exc:
        raise AppNotLoaded(
            f"--app module {module_name!r} sends work when it is imported and that failed "
            f'({type(exc).__name__}: {_first_line(exc)}); put such calls under `if __name__ == "__main__":`'
        ) from exc
    except Exception as exc:  # noqa: BLE001 - any error of the user's module, reported in one line
        raise AppNotLoaded(
            f"cannot import --app module {module_name!r}: {type(exc).__name__}: {_first_line(exc)}"
        ) from exc
    finally:
        state.pop_request()
    app = getattr(module, "app", None)
    if isinstance(app, App):
        return app
    for value in vars(module).values():
        if isinstance(value, App):
            return value
    raise AppNotLoaded(f"--app module {module_name!r} defines no motet.App")
