"""The services' defaults and limits, defined once: ports, addresses, queue, sizes, canvas limits.

Every service, the CLI and `DevCluster` take these names instead of repeating the literals
(tests/unit/test_config.py keeps the literals out of every other module).

What both sides of the wire must agree on — the default ports, the default queue, the message
size and the canvas limits `MAX_DEPTH` and `MAX_PAYLOAD_BYTES` — is the SDK's
(`motet.settings`, which the services may import and the SDK never imports back), so a canvas
the SDK accepts is one the scheduler accepts.
"""

from __future__ import annotations

import os

from motet import settings as _shared
from motet.v1 import common_pb2 as _common

__all__ = [
    "METRICS_EVERY",
    "METRIC_TASK_NAMES",
    "DEFAULT_RESULT_EXPIRES",
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
    "MAX_CANVAS_NODES",
    "MAX_CREDIT",
    "MAX_RESULTS_PER_CALL",
    "MAX_TASK_NAMES",
    "RESULTS_PORT",
    "SCHEDULER_PORT",
    "SCHEDULER_DRAIN_GRACE",
    "WORKER_HEARTBEAT",
    "WORKER_SILENCE_LIMIT",
    "result_expires",
]

# -- where things listen ---------------------------------------------------------------------

LOOPBACK = _shared.LOOPBACK
"""The host services bind and dial by default (`motet dev` stays on loopback)."""

SCHEDULER_PORT = _shared.SCHEDULER_PORT
"""The scheduler's default gRPC port (the SDK's default scheduler address)."""

RESULTS_PORT = _shared.RESULTS_PORT
"""The results service's default gRPC port (the SDK's default results address)."""

DEFAULT_SCHEDULER = _shared.DEFAULT_SCHEDULER
"""Where a scheduler listens, and a worker dials, unless told otherwise."""

DEFAULT_RESULTS = _shared.DEFAULT_RESULTS
"""Where a results service listens unless told otherwise."""

DEFAULT_ETCD = f"{LOOPBACK}:2379"
"""The etcd endpoint used unless told otherwise (etcd's own default client port)."""

DEFAULT_NAMESPACE = "default"
"""The keyspace namespace (etcd key prefix) used unless told otherwise."""

DEFAULT_LOG_LEVEL = "INFO"
"""The log level of a process started by the `motet` command."""

# -- what workers serve ----------------------------------------------------------------------

DEFAULT_WORKERS = 1
"""Worker processes `motet dev` and `DevCluster` start."""

DEFAULT_QUEUE = _shared.DEFAULT_QUEUE
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

# -- worker liveness --------------------------------------------------------------------------

WORKER_HEARTBEAT = 5.0
"""Seconds a worker lets pass, at most, between two frames on its stream (an idle worker sends a
heartbeat): how it proves it is alive, whatever TCP says."""

WORKER_SILENCE_LIMIT = 3 * WORKER_HEARTBEAT
"""Seconds of silence after which the scheduler ends a worker's session (a frozen process, a
half-open connection): its lease is revoked and its tasks go to other workers."""

METRIC_TASK_NAMES = 100
"""Distinct task names that get their own ``task`` label value in the scheduler's metrics; later
names are counted as ``other``, so a label never grows without bound (Prometheus's cardinality)."""

METRICS_EVERY = 2.0
"""Seconds between two updates of the scheduler's snapshot gauges (queue depth, oldest ready
task, worker slots)."""

SCHEDULER_DRAIN_GRACE = 8.0
"""Seconds a stopping scheduler waits for its workers to finish and report the tasks they hold
(a rolling deploy re-runs only what takes longer). Below the 10 s a process gets between
SIGTERM and SIGKILL from `DevCluster`; give Kubernetes' terminationGracePeriodSeconds more."""

# -- sizes and canvas limits -----------------------------------------------------------------

MAX_MESSAGE_BYTES = _shared.MAX_MESSAGE_BYTES
"""Largest gRPC message a service accepts or sends, on its servers and its outgoing channels
(the worker's to the scheduler, the store's to etcd). Payload limits are enforced well below
it, with a clear error."""

MAX_DEPTH = _shared.MAX_DEPTH
"""Deepest nesting of canvas nodes accepted (the SDK refuses the same canvases before sending)."""

MAX_PAYLOAD_BYTES = _shared.MAX_PAYLOAD_BYTES
"""Largest encoded args / kwargs / items / value accepted, in bytes (1 MiB)."""

MAX_RESULTS_PER_CALL = 10_000
"""Task ids one GetResults call may ask for."""

MAX_CANVAS_NODES = 250_000
"""Nodes one submission may have: refused at once above it. A write set too large for one etcd
transaction stages its parts before the commit (`store.stm`), so a chord of 100,000 members is
one submission; the gRPC message limit (64 MiB) and etcd's space bound it further."""

CHAIN_INLINE_STEPS = 16
"""Chain steps a task record carries at most as its continuation; the steps after them are
stored once, CHAIN_INLINE_STEPS per ChainSegment (key chain/<id>), and read when reached. A
chain of n steps then writes O(n) bytes in all, not O(n^2), and no record grows with n."""

MAX_CREDIT = 10_000
"""Tasks a worker session may hold unreported at most, whatever credit it announces."""

MAX_TASK_NAMES = 10_000
"""Task names one worker hello may declare."""

# -- how long results live -------------------------------------------------------------------

DEFAULT_RESULT_EXPIRES = _shared.DEFAULT_RESULT_EXPIRES
"""Seconds a result is kept (Celery's default `result_expires`: one day)."""


def result_expires() -> int:
    """Seconds results are kept: MOTET_RESULT_EXPIRES (read now), else `DEFAULT_RESULT_EXPIRES`.

    Raises:
        ValueError: if MOTET_RESULT_EXPIRES is not a whole number of seconds of at least 1.
    """
    raw = os.environ.get("MOTET_RESULT_EXPIRES")
    if raw is None or raw == "":
        return DEFAULT_RESULT_EXPIRES
    try:
        value = int(raw)
    except ValueError:
        value = 0
    if value < 1:
        raise ValueError(f"MOTET_RESULT_EXPIRES must be a whole number of seconds, at least 1 (got {raw!r})")
    return value


READY_STATES = frozenset({_common.TASK_STATE_SUCCESS, _common.TASK_STATE_FAILURE, _common.TASK_STATE_REVOKED})
"""The states a result is final in: what a wait returns (a RETRY result is not one)."""
