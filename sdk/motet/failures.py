"""Errors across the wire: an exception becomes a `TaskFailure` and comes back as its class.

`failure_from_exception` is what a worker reports; `exception_from_failure` is what a client
raises. The original class is rebuilt when it can be imported here and constructed from the
recorded arguments (or from the message); otherwise the client gets a
:class:`~motet.exceptions.RemoteError` carrying the remote class name, message and traceback.
"""

from __future__ import annotations

import importlib
import json
import os
import sys
import traceback as tb_module
from collections.abc import Iterable
from typing import Any

from motet.exceptions import RemoteError, RemoteTraceback, TaskRevokedError
from motet.v1 import common_pb2

__all__ = ["exception_from_failure", "failure_from_exception", "qualified_name", "user_traceback"]

_SDK_DIR = os.path.dirname(os.path.abspath(__file__))


def user_traceback(exc: BaseException, skip: Iterable[str] = ()) -> str:
    """The formatted traceback of ``exc`` without the frames of Motet's own code.

    Frames in files under the SDK package or under any of the ``skip`` directories (the
    worker passes its own package) are left out, in chained exceptions too, so what a task
    reports starts at the user's task function.
    """
    prefixes = tuple(os.path.join(os.path.abspath(d), "") for d in (_SDK_DIR, *skip))
    top = tb_module.TracebackException.from_exception(exc)
    seen: set[int] = set()
    todo: list[tb_module.TracebackException | None] = [top]
    while todo:
        te = todo.pop()
        if te is None or id(te) in seen:
            continue
        seen.add(id(te))
        te.stack = tb_module.StackSummary.from_list(
            [f for f in te.stack if not os.path.abspath(f.filename).startswith(prefixes)]
        )
        todo += [te.__cause__, te.__context__]
    return "".join(top.format())


def qualified_name(cls: type) -> str:
    """The wire name of an exception class: "module.QualName" ("builtins.ValueError")."""
    return f"{cls.__module__}.{cls.__qualname__}"


def failure_from_exception(exc: BaseException, *, task_id: str, tb: str | None = None) -> common_pb2.TaskFailure:
    """Describes an exception for the wire.

    Args:
        exc: The exception a task raised.
        task_id: The id of the task that raised it.
        tb: The traceback text; formatted from `exc` when None.

    Returns:
        A `motet.v1.TaskFailure` with the qualified class name, message, traceback, the
        exception's args JSON-encoded (left empty when they are not JSON data) and its kind:
        REVOKED for a TaskRevokedError (the task ends REVOKED), RAISED for anything else.
    """
    if isinstance(exc, RemoteError) and exc.exc_type:
        # A failure relayed from elsewhere keeps the original class name and traceback.
        return common_pb2.TaskFailure(
            exc_type=exc.exc_type,
            message=exc.remote_message,
            traceback=exc.remote_traceback,
            task_id=exc.task_id or task_id,
            kind=common_pb2.FAILURE_KIND_RAISED,
        )
    failure = common_pb2.TaskFailure(
        exc_type=qualified_name(type(exc)),
        message=str(exc),
        traceback=tb if tb is not None else "".join(tb_module.format_exception(exc)),
        task_id=task_id,
        kind=common_pb2.FAILURE_KIND_REVOKED if isinstance(exc, TaskRevokedError) else common_pb2.FAILURE_KIND_RAISED,
    )
    try:
        data = json.dumps(list(exc.args), separators=(",", ":"), allow_nan=False).encode()
    except (TypeError, ValueError):
        pass  # best effort: the class is rebuilt from the message instead
    else:
        failure.exc_args.encoding = "json"
        failure.exc_args.data = data
    return failure


def _find_class(exc_type: str) -> type[Exception] | None:
    module_name, _, name = exc_type.rpartition(".")
    module_name = module_name or "builtins"
    try:
        module = sys.modules.get(module_name) or importlib.import_module(module_name)
        obj: Any = module
        for part in name.split("."):  # nested classes: "mod.Outer.Inner"
            obj = getattr(obj, part)
    except Exception:  # noqa: BLE001 - not importable here, whatever the reason
        return None
    # Only Exception subclasses: a remote SystemExit / KeyboardInterrupt must not stop this process.
    if isinstance(obj, type) and issubclass(obj, Exception):
        return obj
    return None


def exception_from_failure(failure: common_pb2.TaskFailure) -> BaseException:
    """Rebuilds the exception a task raised.

    Args:
        failure: A `motet.v1.TaskFailure`.

    Returns:
        An instance of the original class when it can be imported and constructed here,
        else a RemoteError. When possible the exception gets `task_id` and
        `remote_traceback` attributes.
    """
    cls = _find_class(failure.exc_type) if failure.exc_type else None
    exc: BaseException | None = None
    if cls is not None and cls is not RemoteError:
        attempts: list[list[Any]] = []
        if failure.exc_args.data:
            try:
                decoded = json.loads(failure.exc_args.data)
                if isinstance(decoded, list):
                    attempts.append(decoded)
            except ValueError:
                pass
        attempts.append([failure.message])
        for args in attempts:
            try:
                exc = cls(*args)
                break
            except Exception:  # noqa: BLE001 - constructors differ; try the next way
                continue
    if exc is None:
        exc = RemoteError(
            failure.message, exc_type=failure.exc_type, traceback=failure.traceback, task_id=failure.task_id
        )
    try:
        exc.task_id = failure.task_id  # type: ignore[attr-defined]  # Celery-style extra attribute on any class
        exc.remote_traceback = failure.traceback  # type: ignore[attr-defined]  # likewise
    except AttributeError:
        pass  # classes with __slots__ cannot take attributes
    if failure.traceback and exc.__cause__ is None:
        # Printed first when uncaught: where the task raised it, then where get() was called.
        exc.__cause__ = RemoteTraceback(failure.traceback, failure.task_id)
    return exc
