"""Bearer tokens with roles, checked on every call of a service started with ``--tokens FILE``.

The file is JSON, one entry per token (the token itself or its SHA-256)::

    {"tokens": [
      {"name": "api", "sha256": "9f86d0...", "roles": ["client"], "namespace": "default"},
      {"name": "billing-workers", "token": "s3cret", "roles": ["worker", "client"],
       "tasks": ["billing.*"], "queues": ["billing"]},
      {"name": "ops", "token": "...", "roles": ["admin"], "namespace": "*"}
    ]}

A call carries ``authorization: Bearer <token>`` metadata. What each role may call:

| role   | calls |
|--------|-------|
| client | SubmitCanvas, AddToChord, AwaitResult, GetResult, GetResults, WaitResult, SaveGroup, RestoreGroup |
| worker | WorkerService.Connect, declaring only task names and queues its patterns allow |
| admin  | everything, in any namespace ("*"), including RevokeTask, InspectWorkers, ForgetResult |

No token, or an unknown one: UNAUTHENTICATED. A known token whose roles lack the call, whose
namespace is not the service's, or (a worker) that declares a task name or queue outside its
patterns: PERMISSION_DENIED. Both carry an ErrorInfo (`rpc.errors`). Health checks and
reflection need no token (probes and grpcurl). Without ``--tokens`` nothing is checked.

The file is read again when it changes (`rpc.reload`): adding or revoking a token needs no
restart; a change that cannot be parsed keeps the previous tokens and logs a warning.
"""

from __future__ import annotations

import contextvars
import fnmatch
import hashlib
import hmac
import json
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import grpc

from motet_server.rpc import errors
from motet_server.rpc.handlers import Behavior, ServerInterceptor, replace_behavior, run_first
from motet_server.rpc.reload import Reloading

if TYPE_CHECKING:
    from motet_server.rpc.jwt import JWTVerifier

__all__ = ["PRINCIPAL", "ROLES", "Principal", "TokenAuth", "TokenFileError", "load_tokens", "watch_tokens"]

ROLES = ("client", "worker", "admin")

_OPEN = ("/grpc.health.v1.Health/", "/grpc.reflection.")
"""Methods that need no token."""

_CLIENT = {
    "/motet.v1.SchedulerService/SubmitCanvas",
    "/motet.v1.SchedulerService/AddToChord",
    "/motet.v1.SchedulerService/AwaitResult",
    "/motet.v1.ResultsService/GetResult",
    "/motet.v1.ResultsService/GetResults",
    "/motet.v1.ResultsService/WaitResult",
    "/motet.v1.ResultsService/SaveGroup",
    "/motet.v1.ResultsService/RestoreGroup",
}
_WORKER = {"/motet.v1.WorkerService/Connect"}


class TokenFileError(ValueError):
    """The token file cannot be read or an entry is malformed; the message says which."""


@dataclass(frozen=True)
class Principal:
    """Who a call comes from: one entry of the token file."""

    name: str
    roles: frozenset[str]
    namespace: str = "default"
    tasks: tuple[str, ...] = ("*",)
    queues: tuple[str, ...] = ("*",)

    def may_call(self, method: str) -> bool:
        """Whether the roles allow ``method`` ("/package.Service/Method")."""
        return (
            "admin" in self.roles
            or ("client" in self.roles and method in _CLIENT)
            or ("worker" in self.roles and method in _WORKER)
        )

    def may_serve(self, task_names: list[str], queues: list[str]) -> list[str]:
        """What a worker's hello declares beyond this token's patterns ("task x", "queue y")."""
        if "admin" in self.roles:
            return []
        denied = [f"task {n}" for n in task_names if not any(fnmatch.fnmatchcase(n, p) for p in self.tasks)]
        return denied + [f"queue {q}" for q in queues if not any(fnmatch.fnmatchcase(q, p) for p in self.queues)]


