"""The common ground of chain, group, chord and chunks: options and children, no own arguments."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from motet.canvas.signature import Signature
from motet.canvas.validate import normalise_options
from motet.exceptions import CanvasError

if TYPE_CHECKING:
    from motet.app import App

__all__ = ["Composite", "as_member"]


def as_member(value: Any, where: str) -> Signature:
    """A child of a composite: a Signature (a dict is converted, anything else refused)."""
    if isinstance(value, Signature):
        return value
    if isinstance(value, dict):
        return Signature.from_dict(value)
    raise CanvasError(f"{where} takes signatures or canvases, got {type(value).__name__}")


class Composite(Signature):
    """A canvas made of other canvases. Its `task` is Celery's name for the kind ("celery.group")."""

    kind = "composite"
    _runs_as_task = False

    def _setup(self, options: dict[str, Any], app: App | None) -> None:
        self.task = f"celery.{self.kind}"
        self.args = ()
        self.kwargs = {}
        self.immutable = False
        self.subtask_type = self.kind
        self.app = app
        self.options = normalise_options(options, self._where())

    def _where(self) -> str:
        return self.kind

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        """Submits the canvas with partial arguments (Celery: calling a chain applies it)."""
        return self.apply_async(args, kwargs)

    def _partial(self, args: tuple[Any, ...], kwargs: dict[str, Any], options: dict[str, Any]) -> Signature:
        new = self._copy()
        new.set(**options)
        if (args or kwargs) and not self.immutable:  # Celery: an immutable canvas drops them as a whole
            new._merge_partial(args, kwargs)
        return new

    def clone(self, args: Any = None, kwargs: Any = None, **options: Any) -> Signature:
        """A deep copy with partial arguments passed to the first task(s) and options merged."""
        return self._partial(tuple(args or ()), dict(kwargs or {}), options)

    partial = clone
