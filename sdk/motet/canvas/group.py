"""group: tasks run in parallel; the value is the list of their results, in order."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from typing import TYPE_CHECKING, Any

from motet.canvas import kinds
from motet.canvas.composite import Composite, as_member
from motet.canvas.freeze import splice
from motet.canvas.signature import KwargsField, Signature, copy_options
from motet.exceptions import CanvasError
from motet.result import GroupResult

if TYPE_CHECKING:
    from motet.app import App

__all__ = ["fxrange", "group", "materialise"]


def materialise(it: Any, where: str) -> list[Any]:
    """A list of the items of an iterable (generators, zip, range are read once, here).

    Raises:
        CanvasError: for a string or a non-iterable.
    """
    if isinstance(it, (str, bytes, dict)) or not isinstance(it, Iterable):
        raise CanvasError(f"{where} takes an iterable of items, got {type(it).__name__}")
    return list(it)


@kinds.register("group")
class group(Composite):  # noqa: N801 - Celery's name
    """Run tasks in parallel: `group(add.s(i, i) for i in range(10))`.

    The group's value is the list of the members' results in submission order; a group
    directly inside is spliced in (`group(group(a, b), c)` gives `[a, b, c]`, as in Celery but
    never reversed), while a chain ending in a group gives a nested list. Options set on the
    group apply to members that do not set their own. Motet differs from Celery in one place:
    `group.link(sig)` runs `sig` once, after every member succeeded, with the list of results.

    Args:
        *tasks: Signatures or canvases, or one iterable of them (read once, here).
        app: The App to submit with.
        **options: Execution options; `task_id` is the group id.
    """

    kind = "group"
    tasks = KwargsField[list[Signature]]("tasks")

    def __init__(self, *tasks: Any, app: App | None = None, **options: Any) -> None:
        if len(tasks) == 1 and isinstance(tasks[0], group):
            tasks = tuple(tasks[0].tasks)  # Celery: group(group(...)) is the inner group's members
        elif len(tasks) == 1 and not isinstance(tasks[0], (Signature, dict)):
            tasks = tuple(materialise(tasks[0], "a group"))
        members = [as_member(t, "a group") for t in tasks]
        self._setup(options, app if app is not None else next((t.app for t in members if t.app), None))
        self.tasks = members

    @classmethod
    def _build(cls, tasks: Iterable[Signature], options: dict[str, Any], app: App | None = None) -> group:
        """A group of exactly these members with these (already valid) options."""
        obj: group = dict.__new__(cls)
        obj._setup({}, app)
        obj.tasks = list(tasks)
        obj.options = options
        return obj

    @classmethod
    def from_dict(cls, d: Mapping[str, Any], app: App | None = None) -> group:
        """The group a Celery-style dict describes (its members under kwargs["tasks"])."""
        members = [Signature.from_dict(t, app=app) for t in (d.get("kwargs") or {}).get("tasks") or ()]
        built = cls._build(members, {}, app)
        built.set(**(d.get("options") or {}))
        return built

    def __repr__(self) -> str:
        return f"group([{', '.join(repr(t) for t in self.tasks)}])"

    def __len__(self) -> int:
        return len(self.tasks)

    def __iter__(self) -> Iterator[Signature]:  # type: ignore[override]  # a group iterates its members
        return iter(self.tasks)

    def _copy(self) -> group:
        return group._build([t._copy() for t in self.tasks], copy_options(self.options), self.app)

    def _merge_partial(self, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
        # Celery: a group's partial arguments (a parent's result) go to every member.
        self.tasks = [t._partial(args, kwargs, {}) for t in self.tasks]

    def set_immutable(self, immutable: bool) -> None:
        """Sets the flag on every member (Celery's `group.set_immutable`)."""
        for t in self.tasks:
            t.set_immutable(immutable)

    def apply_async(self, args: Any = None, kwargs: Any = None, **options: Any) -> Any:
        """Submits the group (see `Signature.apply_async`).

        Raises:
            TypeError: for `link=` / `link_error=` here, as Celery: use `group.link()` or a chord.
        """
        if options.get("link") is not None:
            raise TypeError("Cannot add link to group: use a chord")
        if options.get("link_error") is not None:
            raise TypeError("Cannot add link to group: do that on individual tasks")
        result = super().apply_async(args, kwargs, **options)
        # Celery's special case: a group of one chain that ends in a group is that inner group.
        if isinstance(result, GroupResult) and len(result.results) == 1 and isinstance(result.results[0], GroupResult):
            return result.results[0]
        return result

    def __call__(self, *args: Any, **options: Any) -> Any:
        """Submits the group; positional args are partial args, keywords are options (Celery)."""
        return self.apply_async(args, **options)

    def link(self, callback: Signature) -> Signature:
        """Runs `callback` once, after every member succeeded, with the list of results.

        (Celery runs it after the first member only, with no arguments: issue #1950.)
        """
        return super().link(callback)

    def skew(self, start: float = 1.0, stop: float | None = None, step: float = 1.0) -> group:
        """Staggers the members' countdowns: start, start + step, ... (repeating `stop`).

        Returns:
            This group.
        """
        values = fxrange(start, stop, step)
        for t in self.tasks:
            t.set(countdown=next(values))
        return self

    def _inline(self, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        # A group directly inside gives its members' values, not one nested list (as on workers).
        return [t._inline(args, kwargs) for t in splice([t._copy() for t in self.tasks])]


def fxrange(start: float = 1.0, stop: float | None = None, step: float = 1.0) -> Iterator[float]:
    """Celery's `fxrange(..., repeatlast=True)`: start, start + step, ... up to stop, then stop forever."""
    current = float(start)
    while True:
        if not stop or current <= stop:
            yield current
            current += step
        else:
            yield current - step
