"""The canvas: signatures and the primitives that compose them, with Celery's rules.

Build (`signature`, `chain`, `group`, `chord`, `chunks`, `xmap`, `xstarmap`, `|`), freeze
(assign ids, build result objects), compile (`to_proto` / `from_proto`) and apply (submit).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from typing import Any

from motet import payload
from motet.app import App, current_app
from motet.exceptions import CanvasError
from motet.compile import check_options as _check_options
from motet.compile import options_proto
from motet.v1 import canvas_pb2

__all__ = [
    "MAX_DEPTH",
    "Signature",
    "chain",
    "chord",
    "chunks",
        "group",
    "signature",
    "xmap",
    "xstarmap",
]

MAX_DEPTH = 32
"""Deepest nesting accepted (protobuf decodes at most 100 message levels; a canvas level costs two)."""

def _materialise(it: Any) -> list[Any]:
    if isinstance(it, (str, bytes)):
        raise CanvasError("expected an iterable of items, got a string")
    return [tuple(x) if isinstance(x, (zip, map)) else x for x in it]


class Signature:
    """One task invocation: a name, arguments and options (Celery's `Signature`)."""

    kind = "signature"

    def __init__(
        self,
        task: Any = None,
        args: Any = None,
        kwargs: dict[str, Any] | None = None,
        options: dict[str, Any] | None = None,
        *,
        app: App | None = None,
        immutable: bool = False,
        subtask_type: str | None = None,
        **ex: Any,
    ) -> None:
        name = getattr(task, "name", task)
        if name is not None and not isinstance(name, str):
            raise CanvasError(f"a signature needs a task or a task name, got {type(task).__name__}")
        self.task: str | None = name
        self.args: tuple[Any, ...] = tuple(args or ())
        self.kwargs: dict[str, Any] = dict(kwargs or {})
        opts = dict(options or {})
        opts.update(ex)
        if opts.pop("immutable", False):
            immutable = True
        _check_options(opts, f"signature {name}")
        self.options: dict[str, Any] = opts
        self.immutable = immutable
        self.subtask_type = subtask_type
        self.app = app

    # -- Celery's small API -------------------------------------------------------------

    @property
    def id(self) -> str | None:
        """The task id once frozen (or set with `task_id=`)."""
        return self.options.get("task_id")

    @property
    def name(self) -> str | None:
        """The task name."""
        return self.task

    @property
    def type(self) -> Any:
        """The registered Task, if this process has it."""
        return self._app().tasks.get(self.task or "")

    def _app(self) -> App:
        return self.app or current_app()

    def __repr__(self) -> str:
        parts = [repr(a) for a in self.args] + [f"{k}={v!r}" for k, v in self.kwargs.items()]
        return f"{self.task}({', '.join(parts)})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Signature) and self.to_proto() == other.to_proto()

    def __hash__(self) -> int:
        return id(self)

    def set(self, immutable: bool | None = None, **options: Any) -> Signature:
        """Sets options in place (`add.s(2, 2).set(countdown=1)`); returns self."""
        _check_options(options, f"signature {self.task}")
        if immutable is not None:
            self.immutable = immutable
        self.options.update(options)
        return self

    def clone(self, args: Any = None, kwargs: dict[str, Any] | None = None, **options: Any) -> Signature:
        """A copy with partial args prepended, kwargs and options merged (new values win)."""
        new = self._copy()
        if not self.immutable:
            new.args = tuple(args or ()) + self.args
            new.kwargs = {**self.kwargs, **(kwargs or {})}
        new.set(**options)
        return new

    def _copy(self) -> Signature:
        new = Signature(self.task, self.args, self.kwargs, app=self.app, immutable=self.immutable, subtask_type=self.subtask_type)
        new.options = _copy_options(self.options)
        return new

    def link(self, callback: Signature) -> Signature:
        """Adds a callback applied with this task's result on success; returns the callback."""
        self.options.setdefault("link", []).append(callback)
        return callback

    def link_error(self, errback: Signature) -> Signature:
        """Adds an errback applied once if this task fails; returns the errback."""
        self.options.setdefault("link_error", []).append(errback)
        return errback

    def on_error(self, errback: Signature) -> Signature:
        """Adds an errback; returns self (for chaining into a canvas)."""
        self.link_error(errback)
        return self

    def __or__(self, other: Any) -> Any:
        from motet.compose import compose

        return compose(self, other)

    def __invert__(self) -> Any:
        return self.apply_async().get()

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        """Runs the task inline in this process (Celery: calling a signature executes it)."""
        task = self.type
        if task is None:
            from motet.exceptions import NotRegistered

            raise NotRegistered(f"task {self.task!r} is not registered in this process; use .delay() to run it on a worker")
        call_args = self.args if self.immutable else tuple(args) + self.args
        call_kwargs = self.kwargs if self.immutable else {**self.kwargs, **kwargs}
        return task(*call_args, **call_kwargs)

    def apply(self, args: Any = None, kwargs: dict[str, Any] | None = None, **options: Any) -> Any:
        """Runs inline and returns an EagerResult-like value (the return value)."""
        return self(*(args or ()), **(kwargs or {}))

    def delay(self, *args: Any, **kwargs: Any) -> Any:
        """Submits with partial arguments: `add.s(2).delay(4)`."""
        return self.apply_async(args, kwargs)

    def apply_async(self, args: Any = None, kwargs: dict[str, Any] | None = None, **options: Any) -> Any:
        """Freezes (assigns ids), compiles and submits; returns the result object at once."""
        if self.immutable and (args or kwargs) and self.kind == "signature":
            raise CanvasError(
                f"signature {self.task} is immutable and cannot take partial arguments {tuple(args or ())} {kwargs or {}}"
            )
        sig = self._with_partials(args, kwargs, options)
        result = sig.freeze()
        from motet import client

        client.submit(sig._app(), sig.to_proto())
        return result

    def _with_partials(self, args: Any, kwargs: Any, options: dict[str, Any]) -> Any:
        return self.clone(args, kwargs, **options)

    # -- freeze -------------------------------------------------------------------------

    def freeze(
        self,
        _id: str | None = None,
        group_id: str | None = None,
        root_id: str | None = None,
        parent_id: str | None = None,
        group_index: int | None = None,
    ) -> Any:
        """Assigns ids (this task's and its callbacks') and returns its AsyncResult."""
        from motet.result import AsyncResult

        opts = self.options
        if _id is not None:
            opts["task_id"] = _id
        opts.setdefault("task_id", str(uuid.uuid4()))
        if group_id is not None:
            opts["group_id"] = group_id
        if group_index is not None:
            opts["group_index"] = group_index
        if root_id is not None:
            opts["root_id"] = root_id
        if parent_id is not None:
            opts["parent_id"] = parent_id
        for callback in [*opts.get("link", []), *opts.get("link_error", [])]:
            callback.freeze(root_id=root_id or opts["task_id"], parent_id=opts["task_id"])
        return AsyncResult(opts["task_id"], app=self._app())

    # -- compile ------------------------------------------------------------------------

    def to_proto(self, depth: int = 0) -> canvas_pb2.Canvas:
        """This signature as a `motet.v1.Canvas`."""
        _depth(depth)
        return canvas_pb2.Canvas(signature=self._sig_proto(depth))

    def _sig_proto(self, depth: int) -> canvas_pb2.Signature:
        if not self.task:
            raise CanvasError("a signature needs a task name")
        return canvas_pb2.Signature(
            task=self.task,
            args=payload.encode(list(self.args), what=f"task {self.task} args"),
            kwargs=payload.encode(self.kwargs, what=f"task {self.task} kwargs"),
            options=options_proto(self.options, self.immutable, depth, f"task {self.task}"),
        )


class _Composite(Signature):
    """Common ground of chain / group / chord / chunks: options but no task name."""

    def __init__(self, options: dict[str, Any] | None = None, app: App | None = None) -> None:
        super().__init__(None, options=options, app=app)

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self.apply_async(args, kwargs)

    def _with_partials(self, args: Any, kwargs: Any, options: dict[str, Any]) -> Any:
        new = self._copy()
        new.set(**options)
        if args or kwargs:
            new._prepend(tuple(args or ()), dict(kwargs or {}))
        return new

    def _prepend(self, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
        raise NotImplementedError


def _member_app(tasks: list[Any]) -> App | None:
    for t in tasks:
        if getattr(t, "app", None) is not None:
            return t.app  # type: ignore[no-any-return]
    return None


class chain(_Composite):  # noqa: N801 - Celery's name
    """Tasks run one after another; each result is prepended to the next task's arguments."""

    kind = "chain"

    def __init__(self, *tasks: Any, app: App | None = None, **options: Any) -> None:
        if len(tasks) == 1 and not isinstance(tasks[0], Signature):
            tasks = tuple(tasks[0])
        flat: list[Signature] = []
        for t in tasks:
            if not isinstance(t, Signature):
                raise CanvasError(f"a chain takes signatures, got {type(t).__name__}")
            flat.extend(t.tasks if isinstance(t, chain) and not t.options else [t])
        super().__init__(options, app=app or _member_app(flat))
        self.tasks: list[Signature] = flat

    def __repr__(self) -> str:
        return " | ".join(repr(t) for t in self.tasks)

    def _copy(self) -> chain:
        new = chain(*[t._copy() for t in self.tasks], app=self.app)
        new.options = _copy_options(self.options)
        return new

    def _prepend(self, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
        first = self.tasks[0]
        self.tasks[0] = first.clone(args, kwargs) if not isinstance(first, _Composite) else first._with_partials(args, kwargs, {})

    def _steps(self) -> list[Signature]:
        """The steps with Celery's upgrade: a group followed by a step becomes a chord."""
        steps: list[Signature] = []
        for t in self.tasks:
            if steps and isinstance(steps[-1], group) and not isinstance(steps[-1], chord):
                steps[-1] = chord(steps[-1].tasks, t, app=self.app, **steps[-1].options)
            else:
                steps.append(t)
        return steps

    def freeze(self, _id: str | None = None, group_id: str | None = None, root_id: str | None = None,
               parent_id: str | None = None, group_index: int | None = None) -> Any:
        """Freezes every step; returns the last step's result, linked to the earlier ones by `parent`."""
        if not self.tasks:
            raise CanvasError("a chain needs at least one task")
        self.tasks = self._steps()
        previous = None
        root = root_id
        for index, step in enumerate(self.tasks):
            last = index == len(self.tasks) - 1
            result = step.freeze(
                _id if last else None,
                group_id=group_id if last else None,
                group_index=group_index if last else None,
                root_id=root,
                parent_id=previous.id if previous is not None else parent_id,
            )
            if root is None:
                root = _first_id(step)
            if previous is not None:
                # A chord's result is its body, whose parent is the header: the header follows `previous`.
                _set_parent(result.parent if isinstance(step, chord) else result, previous)
            previous = result
        return previous

    def to_proto(self, depth: int = 0) -> canvas_pb2.Canvas:
        _depth(depth)
        if not self.tasks:
            raise CanvasError("a chain needs at least one task")
        return canvas_pb2.Canvas(
            chain=canvas_pb2.Chain(
                tasks=[t.to_proto(depth + 1) for t in self._steps()],
                options=options_proto(self.options, False, depth, "chain"),
            )
        )


class group(_Composite):  # noqa: N801 - Celery's name
    """Tasks run in parallel; the value is the list of their results in order."""

    kind = "group"

    def __init__(self, *tasks: Any, app: App | None = None, **options: Any) -> None:
        if len(tasks) == 1 and not isinstance(tasks[0], Signature):
            tasks = tuple(_materialise(tasks[0]))
        elif len(tasks) == 1 and isinstance(tasks[0], group) and not isinstance(tasks[0], chord):
            tasks = tuple(tasks[0].tasks)
        for t in tasks:
            if not isinstance(t, Signature):
                raise CanvasError(f"a group takes signatures, got {type(t).__name__}")
        super().__init__(options, app=app or _member_app(list(tasks)))
        self.tasks: list[Signature] = list(tasks)

    def __repr__(self) -> str:
        return "group(" + ", ".join(repr(t) for t in self.tasks) + ")"

    def _copy(self) -> group:
        new = group(*[t._copy() for t in self.tasks], app=self.app)
        new.options = _copy_options(self.options)
        return new

    def _prepend(self, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
        self.tasks = [
            t.clone(args, kwargs) if not isinstance(t, _Composite) else t._with_partials(args, kwargs, {})
            for t in self.tasks
        ]

    def link(self, callback: Signature) -> Signature:
        """Runs `callback` once, after every member succeeded, with the list of results."""
        return super().link(callback)

    def skew(self, start: float = 1.0, stop: float | None = None, step: float = 1.0) -> group:
        """Staggers the members' countdowns: start, start + step, ... (capped at stop)."""
        value = start
        for t in self.tasks:
            t.set(countdown=value)
            if stop is None or value + step <= stop:
                value += step
        return self

    def freeze(self, _id: str | None = None, group_id: str | None = None, root_id: str | None = None,
               parent_id: str | None = None, group_index: int | None = None) -> Any:
        """Freezes the members under one group id; returns the GroupResult."""
        from motet.result import GroupResult

        gid = _id or self.options.get("task_id") or str(uuid.uuid4())
        self.options["task_id"] = gid
        results = []
        root = root_id
        for index, t in enumerate(self.tasks):
            results.append(t.freeze(group_id=gid, group_index=index, root_id=root, parent_id=parent_id))
            if root is None:
                root = _first_id(t)
        for callback in [*self.options.get("link", []), *self.options.get("link_error", [])]:
            callback.freeze(root_id=root)
        return GroupResult(gid, results, app=self._app())

    def to_proto(self, depth: int = 0) -> canvas_pb2.Canvas:
        _depth(depth)
        return canvas_pb2.Canvas(
            group=canvas_pb2.Group(
                tasks=[t.to_proto(depth + 1) for t in self.tasks],
                options=options_proto(self.options, False, depth, "group"),
            )
        )


class chord(group):  # noqa: N801 - Celery's name
    """A header group whose list of results is passed, once, to a body."""

    kind = "chord"

    def __init__(self, header: Any, body: Signature | None = None, app: App | None = None, **options: Any) -> None:
        if isinstance(header, group):
            header = header.tasks
        members = _materialise(header) if not isinstance(header, Signature) else [header]
        if body is not None and not isinstance(body, Signature):
            raise CanvasError(f"a chord body must be a signature or canvas, got {type(body).__name__}")
        super().__init__(*members, app=app or (body.app if body is not None else None), **options)
        self.tasks = list(members)
        self.body = body

    @property
    def header(self) -> list[Signature]:
        """The header members."""
        return self.tasks

    def __repr__(self) -> str:
        return f"chord([{', '.join(repr(t) for t in self.tasks)}], {self.body!r})"

    def _copy(self) -> chord:
        new = chord([t._copy() for t in self.tasks], self.body._copy() if self.body is not None else None, app=self.app)
        new.options = _copy_options(self.options)
        return new

    def __call__(self, body: Signature | None = None, **options: Any) -> Any:  # type: ignore[override]
        """`chord(header)(body)` applies the chord with that body."""
        sig = self._copy()
        if body is not None:
            sig.body = body
        return sig.apply_async(**options)

    def link(self, callback: Signature) -> Signature:
        """Links to the body (Celery: a chord's callbacks are the body's)."""
        return self._need_body().link(callback)

    def link_error(self, errback: Signature) -> Signature:
        """An errback that runs once if the chord fails."""
        return self._need_body().link_error(errback)

    def _need_body(self) -> Signature:
        if self.body is None:
            raise CanvasError("this chord has no body yet: chord(header, body) or chord(header)(body)")
        return self.body

    def freeze(self, _id: str | None = None, group_id: str | None = None, root_id: str | None = None,
               parent_id: str | None = None, group_index: int | None = None) -> Any:
        """Freezes header and body; returns the body's result, whose parent is the header GroupResult."""
        body = self._need_body()
        header_result = super().freeze(self.options.get("group_id"), root_id=root_id, parent_id=parent_id)
        self.options["group_id"] = header_result.id
        self.options.pop("task_id", None)
        root = root_id or (header_result.results[0].id if header_result.results else None)
        result = body.freeze(_id, group_id=group_id, group_index=group_index, root_id=root)
        _set_parent(result, header_result)
        return result

    def to_proto(self, depth: int = 0) -> canvas_pb2.Canvas:
        _depth(depth)
        body = self._need_body()
        opts = dict(self.options)
        opts.pop("task_id", None)
        return canvas_pb2.Canvas(
            chord=canvas_pb2.Chord(
                header=[t.to_proto(depth + 1) for t in self.tasks],
                body=body.to_proto(depth + 1),
                options=options_proto(opts, False, depth, "chord"),
            )
        )


class _MapSig(Signature):
    """One task applying a task to every item (xmap / xstarmap)."""

    def __init__(self, task: Signature, it: Iterable[Any], starmap: bool, **options: Any) -> None:
        self.mapped = task if isinstance(task, Signature) else Signature(task)
        self.items = [list(x) if starmap else x for x in _materialise(it)]
        self.starmap = starmap
        super().__init__(self.mapped.task, app=self.mapped.app, subtask_type="xstarmap" if starmap else "xmap", **options)

    def __repr__(self) -> str:
        return f"[{self.mapped!r}(x) for x in {self.items!r}]"

    def _copy(self) -> _MapSig:
        new = type(self)(self.mapped._copy(), self.items)  # type: ignore[call-arg]
        new.options = _copy_options(self.options)
        return new

    def _with_partials(self, args: Any, kwargs: Any, options: dict[str, Any]) -> Any:
        new = self._copy()
        new.set(**options)
        return new

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        task = self.mapped.type
        if self.starmap:
            return [task(*item, *self.mapped.args, **self.mapped.kwargs) for item in self.items]
        return [task(item, *self.mapped.args, **self.mapped.kwargs) for item in self.items]

    def to_proto(self, depth: int = 0) -> canvas_pb2.Canvas:
        _depth(depth)
        return canvas_pb2.Canvas(
            map=canvas_pb2.Map(
                task=self.mapped._sig_proto(depth),
                items=payload.encode(self.items, what=f"task {self.task} items"),
                starmap=self.starmap,
                options=options_proto(self.options, False, depth, f"task {self.task}"),
            )
        )


class xmap(_MapSig):  # noqa: N801 - Celery's name
    """`task(item, *partial_args)` for each item, in one task (partial args are kept)."""

    def __init__(self, task: Signature, it: Iterable[Any], **options: Any) -> None:
        super().__init__(task, it, False, **options)


class xstarmap(_MapSig):  # noqa: N801 - Celery's name
    """`task(*item, *partial_args)` for each item, in one task (partial args are kept)."""

    def __init__(self, task: Signature, it: Iterable[Any], **options: Any) -> None:
        super().__init__(task, it, True, **options)


class chunks(_Composite):  # noqa: N801 - Celery's name
    """Items split into tasks of `n` items each (each a starmap); the chunks run as a group."""

    kind = "chunks"

    def __init__(self, task: Signature, it: Iterable[Any], n: int, app: App | None = None, **options: Any) -> None:
        if not isinstance(n, int) or n < 1:
            raise CanvasError(f"chunk size must be a whole number of at least 1 (got {n!r})")
        super().__init__(options, app=app or task.app)
        self.mapped = task
        self.items = [list(x) for x in _materialise(it)]
        self.n = n

    def __repr__(self) -> str:
        return f"{self.mapped.task}.chunks({len(self.items)} items, {self.n})"

    def _copy(self) -> chunks:
        new = chunks(self.mapped._copy(), self.items, self.n, app=self.app)
        new.options = _copy_options(self.options)
        return new

    def group(self) -> group:
        """The chunks as a group of starmap tasks (Celery's `chunks.group()`)."""
        members = [xstarmap(self.mapped._copy(), self.items[i : i + self.n]) for i in range(0, len(self.items), self.n)]
        return group(*members, app=self.app, **_copy_options(self.options))

    def __or__(self, other: Any) -> Any:
        from motet.compose import compose

        return compose(self.group(), other)

    def freeze(self, _id: str | None = None, group_id: str | None = None, root_id: str | None = None,
               parent_id: str | None = None, group_index: int | None = None) -> Any:
        g = self.group()
        result = g.freeze(_id or self.options.get("task_id"), root_id=root_id, parent_id=parent_id)
        self.options["task_id"] = result.id
        self._member_ids = [r.id for r in result.results]
        return result

    def to_proto(self, depth: int = 0) -> canvas_pb2.Canvas:
        _depth(depth)
        return canvas_pb2.Canvas(
            chunks=canvas_pb2.Chunks(
                task=self.mapped._sig_proto(depth),
                items=payload.encode(self.items, what=f"task {self.mapped.task} chunk items"),
                size=self.n,
                options=options_proto(self.options, False, depth, "chunks"),
                member_ids=getattr(self, "_member_ids", []),
            )
        )


def signature(varies: Any, args: Any = None, kwargs: dict[str, Any] | None = None, **options: Any) -> Signature:
    """A signature by task name (or a copy of a signature), like Celery's `signature()`."""
    if isinstance(varies, Signature):
        return varies.clone()
    return Signature(varies, args, kwargs, **options)


# -- freeze helpers ------------------------------------------------------------------------


def _first_id(sig: Signature) -> str | None:
    if isinstance(sig, chain):
        return _first_id(sig.tasks[0])
    if isinstance(sig, group):
        if sig.tasks:
            return _first_id(sig.tasks[0])
        if isinstance(sig, chord) and sig.body is not None:
            return _first_id(sig.body)
        return sig.options.get("task_id")
    if isinstance(sig, chunks):
        return (getattr(sig, "_member_ids", None) or [sig.options.get("task_id")])[0]
    return sig.id


def _set_parent(result: Any, parent: Any) -> None:
    """Links a result to its parent (for a chord: the body's parent is set already)."""
    known = result.__dict__.get("_parent", result.__dict__.get("parent"))
    if known is None:
        result.parent = parent


def _copy_options(options: dict[str, Any]) -> dict[str, Any]:
    out = dict(options)
    for key in ("link", "link_error"):
        if key in out:
            out[key] = [s._copy() for s in out[key]]
    return out


def _depth(depth: int) -> None:
    if depth > MAX_DEPTH:
        raise CanvasError(f"the canvas is nested deeper than {MAX_DEPTH} levels")


