"""The application: task registry, endpoints and the @app.task decorator."""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, overload

if TYPE_CHECKING:
    from motet.canvas import Signature
    from motet.result import AsyncResult, GroupResult
    from motet.task import Task

__all__ = ["DEFAULT_RESULTS", "DEFAULT_SCHEDULER", "App", "current_app"]

DEFAULT_SCHEDULER = "127.0.0.1:7410"
DEFAULT_RESULTS = "127.0.0.1:7411"

_current: App | None = None


class App:
    """A Motet application (Celery's `Celery` object).

    Args:
        name: Prefix for tasks defined in `__main__`.
        scheduler: host:port of a scheduler; default `MOTET_SCHEDULER`, else 127.0.0.1:7410.
        results: host:port of a results service; default `MOTET_RESULTS`, else 127.0.0.1:7411.

    Endpoints given as None are read from the environment each time they are used, so a
    test or `motet dev` can point an already imported app at a cluster.
    """

    def __init__(self, name: str = "motet", *, scheduler: str | None = None, results: str | None = None) -> None:
        global _current
        self.name = name
        self._scheduler = scheduler
        self._results = results
        self.tasks: dict[str, Task] = {}
        _current = self

    @property
    def scheduler(self) -> str:
        """The scheduler endpoint in use."""
        return self._scheduler or os.environ.get("MOTET_SCHEDULER") or DEFAULT_SCHEDULER

    @property
    def results(self) -> str:
        """The results endpoint in use."""
        return self._results or os.environ.get("MOTET_RESULTS") or DEFAULT_RESULTS

    @overload
    def task(self, fun: Callable[..., Any]) -> Task: ...
    @overload
    def task(self, fun: None = None, **options: Any) -> Callable[[Callable[..., Any]], Task]: ...

    def task(self, fun: Callable[..., Any] | None = None, **options: Any) -> Any:
        """Registers a function as a task: `@app.task` or `@app.task(name=..., bind=True, ...)`."""
        from motet.task import Task

        def register(f: Callable[..., Any]) -> Task:
            task = Task(self, f, **options)
            self.tasks[task.name] = task
            return task

        return register(fun) if fun is not None else register

    def signature(self, name: str, args: Any = None, kwargs: Any = None, **options: Any) -> Signature:
        """A signature of any task by name, including tasks served in other languages."""
        from motet.canvas import Signature

        return Signature(name, args, kwargs, app=self, **options)

    def send_task(self, name: str, args: Any = None, kwargs: Any = None, **options: Any) -> AsyncResult:
        """Submits a task by name (Celery's `send_task`)."""
        return self.signature(name, args, kwargs).apply_async(**options)

    def AsyncResult(self, task_id: str) -> AsyncResult:  # noqa: N802 - Celery's name
        """A result handle for any task id."""
        from motet.result import AsyncResult

        return AsyncResult(task_id, app=self)

    def GroupResult(self, group_id: str, results: list[Any] | None = None) -> GroupResult:  # noqa: N802
        """A group result handle."""
        from motet.result import GroupResult

        return GroupResult(group_id, results or [], app=self)


def current_app() -> App:
    """The most recently created App (a default one if none exists)."""
    return _current if _current is not None else App()
