"""Exceptions of the Motet SDK.

Every error the SDK raises is a :class:`MotetError`; some also derive from the builtin a
caller would naturally catch (``ValueError``, ``KeyError``, ``TimeoutError``)::

    MotetError
    ├── CanvasError (ValueError)         a canvas that cannot be built, compiled or submitted
    ├── EncodeError (ValueError)         a value that JSON cannot hold, or larger than 1 MiB
    │   └── ContentDisallowed            pickled values where pickle is not accepted
    ├── NotRegistered (KeyError)         a task name this process does not know
    ├── ServiceUnavailable               a scheduler / results service did not answer
    ├── NotFound                         an id the services do not know
    ├── TimeoutError (TimeoutError)      a wait for results ran out of time
    ├── ChordError                       a chord header member failed, so the body did not run
    ├── TaskRevokedError                 the task was revoked (or expired) before it finished
    ├── WorkerLost                       the task's worker was lost on every delivery
    ├── IncompleteStream                 collect() met a result that is not ready yet
    ├── RemoteError                      a remote failure whose class cannot be imported here
    ├── TimeLimitExceeded                the task ran past its hard time limit
    ├── SoftTimeLimitExceeded            raised inside a task that ran past its soft limit
    ├── MaxRetriesExceededError          Task.retry() called once too often
    ├── ImproperlyConfigured             Task.replace() with a canvas that cannot replace it (an empty chain)
    ├── NotInChord (ValueError)          Task.add_to_chord() from a task that is not a chord header member
    └── control flow, raised inside tasks and handled by the worker:
        ├── Retry                        run the task again later (Task.retry)
        ├── Replace                      the task's result becomes a canvas's (Task.replace)
        └── Ignore                       report nothing for this task
"""

from __future__ import annotations

import builtins
from typing import Any

__all__ = [
    "CanvasError",
    "ChordError",
    "ContentDisallowed",
    "EncodeError",
    "Ignore",
    "ImproperlyConfigured",
    "IncompleteStream",
    "MaxRetriesExceededError",
    "MotetError",
    "NotAuthenticated",
    "NotFound",
    "NotInChord",
    "NotRegistered",
    "PermissionDenied",
    "RemoteError",
    "RemoteTraceback",
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
    """The base of every error the SDK raises.

    Args:
        *args: The message (and any further exception arguments).
        reason: For an error a service returned: its `ErrorInfo.reason`, a `motet.v1.ErrorReason`
            name without its prefix ("INVALID_CANVAS", "CANVAS_TOO_LARGE" ...); else None.
    """

    reason: str | None

    def __init__(self, *args: Any, reason: str | None = None) -> None:
        super().__init__(*args)
        self.reason = reason


class CanvasError(MotetError, ValueError):
    """A canvas that cannot be built, compiled or submitted; the message names the part and why."""


class EncodeError(MotetError, ValueError):
    """A value that cannot be encoded for the wire, or that exceeds the 1 MiB payload limit."""


class ContentDisallowed(EncodeError):
    """A payload holds pickled values and this process does not accept pickle (kombu's
    ContentDisallowed): opt in with ``app.conf.accept_content = ["json", "pickle"]``."""


class NotRegistered(MotetError, KeyError):
    """A task name that is not registered in this process."""

    def __str__(self) -> str:
        # KeyError quotes its argument; this message is a sentence, not a key.
        return str(self.args[0]) if self.args else ""


class ServiceUnavailable(MotetError):
    """A Motet service could not be reached (the message names the endpoint and what to do)."""


class NotAuthenticated(MotetError):
    """The service requires a token (MOTET_TOKEN) and the call had none, or an unknown one."""


class PermissionDenied(MotetError):
    """The token is known but does not allow the call (its roles, namespace or task names)."""


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
    """The task ran past its hard time limit and was stopped."""


class SoftTimeLimitExceeded(MotetError):
    """Raised inside a task that ran past its soft time limit."""


class MaxRetriesExceededError(MotetError):
    """`Task.retry()` was called more often than `max_retries` allows."""


class ImproperlyConfigured(MotetError):
    """A task cannot be replaced with the canvas given (an empty chain): Celery's name for it.

    Raised by `Task.replace` inside the task, so the task fails with it.
    """


class NotInChord(MotetError, ValueError):
    """`Task.add_to_chord` was called from a task that is not running as a member of a chord header.

    A ValueError, as Celery's "Current task is not member of any chord".
    """


class RemoteError(MotetError):
    """A failure raised by a task whose exception class cannot be imported in this process.

    Attributes:
        exc_type: The remote class, qualified ("billing.errors.CardDeclined").
        remote_message: The remote exception's message.
        remote_traceback: The remote traceback text ("" if none).
        task_id: The id of the task that raised it.
    """

    def __init__(self, message: str, *, exc_type: str = "", traceback: str = "", task_id: str = "") -> None:
        super().__init__(f"{exc_type}: {message}" if exc_type else message)
        self.exc_type = exc_type
        self.remote_message = message
        self.remote_traceback = traceback
        self.task_id = task_id


class RemoteTraceback(MotetError):  # noqa: N818 - named after multiprocessing's RemoteTraceback
    """The traceback of a task's exception where it was raised, in the worker.

    Set as the ``__cause__`` of the exception `get()` raises (as multiprocessing does), so an
    uncaught one prints the task's own frames first, then "The above exception was the direct
    cause of the following exception", then the caller's.
    """

    def __init__(self, traceback: str, task_id: str = "") -> None:
        super().__init__(traceback)
        self.traceback = traceback
        self.task_id = task_id

    def __str__(self) -> str:
        where = f" in task {self.task_id}" if self.task_id else ""
        return f'raised{where} (remote traceback):\n"""\n{self.traceback.rstrip()}\n"""'


class Retry(MotetError):
    """Raised by `Task.retry()`: the worker reschedules the task.

    Attributes:
        exc: The error that caused the retry (recorded as the RETRY state's value).
        countdown: Seconds to wait before running again (None: the task's default delay).
        when: An absolute time (datetime) to run again instead of `countdown`.
        max_retries: A new retry limit for this task, if one was given to `retry()`.
        retry_args: New positional arguments for the next run, if given (None: unchanged).
        retry_kwargs: New keyword arguments for the next run, if given (None: unchanged).
    """

    def __init__(
        self,
        message: str = "retry",
        *,
        exc: BaseException | None = None,
        countdown: float | None = None,
        max_retries: int | None = None,
        when: Any = None,
        args: Any = None,
        kwargs: Any = None,
    ) -> None:
        super().__init__(message)
        self.exc = exc
        self.countdown = countdown
        self.max_retries = max_retries
        self.when = when
        self.retry_args = args
        self.retry_kwargs = kwargs


class Replace(MotetError):
    """Raised by `Task.replace(sig)`: the task's result becomes the replacement canvas's result.

    Attributes:
        sig: The replacement signature or canvas.
    """

    def __init__(self, sig: Any = None) -> None:
        super().__init__("replaced")
        self.sig = sig


class Ignore(MotetError):
    """Raised inside a task to report no outcome for it."""
