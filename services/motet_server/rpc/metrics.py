"""The Prometheus metrics of Motet's services, each defined once, in the registry of the service
that moves it.

A process serves one registry on its metrics port (`serve`): the scheduler's `SCHEDULER`, the
results service's `RESULTS`, a worker's `WORKER`. The three live in one module so a name is
never registered twice, yet a service never exports another's series (they would sit at 0 and
read as "nothing happens"). Each registry also carries the standard ``process_*``,
``python_info`` and ``python_gc_*`` collectors of `prometheus_client`.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from wsgiref.simple_server import WSGIServer

from prometheus_client import (
    GC_COLLECTOR,
    PLATFORM_COLLECTOR,
    PROCESS_COLLECTOR,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    start_http_server,
)
from prometheus_client.metrics_core import Metric
from prometheus_client.registry import Collector

from motet_server.ports import listen_error, split_listen

__all__ = [
    "RESULTS",
    "SCHEDULER",
    "WORKER",
    "chord_joins_total",
    "etcd_txn_ops",
    "etcd_txn_seconds",
    "etcd_txn_total",
    "outbox_parts_applied_total",
    "result_requests_total",
    "serve",
    "task_duration_seconds",
    "tasks_completed_total",
    "tasks_submitted_total",
    "tasks_unserved",
    "wait_streams",
    "worker_task_run_seconds",
    "worker_tasks_executed_total",
    "worker_tasks_in_flight",
    "workers_connected",
]


def _registry() -> CollectorRegistry:
    registry = CollectorRegistry(auto_describe=True)
    for collector in (PROCESS_COLLECTOR, PLATFORM_COLLECTOR, GC_COLLECTOR):
        registry.register(collector)
    return registry


SCHEDULER = _registry()
"""What `motet scheduler` exports."""
RESULTS = _registry()
"""What `motet results` exports."""
WORKER = _registry()
"""What `motet worker --metrics` exports."""

_TASK_SECONDS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300)

# The scheduler.
tasks_submitted_total = Counter(
    "motet_tasks_submitted_total",
    "Tasks created by SubmitCanvas (every member of a canvas).",
    registry=SCHEDULER,
)
tasks_completed_total = Counter(
    "motet_tasks_completed_total",
    "Worker reports committed, once per report that changed its task, by the state reached "
    "(SUCCESS, FAILURE, REVOKED, RETRY, REPLACED).",
    ["state"],
    registry=SCHEDULER,
)
task_duration_seconds = Histogram(
    "motet_task_duration_seconds",
    "Seconds from dispatch to completion report.",
    buckets=_TASK_SECONDS,
    registry=SCHEDULER,
)
etcd_txn_total = Counter(
    "motet_etcd_txn_total",
    "etcd transactions sent by transitions, by outcome (committed, conflict, error).",
    ["outcome"],
    registry=SCHEDULER,
)
etcd_txn_ops = Histogram(
    "motet_etcd_txn_ops",
    "Write ops per committed etcd transaction (group-commit batch size).",
    buckets=(1, 2, 4, 8, 16, 32, 64, 96, 128),
    registry=SCHEDULER,
)
etcd_txn_seconds = Histogram(
    "motet_etcd_txn_seconds",
    "Seconds per etcd transaction round trip.",
    buckets=(0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 1),
    registry=SCHEDULER,
)
outbox_parts_applied_total = Counter(
    "motet_outbox_parts_applied_total", "Spilled write-set parts applied.", registry=SCHEDULER
)
chord_joins_total = Counter(
    "motet_chord_joins_total",
    "Joins (chord headers / groups) that completed and fired their body.",
    registry=SCHEDULER,
)
workers_connected = Gauge("motet_workers_connected", "Worker sessions connected to this scheduler.", registry=SCHEDULER)
tasks_unserved = Gauge(
    "motet_tasks_unserved",
    "Ready tasks whose task name and queue no connected worker (of any replica) serves; checked every 5 s.",
    registry=SCHEDULER,
)

# The results service.
wait_streams = Gauge("motet_wait_streams", "Open WaitResult streams on this results service.", registry=RESULTS)
result_requests_total = Counter(
    "motet_result_requests_total",
    "GetResult and WaitResult calls received, by method.",
    ["method"],
    registry=RESULTS,
)

# A worker.
worker_tasks_executed_total = Counter(
    "motet_worker_tasks_executed_total",
    "Task reports this worker sent, by the state reported (SUCCESS, FAILURE, REVOKED, RETRY, REPLACED).",
    ["state"],
    registry=WORKER,
)
worker_task_run_seconds = Histogram(
    "motet_worker_task_run_seconds",
    "Seconds from receiving an assignment to sending its report.",
    buckets=_TASK_SECONDS,
    registry=WORKER,
)
worker_tasks_in_flight = Gauge(
    "motet_worker_tasks_in_flight",
    "Assignments this worker holds whose run has not ended.",
    registry=WORKER,
)


class _Labelled(Collector):
    """Another registry's series, each with constant labels added (the service's namespace)."""

    def __init__(self, registry: CollectorRegistry, labels: dict[str, str]) -> None:
        self._registry = registry
        self._labels = labels

    def collect(self) -> Iterator[Metric]:
        for family in self._registry.collect():
            labelled = Metric(family.name, family.documentation, family.type, family.unit)
            labelled.samples = [s._replace(labels={**s.labels, **self._labels}) for s in family.samples]
            yield labelled


def serve(
    listen: str, registry: CollectorRegistry, *, namespace: str | None = None
) -> tuple[WSGIServer, threading.Thread, int]:
    """Serves ``registry`` over HTTP (Prometheus text format) on a daemon thread.

    Args:
        listen: ``host:port`` (port 0 picks a free port).
        registry: The service's registry: `SCHEDULER`, `RESULTS` or `WORKER`.
        namespace: Add ``namespace="<it>"`` to every series (the scheduler's and results'
            namespace), so the services of several namespaces scrape into one Prometheus
            without mixing.

    Returns:
        The HTTP server (``shutdown()`` then ``server_close()`` to stop it), its thread, and
        the bound port.

    Raises:
        ValueError: ``listen`` is not host:port.
        OSError: The address could not be bound.
    """
    host, port = split_listen(listen)
    served: CollectorRegistry = registry
    if namespace is not None:
        served = CollectorRegistry(auto_describe=False)
        served.register(_Labelled(registry, {"namespace": namespace}))
    try:
        server, thread = start_http_server(port, addr=host, registry=served)
    except OSError as exc:
        raise listen_error(listen, exc, "metrics") from None
    return server, thread, int(server.server_port)
