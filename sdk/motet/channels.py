"""The SDK's one channel factory: a gRPC channel per endpoint, shared by every Client in the process.

Channels are thread-safe and multiplex calls, so one per endpoint is enough; TLS credentials
will be chosen here.
"""

from __future__ import annotations

import threading

import grpc

from motet.settings import MAX_MESSAGE_BYTES

__all__ = ["channel"]

_channels: dict[str, grpc.Channel] = {}
_lock = threading.Lock()


def channel(endpoint: str) -> grpc.Channel:
    """The process's channel to `endpoint` (host:port), created on first use."""
    with _lock:
        existing = _channels.get(endpoint)
        if existing is None:
            existing = _channels[endpoint] = grpc.insecure_channel(
                endpoint,
                options=[
                    ("grpc.max_send_message_length", MAX_MESSAGE_BYTES),
                    ("grpc.max_receive_message_length", MAX_MESSAGE_BYTES),
                ],
            )
        return existing
