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

from motet_server.config import METRIC_TASK_NAMES
from motet_server.ports import listen_error, split_listen

__all__ = [
    "RESULTS",
    "SCHEDULER",
    "WORKER",
    "TaskLabels",
    "canvas_end_to_end_seconds",
    "chord_join_seconds",
    "chord_joins_total",
    "etcd_txn_conflicts_total",
    "etcd_txn_ops",
    "etcd_txn_seconds",
    "etcd_txn_total",
    "grpc_server_handled_total",
    "grpc_server_handling_seconds",
    "grpc_server_started_total",
    "outbox_parts_applied_total",
    "payload_rejected_total",
    "queue_depth",
    "queue_oldest_ready_age_seconds",
    "reconciler_repairs_total",
    "redeliveries_total",
    "result_requests_total",
    "serve",
    "task_label",
    "task_queue_wait_seconds",
    "task_run_seconds",
    "task_transitions_total",
    "tasks_completed_total",
    "tasks_submitted_total",
    "tasks_unserved",
    "wait_streams",
    "worker_lost_total",
    "worker_slots",
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
    "Tasks created by SubmitCanvas (every member of a canvas), by queue and task name.",
    ["queue", "task"],
    registry=SCHEDULER,
)
tasks_completed_total = Counter(
    "motet_tasks_completed_total",
    "Worker reports committed, once per report that changed its task, by the state reached "
    "(SUCCESS, FAILURE, REVOKED, RETRY, REPLACED).",
    ["state"],
    registry=SCHEDULER,
)
task_transitions_total = Counter(
    "motet_task_transitions_total",
    "Task state changes committed by this scheduler, by the state reached (DISPATCHED, STARTED, "
    "SUCCESS, FAILURE, REVOKED, RETRY, REPLACED).",
    ["to"],
    registry=SCHEDULER,
)
task_run_seconds = Histogram(
    "motet_task_run_seconds",
    "Seconds from dispatch to the worker's report, by task name.",
    ["task"],
    buckets=_TASK_SECONDS,
    registry=SCHEDULER,
)
task_queue_wait_seconds = Histogram(
    "motet_task_queue_wait_seconds",
    "Seconds a task waited ready (from its creation, or its countdown / eta) until dispatched.",
    buckets=_TASK_SECONDS,
    registry=SCHEDULER,
)
queue_depth = Gauge(
    "motet_queue_depth",
    "Tasks per queue and state (ready, delayed: countdown / eta / retry not due, running: "
    "held by a worker); every scheduler replica counts every task.",
    ["queue", "state"],
    registry=SCHEDULER,
)
queue_oldest_ready_age_seconds = Gauge(
    "motet_queue_oldest_ready_age_seconds",
    "Age of the oldest ready task of the queue (0 when none waits).",
    ["queue"],
    registry=SCHEDULER,
)
canvas_end_to_end_seconds = Histogram(
    "motet_canvas_end_to_end_seconds",
    "Seconds from SubmitCanvas to the canvas's result being ready, by kind of canvas (counted by "
    "the replica that accepted the submission).",
    ["kind"],
    buckets=_TASK_SECONDS,
    registry=SCHEDULER,
)
redeliveries_total = Counter(
    "motet_redeliveries_total",
    "Tasks handed back unreported when a worker session ended, to run again elsewhere, by how it "
    "ended (worker_lost: silent or connection broken; worker_stopped: closed while holding them; "
    "scheduler_stopping).",
    ["reason"],
    registry=SCHEDULER,
)
worker_lost_total = Counter(
    "motet_worker_lost_total",
    "Worker sessions ended because the worker went silent or its connection broke.",
    registry=SCHEDULER,
)
chord_join_seconds = Histogram(
    "motet_chord_join_seconds",
    "Seconds from the last member's report reaching the scheduler to the commit that fires the "
    "join (chord body or group result).",
    buckets=_TASK_SECONDS,
    registry=SCHEDULER,
)
worker_slots = Gauge(
    "motet_worker_slots",
    "Task slots (concurrency) of the workers connected to this scheduler, free or busy.",
    ["state"],
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
    "Seconds per etcd transaction round trip, by operation (the transition, or batch for several).",
    ["op"],
    buckets=(0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 1),
    registry=SCHEDULER,
)
etcd_txn_conflicts_total = Counter(
    "motet_etcd_txn_conflicts_total",
    "etcd transactions whose compares failed (another writer got there first), by operation.",
    ["op"],
    registry=SCHEDULER,
)
outbox_parts_applied_total = Counter(
    "motet_outbox_parts_applied_total", "Spilled write-set parts applied.", registry=SCHEDULER
)
reconciler_repairs_total = Counter(
    "motet_reconciler_repairs_total",
    "Repairs by the reconciler: outbox parts a crashed writer left, claimed tasks never sent.",
    ["what"],
    registry=SCHEDULER,
)
payload_rejected_total = Counter(
    "motet_payload_rejected_total",
    "Payloads refused (too large, not valid JSON, not a list / object) in submissions and reports.",
    registry=SCHEDULER,
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

# Both services: the standard gRPC server series (names as go-grpc-prometheus / py-grpc-prometheus).
grpc_server_started_total = Counter(
    "grpc_server_started_total",
    "RPCs started on the server.",
    ["grpc_type", "grpc_service", "grpc_method"],
    registry=None,
)
grpc_server_handled_total = Counter(
    "grpc_server_handled_total",
    "RPCs completed on the server, by status code.",
    ["grpc_type", "grpc_service", "grpc_method", "grpc_code"],
    registry=None,
)
grpc_server_handling_seconds = Histogram(
    "grpc_server_handling_seconds",
    "Seconds from an RPC's start to its end (a stream: its whole life).",
    ["grpc_type", "grpc_service", "grpc_method"],
    buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 5, 30, 300),
    registry=None,
)
for _registry_of_service in (SCHEDULER, RESULTS):
    for _collector in (grpc_server_started_total, grpc_server_handled_total, grpc_server_handling_seconds):
        _registry_of_service.register(_collector)


