"""One factory for the services' outgoing gRPC channels (the worker's to the scheduler, the
store's to etcd), so message size, keepalive and, later, TLS are decided in one place."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import grpc

from motet_server import config

__all__ = ["open_channel"]

_KEEPALIVE_TIME_MS = 10_000
"""Ping an idle connection every 10 s, so a peer that vanished is noticed. Not more often than
every 5 s: etcd's default --grpc-keepalive-min-time answers that with GOAWAY."""


def open_channel(
    target: str,
    *,
    credentials: grpc.ChannelCredentials | None = None,
    options: Sequence[tuple[str, Any]] = (),
) -> grpc.aio.Channel:
    """Opens a grpc.aio channel with the services' message-size limit and keepalive.

    Args:
        target: ``host:port``, or any gRPC target string (e.g. ``ipv4:a:1,b:2``).
        credentials: TLS channel credentials, or None for plaintext.
        options: Extra channel options for this peer (added after the shared ones).

    Returns:
        The channel; it connects lazily, on the first call.
    """
    shared: list[tuple[str, Any]] = [
        ("grpc.max_send_message_length", config.MAX_MESSAGE_BYTES),
        ("grpc.max_receive_message_length", config.MAX_MESSAGE_BYTES),
        ("grpc.keepalive_time_ms", _KEEPALIVE_TIME_MS),
    ]
    all_options = [*shared, *options]
    if credentials is None:
        return grpc.aio.insecure_channel(target, options=all_options)
    return grpc.aio.secure_channel(target, credentials, options=all_options)
