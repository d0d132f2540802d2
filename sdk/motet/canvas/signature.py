"""Signature: one task invocation (name, args, kwargs, options) with Celery's calling API.

Building is pure: no I/O, no protobuf. `|` (`compose`), `freeze` (ids and result objects)
and `to_proto` (`compile`) delegate to their own modules, which find the canvas kinds through
`motet.canvas.kinds`; `apply_async` submits through the app's client.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from motet.canvas import kinds
from motet.canvas.compile import to_proto
from motet.canvas.compose import compose
from motet.canvas.freeze import freeze
from motet.canvas.validate import normalise_options
from motet.exceptions import CanvasError, NotRegistered
from motet.result import EagerResult
from motet.state import current_app

if TYPE_CHECKING:
    from motet.app import App
    from motet.result import ResultBase
    from motet.task import Task
    from motet.v1 import canvas_pb2

__all__ = ["Field", "KwargsField", "Signature", "copy_options", "maybe_signature", "signature"]

_T = TypeVar("_T")


class Field(Generic[_T]):
    """An attribute of a signature kept as a key of the signature's dict (Celery's layout), so
    `sig.args` and `sig["args"]` are one value and `json.dumps(sig)` is Celery's form."""

    def __init__(self, key: str) -> None:
        self.key = key

    def _home(self, obj: Signature) -> dict[str, Any]:
        return obj

    def __get__(self, obj: Signature | None, owner: type[Signature]) -> _T:
        if obj is None:
            return self  # type: ignore[return-value]  # class access gives the descriptor itself
        try:
            value: _T = self._home(obj)[self.key]
        except KeyError:
            raise AttributeError(self.key) from None
        return value

    def __set__(self, obj: Signature, value: _T) -> None:
        self._home(obj)[self.key] = value


class KwargsField(Field[_T]):
    """A part of a canvas kept under the signature's `kwargs`, where Celery keeps a chain's
    `tasks`, a chord's `header` and `body`, a map's `task` and `it`."""

    def _home(self, obj: Signature) -> dict[str, Any]:
        kwargs: dict[str, Any] = dict.__getitem__(obj, "kwargs")
        return kwargs


def copy_options(options: dict[str, Any]) -> dict[str, Any]:
    """A copy of an options dict whose link / link_error signatures are copies too."""
    out = dict(options)
    for key in ("link", "link_error"):
        if key in out:
            out[key] = [s._copy() for s in out[key]]
    return out


def _as_args(args: Any, where: str) -> tuple[Any, ...]:
    if args is None:
        return ()
    if isinstance(args, (str, bytes, Mapping)) or not hasattr(args, "__iter__"):
        raise CanvasError(f"{where}: args must be a list or tuple, got {type(args).__name__}")
    return tuple(args)


def _as_kwargs(kwargs: Any, where: str) -> dict[str, Any]:
    if kwargs is None:
        return {}
    if not isinstance(kwargs, Mapping):
        raise CanvasError(f"{where}: kwargs must be a dict, got {type(kwargs).__name__}")
    return dict(kwargs)


