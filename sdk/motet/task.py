"""Task: a registered function with Celery's calling API and request context.

The worker uses this contract (names are stable):

- ``task.push_request(**fields)`` / ``task.pop_request()``: a thread-local stack of `Request`
  objects; inside the task ``task.request`` (``self.request`` for ``bind=True``) is the top.
  Fields: id, root_id, parent_id, group_id, group_index, retries, max_retries (the limit for
  this run; None or negative = unlimited), delivery_info {"routing_key": queue, "priority": p},
  args, kwargs, options, hostname, called_directly (False when pushed by a worker).
- ``task.retry(...)`` raises `motet.exceptions.Retry` (countdown, exc, max_retries, when,
  retry_args, retry_kwargs) or, past the limit, the given exc / MaxRetriesExceededError.
- ``task.replace(sig)`` raises `motet.exceptions.Replace` (sig), or ImproperlyConfigured for an
  empty chain.
- ``task.add_to_chord(sig)`` adds a member to the running task's chord through the scheduler.
- attributes: name, run, bind, max_retries, default_retry_delay, autoretry_for, retry_kwargs,
  retry_backoff, retry_backoff_max, retry_jitter, ignore_result, queue, time_limit,
  soft_time_limit, track_started; ``new_style_errback()`` (how the worker calls it as an errback).
"""

from __future__ import annotations

import datetime as dt
import inspect
import threading
import uuid
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

from motet import state
from motet.canvas import Signature, chain, chunks, xmap, xstarmap
from motet.exceptions import CanvasError, ImproperlyConfigured, MaxRetriesExceededError, NotInChord, Replace, Retry
from motet.result import EagerResult

if TYPE_CHECKING:
    from motet.app import App
    from motet.result import AsyncResult, ResultBase

__all__ = ["Request", "Task"]

_TASK_OPTIONS = {
    "name",
    "bind",
    "max_retries",
    "default_retry_delay",
    "autoretry_for",
    "retry_backoff",
    "retry_backoff_max",
    "retry_jitter",
    "ignore_result",
    "queue",
    "time_limit",
    "soft_time_limit",
    "acks_late",
    "retry_kwargs",
    "priority",
    "serializer",
    "typing",
    "base",
    "shared",
    "track_started",
    "reject_on_worker_lost",
    "rate_limit",
    "expires",
}


def _seconds_until(when: Any) -> float:
    if not isinstance(when, dt.datetime):
        raise CanvasError(f"retry eta must be a datetime, got {type(when).__name__}")
    if when.tzinfo is None:
        when = when.replace(tzinfo=dt.UTC)
    return max(0.0, float((when - dt.datetime.now(dt.UTC)).total_seconds()))


class Request:
    """What a task sees as `self.request` (Celery's names).

    Unknown fields given to the constructor become attributes too.
    """

    def __init__(self, **fields: Any) -> None:
        self.id: str | None = None
        self.root_id: str | None = None
        self.parent_id: str | None = None
        self.group_id: str | None = None
        self.group_index: int | None = None
        self.retries: int = 0
        self.max_retries: int | None = None
        self.delivery_info: dict[str, Any] = {}
        self.args: Any = ()
        self.kwargs: dict[str, Any] = {}
        self.options: Any = {}
        self.hostname: str | None = None
        self.called_directly: bool = True
        self.is_eager: bool = False
        self.__dict__.update(fields)

    @property
    def group(self) -> str | None:
        """The group id (Celery's name for it)."""
        return self.group_id

    @property
    def task_id(self) -> str | None:
        """The task id (alias of `id`)."""
        return self.id

    def get(self, key: str, default: Any = None) -> Any:
        """Celery's `request.get(key, default)`."""
        return getattr(self, key, default)

    def __repr__(self) -> str:
        return f"<Request id={self.id!r} retries={self.retries}>"


