"""The current app: the last `App` created, used where no app is given (Celery's `current_app`).

The canvas and result modules sit below `motet.app` and must not import it; they ask this
module. `motet.app` registers how to make a default App when none has been created yet.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from motet.app import App

__all__ = ["current_app", "set_current_app", "set_default_factory"]

_current: App | None = None
_default_factory: Callable[[], App] | None = None


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
