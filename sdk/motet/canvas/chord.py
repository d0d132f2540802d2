"""chord: a header group whose list of results is passed, exactly once, to a body."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

from motet.canvas import kinds
from motet.canvas.composite import Composite, as_member
from motet.canvas.freeze import splice
from motet.canvas.group import group, materialise
from motet.canvas.signature import KwargsField, Signature, copy_options
from motet.exceptions import CanvasError

if TYPE_CHECKING:
    from motet.app import App

__all__ = ["chord"]


@kinds.register("chord")
class chord(Composite):  # noqa: N801 - Celery's name
    """Run a header group, then the body with the list of header results (in header order).

    `chord(header)(body)` and `chord(header, body).apply_async()` submit it. The chord's
    result is the body's result, whose `parent` is the header's GroupResult. If a header
    member fails the body does not run and its result fails with ChordError.

    Args:
        header: Signatures (an iterable, read once here), a group (its members are taken,
            its id becomes the header group id), or one signature / canvas.
        body: The body signature or canvas (None: give it when calling the chord).
        app: The App to submit with.
        **options: Execution options; `group_id` is the header group id, `task_id` the body's
            result id. Other options apply to header members and body where they set none.

    Raises:
        CanvasError: if the body is not a signature or canvas.
    """

    kind = "chord"
    tasks = KwargsField[list[Signature]]("header")
    body = KwargsField[Signature | None]("body")

    def __init__(self, header: Any = (), body: Any = None, *, app: App | None = None, **options: Any) -> None:
        if isinstance(header, group):
            inherited = {k: v for k, v in header.options.items() if k not in ("task_id", "group_id", "group_index")}
            if header.options.get("task_id"):
                inherited["group_id"] = header.options["task_id"]
            options = {**inherited, **options}
            members = list(header.tasks)
        elif isinstance(header, (Signature, dict)):
            members = [as_member(header, "a chord header")]
        else:
            members = [as_member(t, "a chord header") for t in materialise(header, "a chord header")]
        if body is not None and not isinstance(body, Signature):
            if isinstance(body, dict):
                body = Signature(body)
            else:
                raise CanvasError(f"a chord body must be a signature or canvas, got {type(body).__name__}")
        self._setup(options, app if app is not None else _app_of(members, body))
        self.tasks = members
        self.body = body

    @classmethod
    def _build(
        cls, header: Iterable[Signature], body: Signature | None, options: dict[str, Any], app: App | None = None
    ) -> chord:
        """A chord of exactly these parts with these (already valid) options."""
        obj: chord = dict.__new__(cls)
        obj._setup({}, app)
        obj.tasks = list(header)
        obj.body = body
        obj.options = options
        return obj

    @classmethod
    def from_dict(cls, d: Mapping[str, Any], app: App | None = None) -> chord:
        """The chord a Celery-style dict describes (kwargs["header"]: a list or a group's dict,
        kwargs["body"])."""
        parts = d.get("kwargs") or {}
        header = parts.get("header") or []
        if isinstance(header, Mapping):  # Celery keeps the header as a group
            header = (header.get("kwargs") or {}).get("tasks") or []
        members = [Signature.from_dict(t, app=app) for t in header]
        body = parts.get("body")
        built = cls._build(members, Signature.from_dict(body, app=app) if body else None, {}, app)
        built.set(**(d.get("options") or {}))
        return built

    @classmethod
    def from_group(cls, header: group, body: Signature | None) -> chord:
        """Celery's upgrade of `group | body`: the group's id becomes the header group id."""
        return cls(header, body, app=header.app or (body.app if body is not None else None))

    @property
    def header(self) -> list[Signature]:
        """The header members."""
        return self.tasks

    def __repr__(self) -> str:
        return f"chord([{', '.join(repr(t) for t in self.tasks)}], {self.body!r})"

    def _copy(self) -> chord:
        body = self.body._copy() if self.body is not None else None
        return chord._build([t._copy() for t in self.tasks], body, copy_options(self.options), self.app)

    def _merge_partial(self, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
        # Celery: a chord's partial arguments go to the header members.
        self.tasks = [t._partial(args, kwargs, {}) for t in self.tasks]

    def __length_hint__(self) -> int:
        """How many completions the chord waits for (Celery's count): 1 per task, the sum for
        a group, the last non-empty step for a chain, the body for a chord."""
        return sum(_completions(t) for t in self.tasks)

    def set_immutable(self, immutable: bool) -> None:
        """Sets the flag on the header members, never the body (Celery's `chord.set_immutable`)."""
        for t in self.tasks:
            t.set_immutable(immutable)

    def need_body(self) -> Signature:
        """The body.

        Raises:
            CanvasError: if the chord has no body yet.
        """
        if self.body is None:
            raise CanvasError("this chord has no body yet: use chord(header, body) or chord(header)(body)")
        return self.body

    def __call__(self, body: Signature | None = None, **options: Any) -> Any:
        """`chord(header)(body)`: submits the chord with that body; returns the body's result."""
        sig = self._copy()
        if body is not None:
            sig.body = as_member(body, "a chord body")
        return sig.apply_async(**options)

    def link(self, callback: Signature) -> Signature:
        """Links a callback to the body (Celery: a chord's callbacks are its body's)."""
        return self.need_body().link(callback)

    def link_error(self, errback: Signature) -> Signature:
        """Links an errback to the body: it runs once if the chord fails (header or body).

        With the app's `task_allow_error_cb_on_chord_header` set (read now, as Celery reads it),
        every header member also gets an immutable copy, so a failed member calls it too.
        """
        if self._app().conf.task_allow_error_cb_on_chord_header:
            for member in self.tasks:
                # Celery's `errback.clone(immutable=True)` puts `immutable` among the clone's
                # options, where it changes nothing: the member's errback is called as the
                # errback itself is (a new-style one gets request, exc, traceback).
                member.link_error(errback.clone())
        return self.need_body().link_error(errback)

    def _inline(self, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        values = [t._inline(args, kwargs) for t in splice([t._copy() for t in self.tasks])]
        return self.need_body()._inline((values,), {})


def _app_of(members: list[Signature], body: Signature | None) -> App | None:
    for t in [*members, *([body] if body is not None else [])]:
        if t.app is not None:
            return t.app
    return None


def _completions(sig: Signature) -> int:
    if isinstance(sig, group):
        return sum(_completions(t) for t in sig.tasks)
    if isinstance(sig, kinds.chain_type()):
        for step in reversed(sig.tasks):
            if (size := _completions(step)) > 0:
                return size
        return 0
    if isinstance(sig, chord):
        return _completions(sig.body) if sig.body is not None else 0
    return 1