@kinds.register("signature")
class Signature(dict[str, Any]):
    """One task invocation: a task name, arguments and execution options (Celery's Signature).

    Like Celery's, a Signature is a dict with the keys task, args, kwargs, options,
    subtask_type and immutable, so it travels as JSON and `signature(d)` rebuilds it (the
    right canvas kind from `subtask_type`). Equality is dict equality.

    Args:
        task: A task name ("proj.tasks.add"), a registered `Task`, or a dict as produced by
            `dict(sig)` in Celery (keys task, args, kwargs, options, immutable, subtask_type).
        args: Positional arguments (a list or tuple).
        kwargs: Keyword arguments.
        options: Execution options (see `motet.canvas.validate` for the names).
        app: The App used to submit and to look the task up; default: the current app.
        immutable: Whether partial arguments (a parent's result) are ignored.
        subtask_type: Celery's kind marker (None for a plain task).
        **ex: More execution options.

    Raises:
        CanvasError: for malformed args, kwargs or options.
    """

    task = Field[str | None]("task")
    args = Field[tuple[Any, ...]]("args")
    kwargs = Field[dict[str, Any]]("kwargs")
    options = Field[dict[str, Any]]("options")
    subtask_type = Field[str | None]("subtask_type")
    immutable = Field[bool]("immutable")
    app: App | None
    _runs_as_task = True  # a plain task signature; canvases run their own way

    def __init__(
        self,
        task: Any = None,
        args: Any = None,
        kwargs: Any = None,
        options: dict[str, Any] | None = None,
        *,
        app: App | None = None,
        immutable: bool = False,
        subtask_type: str | None = None,
        type: Any = None,  # noqa: A002 - Celery's keyword; the Task is looked up by name
        **ex: Any,
    ) -> None:
        super().__init__()
        if isinstance(task, Mapping):
            d = task
            task, args, kwargs = d.get("task"), d.get("args"), d.get("kwargs")
            options = {**(d.get("options") or {}), **(options or {})}
            immutable = immutable or bool(d.get("immutable"))
            subtask_type = subtask_type or d.get("subtask_type")
        if app is None and not isinstance(task, str) and task is not None:
            app = getattr(task, "app", None)
        name = getattr(task, "name", task)
        if name is not None and not isinstance(name, str):
            raise CanvasError(f"a signature needs a task or a task name, got {type_name(task)}")
        self.task = name
        where = self._where()
        self.args = _as_args(args, where)
        self.kwargs = _as_kwargs(kwargs, where)
        opts = {**(options or {}), **ex}
        if opts.pop("immutable", False):
            immutable = True
        self.options = normalise_options(_signatures_in(opts), where)
        self.immutable = bool(immutable)
        self.subtask_type = subtask_type
        self.app = app

    # -- identity and inspection --------------------------------------------------------

    def _where(self) -> str:
        return f"task {self.task}"

    def _app(self) -> App:
        return self.app if self.app is not None else current_app()

    @property
    def id(self) -> str | None:
        """The task id (the result id) once frozen or set with `task_id=`; else None."""
        return self.options.get("task_id")

    @id.setter
    def id(self, value: str) -> None:
        self.options["task_id"] = value

    @property
    def parent_id(self) -> str | None:
        """`options["parent_id"]`: the task whose result this one receives, once frozen."""
        value: str | None = self.options.get("parent_id")
        return value

    @property
    def root_id(self) -> str | None:
        """`options["root_id"]`: the first task of the workflow, once frozen."""
        value: str | None = self.options.get("root_id")
        return value

    @property
    def name(self) -> str | None:
        """The task name."""
        return self.task

    @property
    def type(self) -> Task | None:
        """The registered `Task` for this name in this process (None if not registered here)."""
        return self._app().tasks.get(self.task or "")

    @classmethod
    def from_dict(cls, d: Mapping[str, Any], app: App | None = None) -> Signature:
        """The canvas a Celery-style dict describes, of the kind its `subtask_type` names
        (Celery's `Signature.from_dict`); a Signature is returned as it is.

        Raises:
            CanvasError: for an unknown `subtask_type` or malformed parts.
        """
        if isinstance(d, Signature):
            return d
        # Celery gives its maps and chunks no subtask_type: they are known by their task name.
        kind = d.get("subtask_type") or _BY_TASK_NAME.get(d.get("task") or "")
        if kind:
            cls_ = kinds.by_name(kind)
            if cls_ is None or cls_ is Signature:
                raise CanvasError(f"unknown canvas kind (subtask_type) {kind!r}")
            built: Signature = cls_.from_dict(d, app=app)
            return built
        return Signature(d, app=app)

    def __repr__(self) -> str:
        parts = [repr(a) for a in self.args] + [f"{k}={v!r}" for k, v in self.kwargs.items()]
        return f"{self.task}({', '.join(parts)})"

    # -- derivation -----------------------------------------------------------------------

    def set_immutable(self, immutable: bool) -> None:
        """Sets whether partial arguments (a parent's result) are ignored (Celery's `set_immutable`)."""
        self.immutable = bool(immutable)

    def set(self, immutable: bool | None = None, **options: Any) -> Signature:
        """Sets execution options in place (`add.s(2, 2).set(countdown=1)`).

        Returns:
            This signature, for chaining calls.

        Raises:
            CanvasError: for an unknown option or an invalid value.
        """
        if immutable is not None:
            self.set_immutable(immutable)
        self.options.update(normalise_options(_signatures_in(options), self._where()))
        return self

    def _copy(self) -> Signature:
        """An independent copy (options and callbacks copied; argument values shared)."""
        new = dict.__new__(type(self))
        dict.update(new, self)
        new.__dict__.update(self.__dict__)
        new.kwargs = dict(self.kwargs)
        new.options = copy_options(self.options)
        return new

    def _merge_partial(self, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
        """Prepends partial args and merges kwargs in place (ignored when immutable)."""
        if not self.immutable:
            self.args = tuple(args) + self.args
            self.kwargs = {**self.kwargs, **kwargs}

    def clone(self, args: Any = None, kwargs: Any = None, **options: Any) -> Signature:
        """A copy with partial args prepended and kwargs / options merged (new values win).

        An immutable signature keeps its own args and kwargs; only options are merged.

        Returns:
            A new signature of the same kind.
        """
        new = self._copy()
        new._merge_partial(_as_args(args, self._where()), _as_kwargs(kwargs, self._where()))
        new.set(**options)
        return new

    partial = clone

    def replace(self, args: Any = None, kwargs: Any = None, options: dict[str, Any] | None = None) -> Signature:
        """A copy with the parts given swapped in whole, nothing merged (Celery's `replace`).

        Returns:
            A new signature of the same kind.
        """
        new = self._copy()
        if args is not None:
            new.args = _as_args(args, self._where())
        if kwargs is not None:
            new.kwargs = _as_kwargs(kwargs, self._where())
        if options is not None:
            new.options = normalise_options(_signatures_in(options), self._where())
        return new

    def _add_link(self, key: str, sig: Any) -> Signature:
        if isinstance(sig, Mapping) and not isinstance(sig, Signature):
            sig = Signature.from_dict(sig)
        if not isinstance(sig, Signature):
            raise CanvasError(f"{self._where()}: {key} takes a signature or canvas, got {type_name(sig)}")
        linked = self.options.setdefault(key, [])
        if sig not in linked:  # Celery: an equal signature is linked once
            linked.append(sig)
        return sig

    def link(self, callback: Signature) -> Signature:
        """Adds a callback applied with this task's result when it succeeds (an equal one once).

        Returns:
            The callback (as in Celery).
        """
        return self._add_link("link", callback)

    def link_error(self, errback: Signature) -> Signature:
        """Adds an errback applied once if this task fails (an equal one once).

        Returns:
            The errback (as in Celery).
        """
        return self._add_link("link_error", errback)

    def flatten_links(self) -> list[Signature]:
        """This signature followed by its callbacks, recursively (Celery's `flatten_links`)."""
        out: list[Signature] = [self]
        for callback in self.options.get("link", ()):
            out.extend(callback.flatten_links())
        return out

    def stamp(self, visitor: Any = None, append_stamps: bool = False, **headers: Any) -> None:
        """Adds custom headers to this canvas (Celery's `stamp`): kept in the options (carried to
        the task, not interpreted). A visitor is not supported and is ignored."""
        stamps = self.options.setdefault("stamps", {})
        for key, value in headers.items():
            if append_stamps and key in stamps:
                old = stamps[key] if isinstance(stamps[key], list) else [stamps[key]]
                stamps[key] = [*old, value]
            else:
                stamps[key] = value
        self.options["stamped_headers"] = sorted(stamps)

    def on_error(self, errback: Signature) -> Signature:
        """Adds an errback and returns this signature (`xsum.s().on_error(log.s())`)."""
        self.link_error(errback)
        return self

    def __or__(self, other: Any) -> Any:
        return compose(self, other)

    # -- running here ---------------------------------------------------------------------

    def _inline(self, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        """Runs this node in this process with partial args; returns its value."""
        task = self.type
        if task is None:
            raise NotRegistered(
                f"task {self.task!r} is not registered in this process; use .delay() / .apply_async() "
                "to run it on a worker"
            )
        call_args = self.args if self.immutable else tuple(args) + self.args
        call_kwargs = self.kwargs if self.immutable else {**self.kwargs, **kwargs}
        return task(*call_args, **call_kwargs)

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        """Runs the task inline in this process (`add.s(2, 2)()` is 4), as Celery does.

        Raises:
            NotRegistered: if the task is not registered in this process.
        """
        return self._inline(args, kwargs)

    def apply(self, args: Any = None, kwargs: Any = None, **options: Any) -> EagerResult:
        """Runs in this process and returns an `EagerResult` (Celery's `apply`); nothing is
        submitted. A task runs under a request (`self.request.id` is the result's id), as
        `Task.apply`; partial args are ignored by an immutable signature.

        Args:
            args: Partial args.
            kwargs: Partial kwargs.
            **options: `task_id`, and `throw` (raise the exception instead of returning a
                failed result; default: the app's `task_eager_propagates`).

        Raises:
            NotRegistered: if a task of the canvas is not registered in this process.
        """
        where = self._where()
        call_args, call_kwargs = _as_args(args, where), _as_kwargs(kwargs, where)
        throw = options.pop("throw", None)
        if throw is None:
            throw = bool(self._app().conf.task_eager_propagates)
        if self._runs_as_task:
            task = self.type
            if task is None:
                return EagerResult.run(lambda: self._inline(call_args, call_kwargs), task_id="", throw=True)
            if not self.immutable:
                call_args, call_kwargs = call_args + self.args, {**self.kwargs, **call_kwargs}
            else:
                call_args, call_kwargs = self.args, self.kwargs
            merged = {**self.options, **{k: v for k, v in options.items() if v is not None}}
            return task.apply(call_args, call_kwargs, throw=throw, **merged)
        return EagerResult.run(
            lambda: self._inline(call_args, call_kwargs),
            task_id=options.get("task_id") or self.id or str(uuid.uuid4()),
            throw=throw,
        )

    # -- running on workers ---------------------------------------------------------------

    def _partial(self, args: tuple[Any, ...], kwargs: dict[str, Any], options: dict[str, Any]) -> Signature:
        """A copy of this canvas with partial arguments and options applied (for apply_async)."""
        return self.clone(args, kwargs, **options)

    def delay(self, *args: Any, **kwargs: Any) -> ResultBase:
        """Submits with partial arguments: `add.s(2).delay(4)` runs add(4, 2) on a worker."""
        return self.apply_async(args, kwargs)

    def apply_async(self, args: Any = None, kwargs: Any = None, **options: Any) -> ResultBase:
        """Freezes a copy (assigns ids), compiles and submits it in one call.

        Args:
            args: Partial args, prepended to the signature's own.
            kwargs: Partial kwargs, merged (new values win).
            **options: Execution options, merged (new values win); None values are ignored.

        Returns:
            The result object (AsyncResult, or GroupResult for a group), available at once.

        An immutable signature ignores partial args and kwargs, as in Celery; options still merge.

        Raises:
            CanvasError: for an invalid canvas; EncodeError for arguments JSON cannot hold;
                ServiceUnavailable when no scheduler answers.
        """
        if self._app().conf.task_always_eager:
            return self.apply(args, kwargs, **options)
        where = self._where()
        args, kwargs = _as_args(args, where), _as_kwargs(kwargs, where)
        sig = self._partial(args, kwargs, {k: v for k, v in options.items() if v is not None})
        result = sig.freeze()
        sig._app().client.submit(to_proto(sig))
        return result

    def __invert__(self) -> Any:
        """`~sig` is `sig.delay().get()` (a shell shortcut)."""
        return self.delay().get()

    # -- freeze and compile ---------------------------------------------------------------

    def freeze(
        self,
        _id: str | None = None,
        group_id: str | None = None,
        chord: Any = None,
        root_id: str | None = None,
        parent_id: str | None = None,
        group_index: int | None = None,
    ) -> ResultBase:
        """Assigns ids to every node in place and returns the result object (Celery's freeze).

        Args:
            _id: The result id to use if the node has none yet.
            group_id: The group this node is a member of.
            chord: Ignored (Celery's internal chord pointer).
            root_id: The workflow's root task id.
            parent_id: The id of the task whose result this node receives.
            group_index: The position in the group.

        Returns:
            AsyncResult or GroupResult, with `parent` linked as Celery links it.
        """
        return freeze(self, _id=_id, group_id=group_id, root_id=root_id, parent_id=parent_id, group_index=group_index)

    def to_proto(self) -> canvas_pb2.Canvas:
        """This canvas as a `motet.v1.Canvas` message (see `motet.from_proto` for the inverse).

        Raises:
            CanvasError: for an invalid canvas; EncodeError for values JSON cannot hold.
        """
        return to_proto(self)


_BY_TASK_NAME = {"celery.map": "xmap", "celery.starmap": "xstarmap", "celery.chunks": "chunks"}


def _signatures_in(options: dict[str, Any]) -> dict[str, Any]:
    """Options with `link` / `link_error` entries given as Celery dicts turned into canvases."""
    out = dict(options)
    for key in ("link", "link_error"):
        value = out.get(key)
        if isinstance(value, Mapping) and not isinstance(value, Signature):
            out[key] = Signature.from_dict(value)
        elif isinstance(value, (list, tuple)):
            out[key] = [
                Signature.from_dict(v) if isinstance(v, Mapping) and not isinstance(v, Signature) else v for v in value
            ]
    return out


def type_name(value: Any) -> str:
    """The class name of a value, for messages."""
    return type(value).__name__


def signature(varies: Any, args: Any = None, kwargs: Any = None, **options: Any) -> Signature:
    """A signature by task name, or a copy of a signature / canvas (Celery's `signature()`).

    Args:
        varies: A task name, a Task, a dict, or a Signature (which is cloned).
        args: Positional arguments.
        kwargs: Keyword arguments.
        **options: Execution options (and `app=`).

    Returns:
        A new Signature.
    """
    if isinstance(varies, Signature):
        return varies.clone()
    if isinstance(varies, Mapping):
        app = options.pop("app", None)
        return Signature.from_dict(varies, app=app).clone(**options)
    return Signature(varies, args, kwargs, **options)


def maybe_signature(d: Any, app: App | None = None) -> Signature | None:
    """None stays None, a Signature is returned as is, a dict becomes a Signature (Celery's helper)."""
    if d is None or isinstance(d, Signature):
        if d is not None and app is not None:
            d.app = app
        return d
    return Signature.from_dict(d, app=app)
