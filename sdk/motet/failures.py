"""Errors across the wire: an exception becomes a TaskFailure and comes back as its class."""

from __future__ import annotations

import importlib
import json
import traceback as tb_module

from motet.exceptions import RemoteError
from motet.v1 import common_pb2

__all__ = ["exception_from_failure", "failure_from_exception"]


def failure_from_exception(exc: BaseException, *, task_id: str, tb: str | None = None) -> common_pb2.TaskFailure:
    """Describes an exception for the wire (class, message, traceback, constructor args)."""
    cls = type(exc)
    failure = common_pb2.TaskFailure(
        exc_type=f"{cls.__module__}.{cls.__qualname__}",
        message=str(exc),
        traceback=tb if tb is not None else "".join(tb_module.format_exception(exc)),
        task_id=task_id,
    )
    try:
        failure.exc_args.encoding = "json"
        failure.exc_args.data = json.dumps(list(exc.args)).encode()
    except (TypeError, ValueError):
        failure.exc_args.data = b""
    return failure


def exception_from_failure(failure: common_pb2.TaskFailure) -> BaseException:
    """Rebuilds the original exception when its class can be imported, else a RemoteError."""
    module_name, _, name = failure.exc_type.rpartition(".")
    exc: BaseException | None = None
    try:
        cls = getattr(importlib.import_module(module_name or "builtins"), name)
        if isinstance(cls, type) and issubclass(cls, BaseException):
            args = json.loads(failure.exc_args.data) if failure.exc_args.data else [failure.message]
            try:
                exc = cls(*args)
            except Exception:  # noqa: BLE001 - constructors differ; fall back to the message
                exc = cls(failure.message)
    except Exception:  # noqa: BLE001 - the class is not importable here
        exc = None
    if exc is None:
        exc = RemoteError(failure.message, exc_type=failure.exc_type, traceback=failure.traceback, task_id=failure.task_id)
    try:
        exc.task_id = failure.task_id  # type: ignore[attr-defined]
        exc.remote_traceback = failure.traceback  # type: ignore[attr-defined]
    except AttributeError:
        pass
    return exc
