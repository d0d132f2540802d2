"""The services' defaults and limits, defined once: ports, addresses, queue, sizes, canvas limits.

Every service, the CLI and `DevCluster` take these names instead of repeating the literals.
Plain constants with no imports, so any module (the store included) can use them.

The canvas limits `MAX_DEPTH` and `MAX_PAYLOAD_BYTES` are protocol facts the Python SDK
(``sdk/motet``) enforces too, before a canvas is sent; the SDK never imports the services, so
they are written twice and MUST equal the SDK's values (tests/unit/test_config.py compares
them). The ports and the message size merely match the SDK's defaults.
"""

from __future__ import annotations

__all__ = [
    "DEFAULT_CONCURRENCY",
    "DEFAULT_ETCD",
    "DEFAULT_GRACE",
    "DEFAULT_LOG_LEVEL",
    "DEFAULT_NAMESPACE",
    "DEFAULT_POOL",
    "DEFAULT_PREFETCH",
    "DEFAULT_QUEUE",
    "DEFAULT_RESULTS",
    "DEFAULT_SCHEDULER",
    "DEFAULT_WORKERS",
    "LOOPBACK",
    "MAX_DEPTH",
    "MAX_MESSAGE_BYTES",
    "MAX_PAYLOAD_BYTES",
    "RESULTS_PORT",
    "SCHEDULER_PORT",
]

# -- where things listen ---------------------------------------------------------------------

LOOPBACK = "127.0.0.1"
"""The host services bind and dial by default (`motet dev` stays on loopback)."""

SCHEDULER_PORT = 7410
"""The scheduler's default gRPC port. Same as the SDK's default scheduler address (motet.app)."""

RESULTS_PORT = 7411
"""The results service's default gRPC port. Same as the SDK's default results address (motet.app)."""

DEFAULT_SCHEDULER = f"{LOOPBACK}:{SCHEDULER_PORT}"
"""Where a scheduler listens, and a worker dials, unless told otherwise."""

DEFAULT_RESULTS = f"{LOOPBACK}:{RESULTS_PORT}"
"""Where a results service listens unless told otherwise."""

DEFAULT_ETCD = f"{LOOPBACK}:2379"
"""The etcd endpoint used unless told otherwise (etcd's own default client port)."""

DEFAULT_NAMESPACE = "default"
"""The keyspace namespace (etcd key prefix) used unless told otherwise."""

DEFAULT_LOG_LEVEL = "WARNING"
"""The log level of a process started by the `motet` command."""

# -- what workers serve ----------------------------------------------------------------------

DEFAULT_WORKERS = 1
"""Worker processes `motet dev` and `DevCluster` start."""

DEFAULT_QUEUE = "celery"
"""The queue of a task that names none, and the one a worker serves unless told otherwise
(Celery's default queue name; a task's request context reports it as its routing key)."""

DEFAULT_CONCURRENCY = 8
"""Tasks a worker started by the CLI or `DevCluster` runs at once."""

DEFAULT_POOL = "threads"
"""Where a worker runs tasks: "threads" or "processes"."""

DEFAULT_PREFETCH = 4
"""Credit a worker grants per unit of concurrency (Celery's prefetch multiplier)."""

DEFAULT_GRACE = 30.0
"""Seconds a stopping worker waits for running tasks to report."""

# -- sizes and canvas limits -----------------------------------------------------------------

MAX_MESSAGE_BYTES = 64 * 1024 * 1024
"""Largest gRPC message a service accepts or sends, on its servers and its outgoing channels
(the worker's to the scheduler, the store's to etcd). Payload limits are enforced well below
it, with a clear error. Equals the SDK client's channel limit (motet.client)."""

MAX_DEPTH = 32
"""Deepest nesting of canvas nodes accepted. protobuf refuses to decode messages nested deeper
than 100 levels, and each canvas level costs two. Protocol fact: MUST equal the SDK's
``motet.canvas.MAX_DEPTH``, which refuses the same canvases before they are sent."""

MAX_PAYLOAD_BYTES = 1 << 20
"""Largest encoded args / kwargs / items / value accepted, in bytes (1 MiB). Protocol fact: MUST
equal the SDK's ``motet.payload.MAX_PAYLOAD_BYTES``."""
