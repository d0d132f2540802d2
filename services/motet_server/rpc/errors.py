"""gRPC errors with ``google.rpc`` details, from one table.

Every error carries an ``ErrorInfo`` (reason + domain ``motet.dev`` + metadata); invalid
requests also carry ``BadRequest`` field violations naming the proto field path. Reasons are
the values of ``motet.v1.ErrorReason`` (protos/motet/v1/error_reason.proto) without their
prefix. The SDK maps the code and the reason back to its exceptions.

| kind                  | gRPC code            | ErrorInfo.reason     |
|-----------------------|----------------------|----------------------|
| invalid_canvas        | INVALID_ARGUMENT     | INVALID_CANVAS       |
| invalid_request       | INVALID_ARGUMENT     | INVALID_REQUEST      |
| not_found             | NOT_FOUND            | NOT_FOUND            |
| payload_too_large     | RESOURCE_EXHAUSTED   | PAYLOAD_TOO_LARGE    |
| canvas_too_large      | RESOURCE_EXHAUSTED   | CANVAS_TOO_LARGE     |
| unavailable           | UNAVAILABLE          | STORE_UNAVAILABLE    |
| failed_precondition   | FAILED_PRECONDITION  | FAILED_PRECONDITION  |
| not_in_chord          | FAILED_PRECONDITION  | NOT_IN_CHORD         |
| task_id_in_use        | ALREADY_EXISTS       | TASK_ID_IN_USE       |
| unauthenticated       | UNAUTHENTICATED      | UNAUTHENTICATED      |
| permission_denied     | PERMISSION_DENIED    | PERMISSION_DENIED    |
| internal              | INTERNAL             | INTERNAL             |
"""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any, NoReturn, TypeVar

import grpc
from google.protobuf import any_pb2
from google.rpc import code_pb2, error_details_pb2, status_pb2
from grpc_status import rpc_status

from motet.v1 import error_reason_pb2
from motet_server.store.errors import StoreUnavailable

__all__ = ["DOMAIN", "KINDS", "abort", "reason_name", "status_for", "unavailable_when_the_store_is"]

DOMAIN = "motet.dev"
"""ErrorInfo.domain of every Motet error."""

_R = error_reason_pb2

KINDS: dict[str, tuple[grpc.StatusCode, int, int]] = {
    "invalid_canvas": (grpc.StatusCode.INVALID_ARGUMENT, code_pb2.INVALID_ARGUMENT, _R.ERROR_REASON_INVALID_CANVAS),
    "invalid_request": (grpc.StatusCode.INVALID_ARGUMENT, code_pb2.INVALID_ARGUMENT, _R.ERROR_REASON_INVALID_REQUEST),
    "not_found": (grpc.StatusCode.NOT_FOUND, code_pb2.NOT_FOUND, _R.ERROR_REASON_NOT_FOUND),
    "payload_too_large": (
        grpc.StatusCode.RESOURCE_EXHAUSTED,
        code_pb2.RESOURCE_EXHAUSTED,
        _R.ERROR_REASON_PAYLOAD_TOO_LARGE,
    ),
    "canvas_too_large": (
        grpc.StatusCode.RESOURCE_EXHAUSTED,
        code_pb2.RESOURCE_EXHAUSTED,
        _R.ERROR_REASON_CANVAS_TOO_LARGE,
    ),
    "unavailable": (grpc.StatusCode.UNAVAILABLE, code_pb2.UNAVAILABLE, _R.ERROR_REASON_STORE_UNAVAILABLE),
    "failed_precondition": (
        grpc.StatusCode.FAILED_PRECONDITION,
        code_pb2.FAILED_PRECONDITION,
        _R.ERROR_REASON_FAILED_PRECONDITION,
    ),
    "not_in_chord": (
        grpc.StatusCode.FAILED_PRECONDITION,
        code_pb2.FAILED_PRECONDITION,
        _R.ERROR_REASON_NOT_IN_CHORD,
    ),
    "task_id_in_use": (grpc.StatusCode.ALREADY_EXISTS, code_pb2.ALREADY_EXISTS, _R.ERROR_REASON_TASK_ID_IN_USE),
    "internal": (grpc.StatusCode.INTERNAL, code_pb2.INTERNAL, _R.ERROR_REASON_INTERNAL),
    "unauthenticated": (
        grpc.StatusCode.UNAUTHENTICATED,
        code_pb2.UNAUTHENTICATED,
        _R.ERROR_REASON_UNAUTHENTICATED,
    ),
    "permission_denied": (
        grpc.StatusCode.PERMISSION_DENIED,
        code_pb2.PERMISSION_DENIED,
        _R.ERROR_REASON_PERMISSION_DENIED,
    ),
    "namespace_mismatch": (
        grpc.StatusCode.FAILED_PRECONDITION,
        code_pb2.FAILED_PRECONDITION,
        _R.ERROR_REASON_NAMESPACE_MISMATCH,
    ),
}
"""kind -> (gRPC status code, google.rpc code, motet.v1.ErrorReason)."""

