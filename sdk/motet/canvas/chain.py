"""chain: tasks run one after another, each result prepended to the next task's arguments."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

from motet.canvas import kinds
from motet.canvas.compose import compose, upgrade_steps
from motet.canvas.composite import Composite, as_member
from motet.canvas.signature import KwargsField, Signature, copy_options
from motet.exceptions import CanvasError

if TYPE_CHECKING:
    from motet.app import App

__all__ = ["chain"]


@kinds.register("chain")
class chain(Composite):  # noqa: N801 - Celery's name
    """Run tasks in sequence: `chain(add.s(2, 2), add.s(4), add.s(8))` is 2 + 2 + 4 + 8.

    Construction follows Celery's `chain(*tasks)`, which folds several tasks with `|`: nested
    chains are spliced in and a group followed by a task becomes a chord (so
    `chain(group(...), task)` is a chord). A single canvas becomes a one-step chain. Options
    given here (queue, priority, time limits, retries) reach every member that does not set
    its own; countdown / eta delay the chain's start.

    Args:
        *tasks: Signatures or canvases, or one iterable of them.
        app: The App to submit with.
        **options: Execution options of the chain.

    Returns:
        Usually a chain; what `|` makes of the tasks otherwise (a chord, as in Celery).
    """

    kind = "chain"
    tasks = KwargsField[list[Signature]]("tasks")

    def __new__(cls, *tasks: Any, app: App | None = None, **options: Any) -> Any:
        if len(tasks) == 1 and isinstance(tasks[0], (Signature, dict)):
            # Celery: a chain of one canvas is that one step, unfolded (chain(group(...)) stays a chain).
            built: Any = cls._build([as_member(tasks[0], "a chain")], {}, app)
        else:
            if len(tasks) == 1:
                tasks = tuple(tasks[0])
            built = cls._build([], {}, app)
            for t in tasks:
                built = compose(built, as_member(t, "a chain"))
        if options:
            if isinstance(built, chain):
                built.set(**options)
            else:
                built = cls._build([built], options, app)
        if app is not None and built.app is None:
            built.app = app
        return built

    def __init__(self, *tasks: Any, app: App | None = None, **options: Any) -> None:
        """Everything happens in __new__ (which may return a group or chord)."""

    @classmethod
    def _build(cls, tasks: Iterable[Signature], options: dict[str, Any], app: App | None = None) -> chain:
        """A chain of exactly these steps, without Celery's folding (for compose / from_proto)."""
        steps = list(tasks)
        obj: chain = dict.__new__(cls)
        obj._setup(options, app if app is not None else _first_app(steps))
        obj.tasks = steps
        return obj

    @classmethod
    def from_dict(cls, d: Mapping[str, Any], app: App | None = None) -> chain:
        """The chain a Celery-style dict describes (its steps under kwargs["tasks"])."""
        steps = [Signature.from_dict(t, app=app) for t in (d.get("kwargs") or {}).get("tasks") or ()]
        built = cls._build(steps, {}, app)
        built.set(immutable=bool(d.get("immutable")), **(d.get("options") or {}))
        return built

    @property
    def id(self) -> str | None:
        """The chain's result id: its last task's (set with `task_id=` or by freezing)."""
        own: str | None = self.options.get("task_id")
        if own is not None or not self.tasks:
            return own
        return self.tasks[-1].id

    @id.setter
    def id(self, value: str) -> None:
        self.options["task_id"] = value

    def __repr__(self) -> str:
        return " | ".join(repr(t) for t in self.tasks) if self.tasks else "chain()"

    def _copy(self) -> chain:
        return chain._build([t._copy() for t in self.tasks], copy_options(self.options), self.app)

    def _merge_partial(self, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
        if not self.tasks:
            raise CanvasError("a chain needs at least one task")
        self.tasks[0] = self.tasks[0]._partial(args, kwargs, {})

    def apply_async(self, args: Any = None, kwargs: Any = None, **options: Any) -> Any:
        """Submits the chain and returns its last task's result; an empty chain sends nothing
        and returns None, as in Celery (see `Signature.apply_async`)."""
        if not self.tasks:
            return None
        return super().apply_async(args, kwargs, **options)

    def unchain_tasks(self) -> list[Signature]:
        """The steps (copies), Celery's `unchain_tasks`: the chain's callbacks go onto the last
        copy, its errbacks onto every copy."""
        steps = [t._copy() for t in self.tasks]
        for errback in self.options.get("link_error", ()):
            for step in steps:
                step.link_error(errback)
        if steps:
            for callback in self.options.get("link", ()):
                steps[-1].link(callback)
        return steps

    def _inline(self, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        steps = upgrade_steps(self.tasks)
        if not steps:
            raise CanvasError("a chain needs at least one task")
        value = steps[0]._inline(args, kwargs)
        for step in steps[1:]:
            value = step._inline((value,), {})
        return value


def _first_app(tasks: list[Signature]) -> App | None:
    for t in tasks:
        if t.app is not None:
            return t.app
    return None
