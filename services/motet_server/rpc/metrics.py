"""The Prometheus metrics every Motet service exports (one process-wide registry).

Served by the HTTP port `rpc.server.start_server` opens with ``metrics_listen``.
"""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

__all__ = [
    "chord_joins_total",
    "etcd_txn_ops",
    "etcd_txn_seconds",
    "etcd_txn_total",
    "outbox_parts_applied_total",
    "task_duration_seconds",
    "tasks_completed_total",
    "tasks_submitted_total",
    "wait_streams",
    "workers_connected",
]

tasks_submitted_total = Counter(
    "motet_tasks_submitted_total", "Tasks created by SubmitCanvas (every member of a canvas)."
)
tasks_completed_total = Counter(
    "motet_tasks_completed_total", "Task reports committed, by the state reached.", ["state"]
)
task_duration_seconds = Histogram(
    "motet_task_duration_seconds",
    "Seconds from dispatch to completion report.",
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300),
)
etcd_txn_total = Counter(
    "motet_etcd_txn_total",
    "etcd transactions sent by transitions, by outcome (committed, conflict, error).",
    ["outcome"],
)
etcd_txn_ops = Histogram(
    "motet_etcd_txn_ops",
    "Write ops per committed etcd transaction (group-commit batch size).",
    buckets=(1, 2, 4, 8, 16, 32, 64, 96, 128),
)
etcd_txn_seconds = Histogram(
    "motet_etcd_txn_seconds",
    "Seconds per etcd transaction round trip.",
    buckets=(0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 1),
)
outbox_parts_applied_total = Counter("motet_outbox_parts_applied_total", "Spilled write-set parts applied.")
chord_joins_total = Counter(
    "motet_chord_joins_total", "Joins (chord headers / groups) that completed and fired their body."
)
workers_connected = Gauge("motet_workers_connected", "Worker sessions connected to this scheduler.")
wait_streams = Gauge("motet_wait_streams", "Open WaitResult streams on this results service.")
