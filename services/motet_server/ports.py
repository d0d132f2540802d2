"""Free loopback ports for processes started by Motet (etcd, services in `motet dev` and tests)."""

from __future__ import annotations

import random
import socket
import threading

__all__ = ["free_port", "listen_error", "split_listen"]

_RANGE = (15000, 32767)
"""Where ports are picked: below Linux's ephemeral range (32768-60999), which outgoing
connections draw from. A port bound to 0 comes from that range, so a connection opened by any
process between the pick and the bind could take it (seen: "Address already in use" when a
loaded test run started a service); here only another listener can, and the bind check sees it."""
_handed: set[int] = set()
_lock = threading.Lock()
_random = random.SystemRandom()


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port that was free a moment ago on ``host``, never the same twice in one process.

    Another process could still bind it before the caller does; prefer binding port 0 directly
    where the server supports it.
    """
    with _lock:
        for _ in range(1000):
            port = _random.randint(*_RANGE)
            if port in _handed:
                continue
            with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
                try:
                    s.bind((host, port))
                except OSError:
                    continue
            _handed.add(port)
            return port
    raise OSError(f"no free TCP port found on {host} in {_RANGE[0]}-{_RANGE[1]}")


def split_listen(listen: str) -> tuple[str, int]:
    """``(host, port)`` of a ``host:port`` listen address ("" or "[::]" hosts as given, unbracketed).

    Raises:
        ValueError: it is not host:port.
    """
    host, sep, port = listen.rpartition(":")
    if not sep or not port.isdigit():
        raise ValueError(f"listen address must be host:port, not {listen!r}")
    return host.strip("[]") or "0.0.0.0", int(port)


def listen_error(listen: str, exc: OSError, what: str = "") -> OSError:
    """The one-line error of an address that cannot be bound: "cannot listen on HOST:PORT
    (what): address already in use" (the OS's reason, lower case, without "[Errno 98]")."""
    reason = (exc.strerror or str(exc)).lower()
    return OSError(exc.errno, f"cannot listen on {listen}{f' ({what})' if what else ''}: {reason}")
