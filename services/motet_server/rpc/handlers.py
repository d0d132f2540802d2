"""Changing a gRPC method handler from a server interceptor while keeping its shape (the
token check in `rpc.auth`, the request guard in `rpc.guard`)."""

from __future__ import annotations

import inspect
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import TYPE_CHECKING, Any

import grpc

__all__ = ["Behavior", "ServerInterceptor", "replace_behavior", "run_first"]

Behavior = Callable[..., Any]
"""A handler's ``(request, context)`` function."""

if TYPE_CHECKING:
    ServerInterceptor = grpc.aio.ServerInterceptor[Any, Any]
else:  # the runtime class is not generic; only its stubs are
    ServerInterceptor = grpc.aio.ServerInterceptor
"""The base class of Motet's server interceptors (`rpc.auth`, `rpc.guard`, `rpc.grpc_metrics`)."""


def replace_behavior(
    handler: grpc.RpcMethodHandler[Any, Any],
    change: Callable[[Behavior], Behavior],
    deserializer: Callable[[Callable[[bytes], Any]], Callable[[bytes], Any]] | None = None,
) -> grpc.RpcMethodHandler[Any, Any]:
    """The same handler with its behavior replaced by ``change(behavior)`` (and its request
    deserializer by ``deserializer(request_deserializer)``, when given)."""
    for kind, make in (
        ("unary_unary", grpc.unary_unary_rpc_method_handler),
        ("unary_stream", grpc.unary_stream_rpc_method_handler),
        ("stream_unary", grpc.stream_unary_rpc_method_handler),
        ("stream_stream", grpc.stream_stream_rpc_method_handler),
    ):
        behavior = getattr(handler, kind)
        if behavior is not None:
            parse = handler.request_deserializer
            return make(
                change(behavior),
                request_deserializer=deserializer(parse) if deserializer is not None and parse else parse,
                response_serializer=handler.response_serializer,
            )
    return handler


def run_first(step: Callable[[Any, Any], Awaitable[None]], behavior: Behavior) -> Behavior:
    """``behavior`` with ``step(request, context)`` awaited before it, of the same shape (an
    async generator stays one, as gRPC tells stream handlers apart by it)."""

    async def gen(request: Any, context: Any) -> AsyncIterator[Any]:
        await step(request, context)
        async for item in behavior(request, context):
            yield item

    async def call(request: Any, context: Any) -> Any:
        await step(request, context)
        return await behavior(request, context)

    return gen if inspect.isasyncgenfunction(behavior) else call
