"""xmap / xstarmap (one task mapping a task over items) and chunks (items split into tasks)."""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

from motet.canvas import kinds
from motet.canvas.composite import Composite
from motet.canvas.group import group, materialise
from motet.canvas.signature import KwargsField, Signature, copy_options, signature
from motet.canvas.validate import normalise_options
from motet.exceptions import CanvasError

if TYPE_CHECKING:
    from motet.app import App

__all__ = ["chunks", "xmap", "xstarmap"]


def _mapped(task: Any, where: str) -> Signature:
    if isinstance(task, Signature) and task.subtask_type is None:
        return task
    if isinstance(task, (str, dict)) or hasattr(task, "name"):
        return signature(task)
    raise CanvasError(f"{where} maps a task signature, got {type(task).__name__}")


def _argument_lists(it: Any, where: str) -> list[list[Any]]:
    out = []
    for i, item in enumerate(materialise(it, where)):
        if isinstance(item, (str, bytes, dict)) or not isinstance(item, Iterable):
            raise CanvasError(f"{where}: item {i} must be a list of arguments, got {type(item).__name__}")
        out.append(list(item))
    return out


def _item(value: Any) -> Any:
    # One-shot iterables (generators, zip, map) and tuples / ranges are read into lists here.
    if isinstance(value, (str, bytes, list, dict)) or not isinstance(value, Iterable):
        return value
    return list(value)