PRINCIPAL: contextvars.ContextVar[Principal | None] = contextvars.ContextVar("motet_principal", default=None)
"""The caller of the RPC being served, when the service checks tokens (None otherwise)."""


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def load_tokens(path: str) -> dict[str, Principal]:
    """SHA-256 of each token -> its principal, from a token file.

    Raises:
        TokenFileError: the file is missing, not JSON, or an entry lacks a token or has an
            unknown role.
    """
    try:
        data = json.loads(Path(path).read_text())
    except OSError as exc:
        raise TokenFileError(f"cannot read the token file {path}: {exc.strerror or exc}") from None
    except ValueError as exc:
        raise TokenFileError(f"the token file {path} is not JSON: {exc}") from None
    entries = data.get("tokens") if isinstance(data, dict) else None
    if not isinstance(entries, list):
        raise TokenFileError(f'the token file {path} must be {{"tokens": [...]}}')
    out: dict[str, Principal] = {}
    for i, entry in enumerate(entries):
        where = f"{path}: tokens[{i}]"
        if not isinstance(entry, dict):
            raise TokenFileError(f"{where} is not an object")
        digest = entry.get("sha256") or (_digest(entry["token"]) if entry.get("token") else None)
        if not digest:
            raise TokenFileError(f'{where} has neither "token" nor "sha256"')
        roles = frozenset(entry.get("roles") or ())
        unknown = sorted(roles - set(ROLES))
        if not roles or unknown:
            raise TokenFileError(f"{where}: roles must be some of {', '.join(ROLES)} (got {sorted(roles)})")
        out[str(digest).lower()] = Principal(
            name=str(entry.get("name") or f"tokens[{i}]"),
            roles=roles,
            namespace=str(entry.get("namespace") or "default"),
            tasks=tuple(entry.get("tasks") or ("*",)),
            queues=tuple(entry.get("queues") or ("*",)),
        )
    return out


def watch_tokens(path: str) -> Reloading[Mapping[str, Principal]]:
    """The token file's entries (`load_tokens`), read again when the file changes.

    Raises:
        TokenFileError: the file cannot be used now (at start).
    """
    return Reloading(path, lambda: load_tokens(path), "token file")


def _bearer(metadata: Any) -> str | None:
    for key, value in metadata or ():
        if key == "authorization" and isinstance(value, str) and value.lower().startswith("bearer "):
            return value[7:].strip()
    return None


class TokenAuth(ServerInterceptor):
    """Checks every call's bearer token against the token file's entries.

    Args:
        tokens: The token file, as `load_tokens` reads it, reloaded when it changes; None when
            only JWTs are accepted.
        namespace: The service's namespace: a token of another namespace is refused (unless "*").
        jwt: Also accept JWTs the verifier accepts (`rpc.jwt`; its JWKS file reloaded when it
            changes), their claims as the principal.
    """

    def __init__(
        self,
        tokens: Reloading[Mapping[str, Principal]] | None,
        namespace: str,
        jwt: Reloading[JWTVerifier] | None = None,
    ) -> None:
        self._tokens = tokens
        self._namespace = namespace
        self._jwt = jwt

    def _who(self, method: str, metadata: Any) -> Principal | tuple[str, str, dict[str, str]]:
        token = _bearer(metadata)
        if token is None:
            return ("unauthenticated", "this service requires a token: send 'authorization: Bearer <token>'", {})
        digest = _digest(token)
        known = self._tokens.get() if self._tokens is not None else {}
        principal = next((p for d, p in known.items() if hmac.compare_digest(d, digest)), None)
        if principal is None and self._jwt is not None and token.count(".") == 2:
            verified = self._jwt.get().verify(token)
            if isinstance(verified, str):
                return ("unauthenticated", verified, {})
            principal = verified
        if principal is None:
            return ("unauthenticated", "the token is not known to this service", {})
        if principal.namespace not in ("*", self._namespace):
            return (
                "permission_denied",
                f"token {principal.name!r} is for namespace {principal.namespace!r}, not {self._namespace!r}",
                {"namespace": principal.namespace},
            )
        if not principal.may_call(method):
            return (
                "permission_denied",
                f"token {principal.name!r} (roles {', '.join(sorted(principal.roles))}) may not call {method}",
                {"method": method},
            )
        return principal

    async def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], Awaitable[grpc.RpcMethodHandler[Any, Any]]],
        details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler[Any, Any]:
        handler = await continuation(details)
        method = details.method
        if handler is None or method.startswith(_OPEN):
            return handler
        who = self._who(method, details.invocation_metadata)
        if isinstance(who, Principal):
            return replace_behavior(handler, lambda behavior: _as(who, behavior))
        kind, message, meta = who
        return replace_behavior(handler, lambda behavior: _deny(behavior, kind, message, meta))


def _as(principal: Principal, behavior: Behavior) -> Behavior:
    """The behavior, run with `PRINCIPAL` set."""

    async def enter(_request: Any, _context: Any) -> None:
        PRINCIPAL.set(principal)  # awaited in the RPC's own task: the setting stays for the call

    return run_first(enter, behavior)


def _deny(behavior: Behavior, kind: str, message: str, metadata: dict[str, str]) -> Behavior:
    """A behavior of the same shape that ends the call with the error."""

    async def refuse(_request: Any, context: Any) -> None:
        await errors.abort(context, kind, message, metadata=metadata)

    return run_first(refuse, behavior)
