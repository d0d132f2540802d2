"""The application: settings, its client, the task registry and the @app.task decorator (Celery's `Celery`)."""

from __future__ import annotations

from collections.abc import Callable
from functools import cached_property
from typing import Any, overload

from motet import state
from motet.canvas import Signature
from motet.client import Client
from motet.control import Control
from motet.result import AsyncResult, GroupResult, ResultBase
from motet.settings import DEFAULT_RESULTS, DEFAULT_SCHEDULER, ClientSettings, Conf
from motet.task import Task

__all__ = ["DEFAULT_RESULTS", "DEFAULT_SCHEDULER", "App", "Conf", "current_app"]

current_app = state.current_app


class App:
    """A Motet application: where tasks are registered and which services it talks to.

    Creating an App makes it the current app (used by `signature()`, `group()` ... when no
    app is given), as the last `Celery()` created is in Celery.

    Args:
        name: Prefix for the names of tasks defined in `__main__`.
        scheduler: host:port of a scheduler; default `MOTET_SCHEDULER`, else 127.0.0.1:7410.
        results: host:port of a results service; default `MOTET_RESULTS`, else 127.0.0.1:7411.
        namespace: The cluster namespace, sent as `motet-namespace` request metadata; default
            `MOTET_NAMESPACE`, else none. (The services choose their namespace at start.)
        set_as_current: Make it the current app (Celery's argument of the same name).

    Endpoints given as None are read from the environment each time they are used, so a test
    or `motet dev` can point an already imported app at a cluster.
    """

    def __init__(
        self,
        name: str = "motet",
        *,
        scheduler: str | None = None,
        results: str | None = None,
        namespace: str | None = None,
        set_as_current: bool = True,
    ) -> None:
        self.name = name
        self._scheduler = scheduler
        self._results = results
        self._namespace = namespace
        self._client: Client | None = None
        self.tasks: dict[str, Task] = {}
        self.conf = Conf()
        if set_as_current:
            state.set_current_app(self)

    def __repr__(self) -> str:
        return f"<App {self.name}>"

    @property
    def settings(self) -> ClientSettings:
        """The settings in use: the arguments given, else the MOTET_* environment (read now)."""
        return ClientSettings.resolve(scheduler=self._scheduler, results=self._results, namespace=self._namespace)

    @property
    def scheduler(self) -> str:
        """The scheduler endpoint in use (host:port)."""
        return self.settings.scheduler

    @property
    def results(self) -> str:
        """The results endpoint in use (host:port)."""
        return self.settings.results

    @property
    def namespace(self) -> str | None:
        """The namespace sent with requests, if any."""
        return self.settings.namespace

    @property
    def client(self) -> Client:
        """The client for the services the settings name (made again when the settings change)."""
        settings = self.settings
        if self._client is None or self._client.settings != settings:
            self._client = Client(settings)
        return self._client

    @overload
    def task(self, fun: Callable[..., Any]) -> Task: ...
    @overload
    def task(self, fun: None = None, **options: Any) -> Callable[[Callable[..., Any]], Task]: ...

    def task(self, fun: Callable[..., Any] | None = None, **options: Any) -> Any:
        """Registers a function as a task: `@app.task` or `@app.task(name=..., bind=True, ...)`.

        Options: name, bind, max_retries (3; None = unlimited), default_retry_delay (180 s),
        autoretry_for, retry_kwargs, retry_backoff, retry_backoff_max (600 s), retry_jitter,
        ignore_result, queue, time_limit, soft_time_limit, track_started; acks_late and a few
        other Celery options are accepted and ignored.

        Returns:
            The `Task` (or a decorator making one).

        Raises:
            CanvasError: for an unknown option.
        """

        def register(f: Callable[..., Any]) -> Task:
            task = Task(self, f, **options)
            self.tasks[task.name] = task
            return task

        return register(fun) if fun is not None else register

    def signature(self, name: str, args: Any = None, kwargs: Any = None, **options: Any) -> Signature:
        """A signature of any task by name, including tasks served by workers in other languages."""
        return Signature(name, args, kwargs, app=self, **options)

    def send_task(self, name: str, args: Any = None, kwargs: Any = None, **options: Any) -> ResultBase:
        """Submits a task by name (Celery's `send_task`); returns its AsyncResult."""
        return self.signature(name, args, kwargs).apply_async(**options)

    @cached_property
    def control(self) -> Control:
        """Worker remote control: `app.control.inspect().active()`, `app.control.revoke(id)`."""
        return Control(self)

    @cached_property
    def AsyncResult(self) -> type[AsyncResult]:  # noqa: N802 - Celery's name
        """The AsyncResult class bound to this app: `app.AsyncResult(task_id)`."""
        return type("AsyncResult", (AsyncResult,), {"_bound_app": self, "__module__": AsyncResult.__module__})

    @cached_property
    def GroupResult(self) -> type[GroupResult]:  # noqa: N802 - Celery's name
        """The GroupResult class bound to this app: `app.GroupResult(id, results)`, `.restore(id)`."""
        return type("GroupResult", (GroupResult,), {"_bound_app": self, "__module__": GroupResult.__module__})


state.set_default_factory(App)
