"""Task: a registered function with Celery's calling API and request context."""

from __future__ import annotations

import inspect
import threading
from collections.abc import Callable, Iterable
from types import SimpleNamespace
from typing import TYPE_CHECKING, Any

from motet.exceptions import MaxRetriesExceededError, Replace, Retry

if TYPE_CHECKING:
    from motet.app import App
    from motet.canvas import Signature
    from motet.result import AsyncResult

__all__ = ["Request", "Task"]

_TASK_OPTIONS = {
    "name", "bind", "max_retries", "default_retry_delay", "autoretry_for", "retry_backoff",
    "retry_backoff_max", "retry_jitter", "ignore_result", "queue", "time_limit", "soft_time_limit",
    "acks_late", "retry_kwargs", "priority", "serializer", "typing", "base", "shared", "track_started",
}


class Request(SimpleNamespace):
    """What a task sees as `self.request` (Celery's names)."""

    id: str | None
    root_id: str | None
    parent_id: str | None
    group_id: str | None
    group_index: int | None
    retries: int
    called_directly: bool
    delivery_info: dict[str, Any]


def _default_request() -> Request:
    return Request(
        id=None, root_id=None, parent_id=None, group_id=None, group_index=None, retries=0,
        called_directly=True, delivery_info={}, args=(), kwargs={}, options={}, max_retries=None,
    )


class Task:
    """A task: call it to run inline, `.s()` / `.delay()` / `.apply_async()` to run on workers."""

    def __init__(self, app: App, fun: Callable[..., Any], **options: Any) -> None:
        unknown = set(options) - _TASK_OPTIONS
        if unknown:
            from motet.exceptions import CanvasError

            raise CanvasError(f"unknown task option(s) {sorted(unknown)} for {fun.__qualname__}")
        self.app = app
        self.run = fun
        module = fun.__module__ if fun.__module__ != "__main__" else app.name
        self.name: str = options.get("name") or f"{module}.{fun.__name__}"
        self.bind: bool = options.get("bind", False)
        self.max_retries: int | None = options.get("max_retries", 3)
        self.default_retry_delay: float = options.get("default_retry_delay", 180)
        self.autoretry_for: tuple[type[BaseException], ...] = tuple(options.get("autoretry_for", ()))
        self.retry_backoff: bool | float = options.get("retry_backoff", False)
        self.retry_backoff_max: float = options.get("retry_backoff_max", 600)
        self.retry_jitter: bool = options.get("retry_jitter", False)
        self.retry_kwargs: dict[str, Any] = options.get("retry_kwargs", {})
        self.ignore_result: bool = options.get("ignore_result", False)
        self.queue: str | None = options.get("queue")
        self.time_limit: float | None = options.get("time_limit")
        self.soft_time_limit: float | None = options.get("soft_time_limit")
        self.track_started: bool = options.get("track_started", False)
        self._local = threading.local()
        self.__doc__ = fun.__doc__
        self.__wrapped__ = fun

    def __repr__(self) -> str:
        return f"<@task: {self.name}>"

    # -- request context ------------------------------------------------------------

    @property
    def request(self) -> Request:
        """The request being executed in this thread (a default one when called directly)."""
        stack = getattr(self._local, "stack", None)
        return stack[-1] if stack else _default_request()

    def push_request(self, **fields: Any) -> None:
        """Starts a request context for this thread (used by the worker)."""
        request = _default_request()
        request.called_directly = False
        for key, value in fields.items():
            setattr(request, key, value)
        self._local.__dict__.setdefault("stack", []).append(request)

    def pop_request(self) -> None:
        """Ends the innermost request context of this thread."""
        self._local.stack.pop()

    # -- calling ----------------------------------------------------------------------

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        """Runs the function here and now."""
        if self.bind:
            return self.run(self, *args, **kwargs)
        return self.run(*args, **kwargs)

    def accepts_errback_arity(self, extra: int) -> bool:
        """Whether the function takes (request, exc, traceback) before `extra` partial args."""
        params = list(inspect.signature(self.run).parameters.values())
        if self.bind:
            params = params[1:]
        if any(p.kind is p.VAR_POSITIONAL for p in params):
            return True
        positional = [p for p in params if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
        return len(positional) >= 3 + extra

    def signature(self, args: Any = None, kwargs: Any = None, **options: Any) -> Signature:
        """A signature of this task (Celery's `Task.signature`)."""
        from motet.canvas import Signature

        return Signature(self.name, args, kwargs, app=self.app, **options)

    def s(self, *args: Any, **kwargs: Any) -> Signature:
        """A (partial) signature: `add.s(2)`."""
        return self.signature(args, kwargs)

    def si(self, *args: Any, **kwargs: Any) -> Signature:
        """An immutable signature: parent results are not prepended."""
        return self.signature(args, kwargs, immutable=True)

    def delay(self, *args: Any, **kwargs: Any) -> AsyncResult:
        """Runs on a worker: `add.delay(2, 2)`."""
        return self.apply_async(args, kwargs)

    def apply_async(self, args: Any = None, kwargs: Any = None, **options: Any) -> Any:
        """Runs on a worker with execution options (countdown, link, queue, ...)."""
        return self.signature(args, kwargs, **options).apply_async()

    def map(self, it: Iterable[Any]) -> Signature:
        """One task applying this task to each item (Celery's xmap)."""
        from motet.canvas import xmap

        return xmap(self.s(), it)

    def starmap(self, it: Iterable[Any]) -> Signature:
        """One task applying this task to each argument tuple (Celery's xstarmap)."""
        from motet.canvas import xstarmap

        return xstarmap(self.s(), it)

    def chunks(self, it: Iterable[Any], n: int) -> Any:
        """Splits the argument tuples into tasks of `n` items each."""
        from motet.canvas import chunks

        return chunks(self.s(), it, n)

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
        """Asks the worker to run this task again later (raise the result, as in Celery)."""
        request = self.request
        limit = max_retries if max_retries is not None else request.max_retries
        if limit is None and not hasattr(request, "max_retries_set"):
            limit = self.max_retries
        if limit is not None and request.retries >= limit:
            if exc is not None:
                raise exc
            raise MaxRetriesExceededError(f"Can't retry {self.name}[{request.id}] args:{request.args} kwargs:{request.kwargs}")
        if countdown is None and eta is None:
            countdown = self.default_retry_delay
        raise Retry(f"Retry in {countdown}s", exc=exc, countdown=countdown, max_retries=max_retries, when=eta)

    def replace(self, sig: Any) -> None:
        """Replaces this task with a canvas whose result becomes this task's result."""
        raise Replace(sig)
