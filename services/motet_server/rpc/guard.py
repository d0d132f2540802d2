"""What every Motet service checks before a call reaches its servicer, tokens or not.

- A request that is not a protobuf message of the method's type (a client with another
  version of the contract, a fuzzer, a stray HTTP/2 client) ends ``INVALID_ARGUMENT`` /
  ``INVALID_REQUEST`` naming the method, instead of gRPC's own ``INTERNAL`` "Exception
  deserializing request!". On a stream (``WorkerService.Connect``) the frame reads as
  `Undecodable` and the servicer ends the stream the same way.
- A call whose ``motet-namespace`` metadata names another namespace than the service's ends
  ``FAILED_PRECONDITION`` / ``NAMESPACE_MISMATCH``: a client pointed at the wrong cluster
  hears so at once rather than writing into, or reading from, a keyspace it did not mean.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import grpc

from motet_server.rpc import errors
from motet_server.rpc.handlers import Behavior, ServerInterceptor, replace_behavior, run_first

__all__ = ["NAMESPACE_METADATA", "RequestGuard", "Undecodable"]

NAMESPACE_METADATA = "motet-namespace"
"""The request metadata a client names its namespace in (`motet.settings.ClientSettings`)."""


class Undecodable:
    """What a request that does not parse as its method's message is read as."""

    def __init__(self, error: str) -> None:
        self.error = error

    def __repr__(self) -> str:
        return f"Undecodable({self.error!r})"


def _lenient(parse: Callable[[bytes], Any]) -> Callable[[bytes], Any]:
    def read(raw: bytes) -> Any:
        try:
            return parse(raw)
        except Exception as exc:  # noqa: BLE001 - protobuf's DecodeError and friends
            return Undecodable(f"{type(exc).__name__}: {exc}")

    return read


class RequestGuard(ServerInterceptor):
    """Installed on every service (`rpc.server.start_server`), outermost.

    Args:
        namespace: The service's namespace.
    """

    def __init__(self, namespace: str) -> None:
        self._namespace = namespace

    def _wrong_namespace(self, metadata: Any) -> str | None:
        for key, value in metadata or ():
            if key == NAMESPACE_METADATA and value and value != self._namespace:
                return str(value)
        return None

    async def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], Awaitable[grpc.RpcMethodHandler[Any, Any]]],
        details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler[Any, Any]:
        handler = await continuation(details)
        if handler is None or not details.method.startswith("/motet."):
            return handler
        method, wanted = details.method, self._wrong_namespace(details.invocation_metadata)
        streaming = handler.request_streaming

        async def check(request: Any, context: Any) -> None:
            if wanted is not None:
                await errors.abort(
                    context,
                    "namespace_mismatch",
                    f"this service serves namespace {self._namespace!r}, the call is for {wanted!r}: "
                    "point the client at that namespace's services",
                    metadata={"namespace": self._namespace, "requested": wanted},
                )
            if not streaming and isinstance(request, Undecodable):
                await errors.abort(
                    context,
                    "invalid_request",
                    f"the request is not a protobuf message of {method}'s type ({request.error})",
                    metadata={"method": method},
                )

        def change(behavior: Behavior) -> Behavior:
            return run_first(check, behavior)

        return replace_behavior(handler, change, _lenient)