_PREFIX = "ERROR_REASON_"


def reason_name(reason: int) -> str:
    """The ErrorInfo.reason string of a `motet.v1.ErrorReason` value ("INVALID_CANVAS")."""
    return _R.ErrorReason.Name(reason).removeprefix(_PREFIX)  # type: ignore[arg-type]  # int is the enum


def status_for(
    kind: str,
    message: str,
    *,
    violations: Sequence[tuple[str, str]] = (),
    metadata: Mapping[str, str] | None = None,
) -> grpc.Status:
    """The ``grpc.Status`` (with details) for an error of ``kind``.

    Args:
        kind: A key of `KINDS`.
        message: What went wrong and what to do, for a human.
        violations: ``(field path, description)`` pairs, sent as BadRequest field violations.
        metadata: Extra ErrorInfo metadata (e.g. ``{"task_id": ...}``).
    """
    if kind not in KINDS:
        raise ValueError(f"unknown error kind {kind!r}; one of {sorted(KINDS)}")
    _, code, reason = KINDS[kind]
    details = []
    info = error_details_pb2.ErrorInfo(
        reason=reason_name(reason), domain=DOMAIN, metadata={k: str(v) for k, v in (metadata or {}).items()}
    )
    packed = any_pb2.Any()
    packed.Pack(info)
    details.append(packed)
    if violations:
        bad = error_details_pb2.BadRequest(
            field_violations=[
                error_details_pb2.BadRequest.FieldViolation(field=f, description=d) for f, d in violations
            ]
        )
        packed = any_pb2.Any()
        packed.Pack(bad)
        details.append(packed)
    return rpc_status.to_status(status_pb2.Status(code=code, message=message, details=details))


async def abort(
    context: grpc.aio.ServicerContext[Any, Any],
    kind: str,
    message: str,
    *,
    violations: Sequence[tuple[str, str]] = (),
    metadata: Mapping[str, str] | None = None,
) -> NoReturn:
    """Ends the RPC with the error of ``kind`` (see `status_for`); never returns."""
    status = status_for(kind, message, violations=violations, metadata=metadata)
    # What abort_with_status does: the code and message, details in the trailing metadata.
    await context.abort(status.code, status.details, trailing_metadata=status.trailing_metadata)


_Handler = TypeVar("_Handler", bound=Callable[..., Awaitable[Any]])


def unavailable_when_the_store_is(handler: _Handler) -> _Handler:
    """Decorates a unary servicer method: an unreachable store (etcd down, or its leader
    changing) ends the call UNAVAILABLE / STORE_UNAVAILABLE, which clients retry, instead of
    UNKNOWN. The method's (request, context) are its last two arguments."""

    @functools.wraps(handler)
    async def wrapper(*args: Any) -> Any:
        try:
            return await handler(*args)
        except StoreUnavailable as exc:
            await abort(args[-1], "unavailable", f"the store is unavailable: {exc}")

    return wrapper  # type: ignore[return-value]  # same signature as the handler it wraps
