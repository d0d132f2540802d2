"""The current app and the current task: process and thread state the lower layers ask for.

- The current app: the last `App` created, used where no app is given (Celery's
  `current_app`). The canvas and result modules sit below `motet.app` and must not import it;
  they ask this module. `motet.app` registers how to make a default App when none has been
  created yet.
- The requests of the tasks running in this thread (Celery's task stack): `Task.push_request`
  and `pop_request` keep it, so a canvas sent from inside a task a worker runs is sent as that
  task's child (`current_worker_request`).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from motet.app import App

__all__ = [
    "current_app",
    "current_worker_request",
    "pop_request",
    "push_request",
    "set_current_app",
    "set_default_factory",
]

_current: App | None = None
_default_factory: Callable[[], App] | None = None
_requests = threading.local()


def _stack() -> list[Any]:
    stack: list[Any] | None = getattr(_requests, "stack", None)
    if stack is None:
        stack = _requests.stack = []
    return stack


def push_request(request: Any) -> None:
    """A task's request starts in this thread (`Task.push_request` calls it)."""
    _stack().append(request)


def pop_request() -> None:
    """The innermost request of this thread ends (`Task.pop_request` calls it)."""
    stack = _stack()
    if stack:
        stack.pop()


def current_worker_request() -> Any | None:
    """The request of the innermost task a worker runs in this thread, or None.

    A task called directly (`add(2, 2)`, `called_directly`) or run eagerly (`.apply()`,
    `is_eager`) does not count, as in Celery's `current_worker_task`: work it sends has no parent.
    """
    for request in reversed(_stack()):
        if not getattr(request, "called_directly", True) and not getattr(request, "is_eager", False):
            return request
    return None


def set_current_app(app: App) -> None:
    """Makes `app` the current app (every new App does this, as in Celery)."""
    global _current
    _current = app


def set_default_factory(factory: Callable[[], App]) -> None:
    """Registers how to make the default App (called once, by `motet.app` on import)."""
    global _default_factory
    _default_factory = factory


def current_app() -> App:
    """The most recently created App (a default one is created if there is none).

    Raises:
        RuntimeError: if `motet.app` was never imported (it always is: `import motet` imports it).
    """
    if _current is not None:
        return _current
    if _default_factory is None:
        raise RuntimeError("no App exists and motet.app is not imported; create one with motet.App()")
    return _default_factory()  # a new App makes itself current