class Task:
    """A task: call it to run inline; `.s()` / `.delay()` / `.apply_async()` to run on workers.

    Args:
        app: The App it is registered in.
        fun: The function.
        **options: See `App.task`.
    """

    def __init__(self, app: App, fun: Callable[..., Any], **options: Any) -> None:
        unknown = set(options) - _TASK_OPTIONS
        if unknown:
            raise CanvasError(
                f"unknown task option(s) {sorted(unknown)} for {fun.__qualname__}; known: {sorted(_TASK_OPTIONS)}"
            )
        self.app = app
        self.run = fun
        module = fun.__module__ if fun.__module__ != "__main__" else app.name
        self.name: str = options.get("name") or f"{module}.{fun.__name__}"
        self.bind: bool = options.get("bind", False)
        self.max_retries: int | None = options.get("max_retries", 3)
        self.default_retry_delay: float = options.get("default_retry_delay", 180)
        self.autoretry_for: tuple[type[BaseException], ...] = tuple(options.get("autoretry_for", ()))
        self.retry_kwargs: dict[str, Any] = dict(options.get("retry_kwargs", {}))
        self.retry_backoff: bool | float = options.get("retry_backoff", False)
        self.retry_backoff_max: float = options.get("retry_backoff_max", 600)
        self.retry_jitter: bool = options.get("retry_jitter", False)
        self.ignore_result: bool = options.get("ignore_result", False)
        self.queue: str | None = options.get("queue")
        self.time_limit: float | None = options.get("time_limit")
        self.soft_time_limit: float | None = options.get("soft_time_limit")
        self.track_started: bool = options.get("track_started", False)
        self.serializer: str | None = options.get("serializer")
        self._local = threading.local()
        self.__doc__ = fun.__doc__
        self.__wrapped__ = fun

    def __repr__(self) -> str:
        return f"<@task: {self.name}>"

    # -- request context --------------------------------------------------------------------

    def _stack(self) -> list[Request]:
        stack: list[Request] | None = getattr(self._local, "stack", None)
        if stack is None:
            stack = self._local.stack = []
        return stack

    @property
    def request(self) -> Request:
        """The request being executed in this thread (a default one when none is active)."""
        stack = self._stack()
        return stack[-1] if stack else Request()

    def push_request(self, **fields: Any) -> None:
        """Starts a request context in this thread (the worker calls this before running).

        `called_directly` defaults to False and `max_retries` to the task's own limit.
        """
        fields.setdefault("called_directly", False)
        if fields.get("max_retries") is None:
            fields["max_retries"] = self.max_retries
        request = Request(**fields)
        self._stack().append(request)
        state.push_request(request)  # what this thread runs: work it sends is this task's child

    def pop_request(self) -> None:
        """Ends the innermost request context of this thread."""
        self._stack().pop()
        state.pop_request()

    # -- calling ----------------------------------------------------------------------------

    def _call_run(self, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        return self.run(self, *args, **kwargs) if self.bind else self.run(*args, **kwargs)

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        """Runs the function here and now.

        When no request is active in this thread (a direct call) a request with
        `called_directly=True` is pushed for the call; under a worker's request the function
        runs in that request.
        """
        if self._stack():
            return self._call_run(args, kwargs)
        self.push_request(args=args, kwargs=kwargs, called_directly=True)
        try:
            return self._call_run(args, kwargs)
        finally:
            self.pop_request()

    def new_style_errback(self) -> bool:
        """Whether, as an errback, it is called new style ``(request, exc, traceback, *args)``.

        Celery's rule, by the function's arity: new style when it takes more than one
        positional parameter, or ``*args``; old style ``(failed_task_id, *args)`` when it takes
        exactly one, or is a ``bind=True`` task. (An immutable errback gets only its own args.)
        """
        if self.bind:
            return False
        params = list(inspect.signature(self.run).parameters.values())
        if any(p.kind is p.VAR_POSITIONAL for p in params):
            return True
        positional = [p for p in params if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
        return len(positional) > 1

    def apply(self, args: Any = None, kwargs: Any = None, **options: Any) -> EagerResult:
        """Runs inline in this process under a request (Celery's `apply`); returns an EagerResult.

        Args:
            args: Positional arguments.
            kwargs: Keyword arguments.
            **options: `task_id`, `queue`, `priority`; `throw` raises the task's exception
                instead of returning a failed result (default: the app's `task_eager_propagates`).
        """
        task_id = options.get("task_id") or str(uuid.uuid4())
        throw = options.get("throw")
        if throw is None:
            throw = bool(self.app.conf.task_eager_propagates)
        call_args, call_kwargs = tuple(args or ()), dict(kwargs or {})

        def run() -> Any:
            self.push_request(
                id=task_id,
                root_id=task_id,
                args=call_args,
                kwargs=call_kwargs,
                is_eager=True,
                delivery_info={"routing_key": options.get("queue") or self.queue, "priority": options.get("priority")},
            )
            try:
                return self._call_run(call_args, call_kwargs)
            finally:
                self.pop_request()

        return EagerResult.run(run, task_id=task_id, throw=throw)

    def signature(self, args: Any = None, kwargs: Any = None, **options: Any) -> Signature:
        """A signature of this task (Celery's `Task.signature`)."""
        return Signature(self.name, args, kwargs, app=self.app, **options)

    subtask = signature

    def s(self, *args: Any, **kwargs: Any) -> Signature:
        """A (partial) signature: `add.s(2)`."""
        return self.signature(args, kwargs)

    def si(self, *args: Any, **kwargs: Any) -> Signature:
        """An immutable signature: a parent's result is not prepended to its args."""
        return self.signature(args, kwargs, immutable=True)

    def delay(self, *args: Any, **kwargs: Any) -> ResultBase:
        """Runs on a worker: `add.delay(2, 2)`; returns the AsyncResult."""
        return self.apply_async(args, kwargs)

    def apply_async(self, args: Any = None, kwargs: Any = None, **options: Any) -> ResultBase:
        """Runs on a worker with execution options (countdown, eta, link, queue, ...)."""
        return self.signature(args, kwargs).apply_async(**options)

    def AsyncResult(self, task_id: str) -> AsyncResult:  # noqa: N802 - Celery's name
        """A result handle for a task id, bound to this task's app."""
        return self.app.AsyncResult(task_id)

    def map(self, it: Iterable[Any]) -> xmap:
        """One task calling this task for each item, in order (Celery's `map`)."""
        return xmap(self.s(), it)

    def starmap(self, it: Iterable[Any]) -> xstarmap:
        """One task calling this task with each argument list, in order (Celery's `starmap`)."""
        return xstarmap(self.s(), it)

    def chunks(self, it: Iterable[Any], n: int) -> chunks:
        """The argument lists split into tasks of `n` items each, run as a group."""
        return chunks(self.s(), it, n)

    # -- inside a running task --------------------------------------------------------------

    def retry(
        self,
        args: Any = None,
        kwargs: Any = None,
        exc: BaseException | None = None,
        throw: bool = True,
        eta: Any = None,
        countdown: float | None = None,
        max_retries: int | None = None,
        **options: Any,
    ) -> Retry:
        """Asks the worker to run this task again later (`raise self.retry(exc=exc)`).

        Args:
            args: New positional arguments for the next run (None: unchanged).
            kwargs: New keyword arguments for the next run (None: unchanged).
            exc: The error that caused the retry; re-raised when no retries are left.
            throw: Ignored; the Retry is always raised (the worker needs it to reschedule).
            eta: When to run again (a datetime), instead of `countdown`.
            countdown: Seconds to wait (default: `default_retry_delay`).
            max_retries: A new limit for this task (default: the request's / task's).
            **options: Ignored execution options (Celery accepts them).

        Raises:
            Retry: normally.
            The given `exc`, or MaxRetriesExceededError, when retries are exhausted.
            The given `exc` (or Retry) when the task was called directly, as in Celery.
        """
        request = self.request
        if request.called_directly:
            # Celery: a task called directly cannot be retried; its error surfaces at once.
            if exc is not None:
                raise exc
            raise Retry("Task can be retried", exc=exc)
        limit = max_retries if max_retries is not None else request.max_retries
        if limit is not None and limit >= 0 and request.retries >= limit:
            if exc is not None:
                raise exc
            raise MaxRetriesExceededError(
                f"Can't retry {self.name}[{request.id}] args:{request.args} kwargs:{request.kwargs}"
            )
        if countdown is None and eta is None:
            countdown = self.default_retry_delay
        elif countdown is None:
            countdown = _seconds_until(eta)
        message = f"Retry in {countdown}s" if eta is None else f"Retry at {eta}"
        raise Retry(
            f"{message}: {exc!r}" if exc is not None else message,
            exc=exc,
            countdown=countdown,
            max_retries=max_retries,
            when=eta,
            args=args,
            kwargs=kwargs,
        )

    def replace(self, sig: Signature) -> None:
        """Replaces this task with a canvas whose result becomes this task's result.

        The replacement takes over this task's id, its group / chord membership, its callbacks
        and errbacks, and the rest of its chain (the scheduler attaches them as Celery does).

        Raises:
            Replace: always (the worker submits the replacement).
            ImproperlyConfigured: for an empty chain, as in Celery (the task fails with it).
        """
        if isinstance(sig, chain) and not sig.tasks:
            raise ImproperlyConfigured("Cannot replace with an empty chain")
        raise Replace(sig)

    def add_to_chord(self, sig: Signature, lazy: bool = False) -> ResultBase:
        """Adds `sig` to the chord this running task is a header member of (Celery's `add_to_chord`).

        The scheduler counts the new member in the same transaction that creates it, so the
        body waits for it too; its value is appended to the header results. It starts at once.

        Args:
            sig: A signature or canvas (it is frozen here: its ids are assigned).
            lazy: Not supported (Celery returns the signature unsent, to be sent later; here the
                member must be created with its place in the chord).

        Returns:
            The new member's result.

        Raises:
            NotInChord: this task is not running as a direct member of a chord header (for a
                chain in the header, only its last step is).
            CanvasError: for ``lazy=True``.
        """
        if lazy:
            raise CanvasError("add_to_chord(lazy=True) is not supported: the member is sent at once")
        request = self.request
        if request.called_directly or not request.id or not request.group_id:
            raise NotInChord(f"task {self.name}[{request.id}] is not a member of any chord")
        member = sig._copy()
        result = member.freeze(root_id=request.root_id, parent_id=request.id)
        self.app.client.add_to_chord(request.id, member.to_proto())
        return result