@kinds.register("map")
class MapBase(Signature):
    """One task applying `mapped` to every item, in order (Celery's xmap / xstarmap).

    Unlike Celery, the mapped signature's own args and kwargs are kept: each call is
    `task(item, *args, **kwargs)` (map) or `task(*item, *args, **kwargs)` (starmap).
    """

    starmap = False
    _runs_as_task = False
    mapped = KwargsField[Signature]("task")
    it = KwargsField[list[Any]]("it")
    """The items, in order (Celery keeps them under kwargs["it"])."""

    def __init__(self, task: Any, it: Iterable[Any], *, app: App | None = None, **options: Any) -> None:
        kind = "xstarmap" if self.starmap else "xmap"
        dict.__init__(self)
        self.task = "celery.starmap" if self.starmap else "celery.map"
        self.args, self.kwargs, self.immutable = (), {}, False
        self.mapped = _mapped(task, kind)
        self.it = _argument_lists(it, kind) if self.starmap else [_item(x) for x in materialise(it, kind)]
        self.subtask_type = None  # Celery's maps carry none (known by their task name)
        self.immutable = True  # Celery: a map ignores the value it would receive in a chain
        self.app = app if app is not None else self.mapped.app
        self.options = normalise_options(options, self._where())

    @classmethod
    def _build(cls, mapped: Signature, items: list[Any], options: dict[str, Any], app: App | None = None) -> MapBase:
        """A map node of exactly these parts (for from_proto)."""
        obj = dict.__new__(cls)
        obj.task = "celery.starmap" if cls.starmap else "celery.map"
        obj.args, obj.kwargs, obj.immutable = (), {}, False
        obj.mapped, obj.it, obj.options = mapped, list(items), options
        obj.subtask_type = None
        obj.immutable = True
        obj.app = app if app is not None else mapped.app
        return obj

    @classmethod
    def from_dict(cls, d: Mapping[str, Any], app: App | None = None) -> MapBase:
        """The map a Celery-style dict describes (kwargs["task"], kwargs["it"])."""
        parts = d.get("kwargs") or {}
        built = cls._build(Signature.from_dict(parts["task"], app=app), list(parts.get("it") or []), {}, app)
        built.set(**(d.get("options") or {}))
        return built

    def _where(self) -> str:
        return f"{'xstarmap' if self.starmap else 'xmap'} of task {self.mapped.task}"

    def __repr__(self) -> str:
        call = f"{self.mapped.task}(*x)" if self.starmap else f"{self.mapped.task}(x)"
        return f"[{call} for x in {self.it!r}]"

    def _copy(self) -> MapBase:
        return type(self)._build(self.mapped._copy(), self.it, copy_options(self.options), self.app)

    def _merge_partial(self, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
        if args or kwargs:
            raise CanvasError(f"{self._where()} takes no partial arguments; put them in the mapped signature")

    def _inline(self, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        m = self.mapped
        if self.starmap:
            return [m._inline(tuple(item), {}) for item in self.it]
        return [m._inline((item,), {}) for item in self.it]


@kinds.register("xmap")
class xmap(MapBase):  # noqa: N801 - Celery's name
    """One task calling `task(item, *partial_args)` for each item, in order: `add.map([1, 2])`.

    Args:
        task: The mapped signature (its args follow each item).
        it: The items (read once, here).
        app: The App to submit with.
        **options: Execution options of the map task.
    """


@kinds.register("xstarmap")
class xstarmap(MapBase):  # noqa: N801 - Celery's name
    """One task calling `task(*item, *partial_args)` for each item: `add.starmap(zip(a, b))`.

    Args:
        task: The mapped signature (its args follow each item's arguments).
        it: The argument lists (read once, here).
        app: The App to submit with.
        **options: Execution options of the map task.
    """

    starmap = True


@kinds.register("chunks")
class chunks(Composite):  # noqa: N801 - Celery's name
    """Items split into tasks of `n` items each (each one a starmap); the tasks run as a group.

    `add.chunks(zip(range(100), range(100)), 10)` is 10 tasks of 10 additions each; its
    value is the list of the chunks' lists. `chunks | task` composes like a group (a chord).

    Args:
        task: The signature applied to each item (as `task(*item)`).
        it: The argument lists (read once, here).
        n: Items per chunk, at least 1.
        app: The App to submit with.
        **options: Execution options; `task_id` is the chunk group's id.

    Raises:
        CanvasError: if `n` is not a whole number of at least 1 or an item is not a list.
    """

    kind = "chunks"
    mapped = KwargsField[Signature]("task")
    it = KwargsField[list[list[Any]]]("it")
    """The argument lists, in order (Celery keeps them under kwargs["it"])."""
    n = KwargsField[int]("n")
    member_ids: list[str]

    def __init__(self, task: Any, it: Iterable[Any], n: int, *, app: App | None = None, **options: Any) -> None:
        if isinstance(n, bool) or not isinstance(n, int) or n < 1:
            raise CanvasError(f"chunk size must be a whole number of at least 1 (got {n!r})")
        mapped = _mapped(task, "chunks")
        self._setup(options, app if app is not None else mapped.app)
        self.subtask_type, self.immutable = None, True  # as Celery's chunks
        self.mapped = mapped
        self.it = _argument_lists(it, "chunks")
        self.n = n
        self.member_ids = []

    @classmethod
    def _build(
        cls,
        mapped: Signature,
        items: list[list[Any]],
        n: int,
        options: dict[str, Any],
        member_ids: list[str],
        app: App | None = None,
    ) -> chunks:
        """A chunks node of exactly these parts (for from_proto)."""
        obj: chunks = dict.__new__(cls)
        obj._setup({}, app if app is not None else mapped.app)
        obj.subtask_type, obj.immutable = None, True
        obj.mapped, obj.it, obj.n, obj.options, obj.member_ids = mapped, list(items), n, options, list(member_ids)
        return obj

    @classmethod
    def from_dict(cls, d: Mapping[str, Any], app: App | None = None) -> chunks:
        """The chunks a Celery-style dict describes (kwargs["task"], kwargs["it"], kwargs["n"])."""
        parts = d.get("kwargs") or {}
        items = [list(i) for i in parts.get("it") or []]
        built = cls._build(Signature.from_dict(parts["task"], app=app), items, int(parts["n"]), {}, [], app)
        built.set(**(d.get("options") or {}))
        return built

    def _where(self) -> str:
        return f"chunks of task {self.mapped.task}" if "task" in self.get("kwargs", {}) else "chunks"

    def __repr__(self) -> str:
        return f"{self.mapped.task}.chunks({len(self.it)} items, {self.n})"

    @property
    def chunk_count(self) -> int:
        """How many chunk tasks the items make."""
        return math.ceil(len(self.it) / self.n)

    def _copy(self) -> chunks:
        return chunks._build(
            self.mapped._copy(), self.it, self.n, copy_options(self.options), self.member_ids, self.app
        )

    def _merge_partial(self, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
        if args or kwargs:
            raise CanvasError(f"{self._where()} takes no partial arguments; put them in the items")

    def group(self) -> group:
        """The chunks as a group of xstarmap tasks (Celery's `chunks.group()`).

        Returns:
            A new group; member ids are the frozen chunk ids when this chunks was frozen.
        """
        members: list[Signature] = []
        for index, start in enumerate(range(0, len(self.it), self.n)):
            member = xstarmap(self.mapped._copy(), self.it[start : start + self.n], app=self.app)
            if index < len(self.member_ids):
                member.options["task_id"] = self.member_ids[index]
            members.append(member)
        return group(*members, app=self.app, **copy_options(self.options))

    def _inline(self, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        return self.group()._inline(args, kwargs)
