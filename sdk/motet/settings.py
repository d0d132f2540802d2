"""Client settings: where the services are, and the limits every side of the wire shares.

One place for what the SDK used to repeat: the default endpoints, the default queue, the
message and payload limits and the nesting depth. The services read the same limits
(`motet_server.config` takes them from here), so a value the SDK accepts is one the
scheduler accepts. TLS and tokens will be added to `ClientSettings`.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

__all__ = [
    "LOOPBACK",
    "RESULTS_PORT",
    "SCHEDULER_PORT",
    "DEFAULT_QUEUE",
    "DEFAULT_RESULTS",
    "DEFAULT_RESULT_EXPIRES",
    "DEFAULT_SCHEDULER",
    "MAX_DEPTH",
    "MAX_MESSAGE_BYTES",
    "MAX_PAYLOAD_BYTES",
    "ClientSettings",
]

LOOPBACK = "127.0.0.1"
"""The host of the default endpoints (`motet dev` listens on loopback only)."""

SCHEDULER_PORT = 7410
"""The scheduler's default gRPC port."""

RESULTS_PORT = 7411
"""The results service's default gRPC port."""

DEFAULT_SCHEDULER = f"{LOOPBACK}:{SCHEDULER_PORT}"
"""The scheduler endpoint when neither an argument nor MOTET_SCHEDULER gives one."""

DEFAULT_RESULTS = f"{LOOPBACK}:{RESULTS_PORT}"
"""The results endpoint when neither an argument nor MOTET_RESULTS gives one."""

DEFAULT_QUEUE = "celery"
"""The queue a task goes to when nothing names one (Celery's `task_default_queue`)."""

MAX_MESSAGE_BYTES = 64 * 1024 * 1024
"""The largest gRPC message sent or received: a wide canvas travels in one SubmitCanvas call."""

MAX_PAYLOAD_BYTES = 1 << 20
"""The largest encoded value (arguments, a result) accepted: 1 MiB; larger is refused, never truncated."""

DEFAULT_RESULT_EXPIRES = 86_400
"""Seconds a result is kept unless configured otherwise (Celery's default `result_expires`: one day)."""

MAX_DEPTH = 32
"""The deepest canvas nesting accepted (protobuf decoders stop at 100 message levels and one
canvas level costs two or three of them)."""


@dataclass(frozen=True)
class ClientSettings:
    """Where an App's requests go.

    Attributes:
        scheduler: host:port of a scheduler.
        results: host:port of a results service.
        namespace: The namespace sent as `motet-namespace` request metadata, or None.
    """

    scheduler: str = DEFAULT_SCHEDULER
    results: str = DEFAULT_RESULTS
    namespace: str | None = None

    @classmethod
    def resolve(
        cls, *, scheduler: str | None = None, results: str | None = None, namespace: str | None = None
    ) -> ClientSettings:
        """Settings from the arguments given, else MOTET_SCHEDULER / MOTET_RESULTS / MOTET_NAMESPACE,
        else the defaults. The environment is read now, at each call."""
        env = os.environ
        return cls(
            scheduler=scheduler or env.get("MOTET_SCHEDULER") or DEFAULT_SCHEDULER,
            results=results or env.get("MOTET_RESULTS") or DEFAULT_RESULTS,
            namespace=namespace or env.get("MOTET_NAMESPACE") or None,
        )
