"""The standard gRPC server series of every Motet service (`rpc.metrics`: grpc_server_started_total,
grpc_server_handled_total, grpc_server_handling_seconds, as go-grpc-prometheus names them), by
service, method and status code, from one server interceptor installed by `rpc.server`."""

from __future__ import annotations

import asyncio
import inspect
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import grpc

from motet_server.rpc import metrics
from motet_server.rpc.handlers import Behavior, ServerInterceptor, replace_behavior

__all__ = ["GrpcMetrics"]

_TYPES = {
    (False, False): "unary",
    (False, True): "server_stream",
    (True, False): "client_stream",
    (True, True): "bidi_stream",
}


def _code(context: Any, raised: BaseException | None) -> str:
    if isinstance(raised, asyncio.CancelledError):
        return "CANCELLED"
    code = context.code()  # the grpc.StatusCode given to abort() / set_code(), or None
    if code is not None:
        return str(getattr(code, "name", code))
    return "OK" if raised is None else "UNKNOWN"


class _Series:
    """One method's children of the three series, bound once (labels() is not free per call)."""

    def __init__(self, kind: str, service: str, method: str) -> None:
        self.labels = {"grpc_type": kind, "grpc_service": service, "grpc_method": method}
        self.started = metrics.grpc_server_started_total.labels(**self.labels)
        self.seconds = metrics.grpc_server_handling_seconds.labels(**self.labels)
        self._handled: dict[str, Any] = {}

    def finish(self, start: float, context: Any, raised: BaseException | None) -> None:
        code = _code(context, raised)
        handled = self._handled.get(code)
        if handled is None:
            handled = self._handled[code] = metrics.grpc_server_handled_total.labels(**self.labels, grpc_code=code)
        handled.inc()
        self.seconds.observe(time.perf_counter() - start)


class GrpcMetrics(ServerInterceptor):
    """Counts and times every call of the Motet services (health and reflection too)."""

    def __init__(self) -> None:
        self._series: dict[str, _Series] = {}

    async def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], Awaitable[grpc.RpcMethodHandler[Any, Any]]],
        details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler[Any, Any]:
        handler = await continuation(details)
        if handler is None or not details.method:  # an unknown method (gRPC answers UNIMPLEMENTED)
            return handler
        series = self._series.get(details.method)
        if series is None:
            service, _, method = details.method.lstrip("/").rpartition("/")
            kind = _TYPES[(bool(handler.request_streaming), bool(handler.response_streaming))]
            series = self._series[details.method] = _Series(kind, service, method)

        def change(behavior: Behavior) -> Behavior:
            async def gen(request: Any, context: Any) -> AsyncIterator[Any]:
                series.started.inc()
                start, raised = time.perf_counter(), None
                try:
                    async for item in behavior(request, context):
                        yield item
                except BaseException as exc:
                    raised = exc
                    raise
                finally:
                    series.finish(start, context, raised)

            async def call(request: Any, context: Any) -> Any:
                series.started.inc()
                start, raised = time.perf_counter(), None
                try:
                    return await behavior(request, context)
                except BaseException as exc:
                    raised = exc
                    raise
                finally:
                    series.finish(start, context, raised)

            return gen if inspect.isasyncgenfunction(behavior) else call

        return replace_behavior(handler, change)
