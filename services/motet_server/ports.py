"""Free loopback ports for processes started by Motet (etcd, services in `motet dev` and tests)."""

from __future__ import annotations

import socket

__all__ = ["free_port"]


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port that was free a moment ago on ``host``.

    The OS picks it (bind to port 0); another process could take it before the caller binds
    it, so prefer binding port 0 directly where the server supports it (gRPC, Prometheus).
    """
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind((host, 0))
        return int(s.getsockname()[1])