# Label values known in advance start at 0, so their series exist (a rate() or an alert sees 0,
# not "no data") before the first event.
for _to in ("DISPATCHED", "STARTED", "SUCCESS", "FAILURE", "REVOKED", "RETRY", "REPLACED"):
    task_transitions_total.labels(to=_to)
for _state in ("SUCCESS", "FAILURE", "REVOKED", "RETRY", "REPLACED"):
    tasks_completed_total.labels(state=_state)
for _reason in ("worker_lost", "worker_stopped", "scheduler_stopping"):
    redeliveries_total.labels(reason=_reason)
for _what in ("outbox_part", "claim_resent"):
    reconciler_repairs_total.labels(what=_what)
for _kind in ("signature", "chain", "group", "chord", "map", "chunks"):
    canvas_end_to_end_seconds.labels(kind=_kind)
for _op in ("submit", "claim", "start", "finish", "revoke", "batch"):
    etcd_txn_conflicts_total.labels(op=_op)
for _outcome in ("committed", "conflict", "error"):
    etcd_txn_total.labels(outcome=_outcome)
for _slot in ("free", "busy"):
    worker_slots.labels(state=_slot)


class TaskLabels:
    """Task names as label values, capped: the first `limit` distinct names seen keep their own
    series for the process's life, every later one counts as ``other`` (a label never grows
    without bound). First come, first kept: no allow-list, no ranking by traffic."""

    OTHER = "other"

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._names: set[str] = set()
        self._lock = threading.Lock()

    def __call__(self, name: str) -> str:
        """The label value for ``name``: itself if it is (or now becomes) one of the kept names,
        else ``other``."""
        if name in self._names:
            return name
        with self._lock:
            # Again under the lock: another thread may have just admitted this very name with
            # the last free place, and it must not read "other" here.
            if name in self._names or len(self._names) < self.limit:
                self._names.add(name)
                return name
        return self.OTHER


result_waits_total = Counter(
    "motet_result_waits_total",
    "AwaitResult calls (one task's result, waited for at the scheduler), by outcome: answered "
    "(from this replica's commit, from the results it committed in the last 2 s, or with one read "
    "after another replica's commit), not_held (the client waits at the results service), "
    "released (held, then no ready result was seen here).",
    ["outcome"],
    registry=SCHEDULER,
)

task_label = TaskLabels(METRIC_TASK_NAMES)
"""The task label of the scheduler's series (`config.METRIC_TASK_NAMES` names, then ``other``)."""


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
