"""Exceptions of the Motet SDK.

::

    MotetError
    ├── CanvasError (ValueError)        a canvas that cannot be built or sent
    ├── EncodeError (ValueError)        a value that cannot be encoded, or is too large
    ├── NotRegistered (KeyError)        a task name this process does not know
    ├── ServiceUnavailable              a service could not be reached
    ├── NotFound                        an id the services do not know
    ├── TimeoutError (TimeoutError)     a wait ran out of time
    ├── ChordError                      a chord header member failed
    ├── TaskRevokedError                the task was revoked (or expired)
    ├── WorkerLost                      the task's worker was lost too many times
    ├── IncompleteStream                collect() met a result that is not ready
    ├── RemoteError                     a remote failure whose class cannot be imported here
    ├── TimeLimitExceeded / SoftTimeLimitExceeded
    ├── MaxRetriesExceededError
    └── control flow inside tasks: Retry, Replace, Ignore
"""

from __future__ import annotations

import builtins
from typing import Any

__all__ = [
    "CanvasError",
    "ChordError",
    "EncodeError",
    "Ignore",
    "IncompleteStream",
    "MaxRetriesExceededError",
    "MotetError",
    "NotFound",
    "NotRegistered",
    "RemoteError",
    "Replace",
    "Retry",
    "ServiceUnavailable",
    "SoftTimeLimitExceeded",
    "TaskRevokedError",
    "TimeLimitExceeded",
    "TimeoutError",
    "WorkerLost",
]


class MotetError(Exception):
    """The base of every error the SDK raises."""


class CanvasError(MotetError, ValueError):
    """A canvas that cannot be built or submitted (the message says which part and why)."""


class EncodeError(MotetError, ValueError):
    """A value that cannot be encoded for the wire, or that exceeds the payload limit."""


class NotRegistered(MotetError, KeyError):
    """A task name that is not registered in this process."""


class ServiceUnavailable(MotetError):
    """A Motet service could not be reached."""


class NotFound(MotetError):
    """An id the services do not know (never saved, forgotten or expired)."""


class TimeoutError(MotetError, builtins.TimeoutError):  # noqa: A001 - Celery's name
    """A wait for a result ran out of time."""


class ChordError(MotetError):
    """A chord's header member failed, so its body did not run."""


class TaskRevokedError(MotetError):
    """The task was revoked (or expired) before it finished."""


class WorkerLost(MotetError):
    """The task was delivered several times and its worker was lost each time."""


class IncompleteStream(MotetError):
    """`collect()` found a result in the graph that is not ready yet."""


class TimeLimitExceeded(MotetError):
    """The task ran past its hard time limit."""


class SoftTimeLimitExceeded(MotetError):
    """Raised inside a task that ran past its soft time limit."""


class MaxRetriesExceededError(MotetError):
    """`Task.retry()` was called more often than `max_retries` allows."""


class RemoteError(MotetError):
    """A failure from a task whose exception class cannot be imported in this process."""

    def __init__(self, message: str, *, exc_type: str = "", traceback: str = "", task_id: str = "") -> None:
        super().__init__(f"{exc_type}: {message}" if exc_type else message)
        self.exc_type = exc_type
        self.remote_message = message
        self.remote_traceback = traceback
        self.task_id = task_id


class Retry(MotetError):
    """Raised by `Task.retry()`: the worker reschedules the task."""

    def __init__(
        self,
        message: str = "retry",
        *,
        exc: BaseException | None = None,
        countdown: float | None = None,
        max_retries: int | None = None,
        when: Any = None,
    ) -> None:
        super().__init__(message)
        self.exc = exc
        self.countdown = countdown
        self.max_retries = max_retries
        self.when = when


class Replace(MotetError):
    """Raised by `Task.replace(sig)`: the task's result becomes the replacement's result."""

    def __init__(self, sig: Any) -> None:
        super().__init__("replaced")
        self.sig = sig


class Ignore(MotetError):
    """Raised inside a task to report nothing (the task stays as it is)."""
