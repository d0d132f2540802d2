"""Finds the user's `motet.App`: imports the module of ``@app.task`` functions by name.

Used by the worker process at start and by every child of a process pool, which imports the
module afresh (spawned children share nothing with their parent).
"""

from __future__ import annotations

import importlib
import os
import sys

from motet import App

__all__ = ["find_app"]


def find_app(module_name: str) -> App:
    """Imports the module (cwd on sys.path) and returns its App.

    Args:
        module_name: A dotted module name, e.g. ``proj.tasks``.

    Returns:
        The module's ``app`` attribute when it is an App, else the first App it defines.

    Raises:
        SystemExit: The module defines no App (the worker cannot serve anything).
    """
    # Like `celery -A`: a module next to where the worker was started is importable.
    if os.getcwd() not in sys.path:
        sys.path.insert(0, os.getcwd())
    module = importlib.import_module(module_name)
    app = getattr(module, "app", None)
    if isinstance(app, App):
        return app
    for value in vars(module).values():
        if isinstance(value, App):
            return value
    raise SystemExit(f"module {module_name!r} defines no motet.App")
