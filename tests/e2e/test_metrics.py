"""Each service's metrics port, scraped while the cluster works: every service exports its own
series and only those, and each series moves by what happened (docs/architecture.md, "Metrics").

The cluster is shared by the suite, so every assertion is on the change between two scrapes.
"""

from __future__ import annotations

import time
import urllib.request
from collections.abc import Iterable
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families

from examples.guide.tasks import add, fail, sleep_task
from motet import AsyncResult
from motet.exceptions import TaskRevokedError
from tests.e2e.tasks import tracked_sleep

T = 30

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]

SCHEDULER_SERIES = {
    "motet_tasks_submitted",
    "motet_tasks_completed",
    "motet_task_duration_seconds",
    "motet_etcd_txn",
    "motet_etcd_txn_ops",
    "motet_etcd_txn_seconds",
    "motet_outbox_parts_applied",
    "motet_chord_joins",
    "motet_workers_connected",
    "motet_tasks_unserved",
}
RESULTS_SERIES = {"motet_wait_streams", "motet_result_requests"}
WORKER_SERIES = {"motet_worker_tasks_executed", "motet_worker_task_run_seconds", "motet_worker_tasks_in_flight"}


def _text(endpoint: str) -> str:
    with urllib.request.urlopen(f"http://{endpoint}/metrics", timeout=10) as reply:
        return str(reply.read().decode())


def _families(endpoint: str) -> set[str]:
    """The motet_* metric families the endpoint exports (a counter without its _total)."""
    names = {f.name for f in text_string_to_metric_families(_text(endpoint))}
    # A counter's or histogram's creation time is its own sample line, not another series.
    return {n for n in names if n.startswith("motet_") and not n.endswith("_created")}


def _scrape(endpoints: Iterable[str]) -> Samples:
    """Every motet_* sample, by name and labels, summed over the endpoints."""
    out: Samples = {}
    for endpoint in endpoints:
        for family in text_string_to_metric_families(_text(endpoint)):
            for s in family.samples:
                if s.name.startswith("motet_"):
                    # The scheduler's and results' series carry their namespace (the worker's do
                    # not: it serves whichever scheduler it is pointed at).
                    labels = {k: v for k, v in s.labels.items() if k != "namespace"}
                    key = (s.name, frozenset(labels.items()))
                    out[key] = out.get(key, 0.0) + s.value
    return out


def _moved(before: Samples, after: Samples, name: str, **labels: str) -> float:
    key = (name, frozenset(labels.items()))
    return after.get(key, 0.0) - before.get(key, 0.0)


def _total(samples: Samples, name: str) -> float:
    return sum(v for (n, _), v in samples.items() if n == name)


@pytest.fixture
def metrics(cluster: Any) -> Any:
    if not getattr(cluster, "scheduler_metrics", ""):
        pytest.skip("an existing cluster (MOTET_TEST_CLUSTER) does not say where its metrics are")
    return cluster


def test_each_service_exports_only_its_own_metrics(metrics: Any) -> None:
    add.delay(1, 2).get(timeout=T)
    assert _families(metrics.scheduler_metrics) == SCHEDULER_SERIES
    assert _families(metrics.results_metrics) == RESULTS_SERIES
    for endpoint in metrics.worker_metrics:
        assert _families(endpoint) == WORKER_SERIES


def test_the_services_series_carry_their_namespace(metrics: Any) -> None:
    for endpoint in (metrics.scheduler_metrics, metrics.results_metrics):
        samples = [s for f in text_string_to_metric_families(_text(endpoint)) for s in f.samples]
        assert samples and all(s.labels.get("namespace") == "default" for s in samples), endpoint
    worker = [s for f in text_string_to_metric_families(_text(metrics.worker_metrics[0])) for s in f.samples]
    assert all("namespace" not in s.labels for s in worker)


def test_the_results_service_counts_get_and_wait_calls(metrics: Any) -> None:
    results = [metrics.results_metrics]
    done = add.delay(2, 3)
    assert done.get(timeout=T) == 5
    before = _scrape(results)
    # Fresh result objects: one that already holds its result asks nothing.
    assert AsyncResult(done.id).get(timeout=T) == 5
    assert AsyncResult(done.id).state == "SUCCESS"
    after = _scrape(results)
    assert _moved(before, after, "motet_result_requests_total", method="WaitResult") == 1
    assert _moved(before, after, "motet_result_requests_total", method="GetResult") == 1
    # The stream's server side closes just after the client has its reply.
    deadline = time.monotonic() + 5
    while _scrape(results)[("motet_wait_streams", frozenset())] != 0 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert _scrape(results)[("motet_wait_streams", frozenset())] == 0


def test_the_worker_counts_what_it_ran(metrics: Any) -> None:
    workers = metrics.worker_metrics
    assert len(workers) == len(metrics.workers)
    before = _scrape(workers)
    running = tracked_sleep.delay(1.5)
    deadline = time.monotonic() + T
    while running.state != "STARTED" and time.monotonic() < deadline:
        time.sleep(0.05)
    assert _scrape(workers)[("motet_worker_tasks_in_flight", frozenset())] == 1
    assert [r.get(timeout=T) for r in [add.delay(i, i) for i in range(5)]] == [2 * i for i in range(5)]
    with pytest.raises(RuntimeError, match="fail"):
        fail.delay().get(timeout=T)
    running.get(timeout=T)
    after = _scrape(workers)
    assert _moved(before, after, "motet_worker_tasks_executed_total", state="SUCCESS") == 6
    assert _moved(before, after, "motet_worker_tasks_executed_total", state="FAILURE") == 1
    assert _moved(before, after, "motet_worker_task_run_seconds_count") == 7
    assert _moved(before, after, "motet_worker_task_run_seconds_sum") >= 1.5
    assert after[("motet_worker_tasks_in_flight", frozenset())] == 0


def test_a_task_revoked_while_running_is_completed_once_as_revoked(metrics: Any) -> None:
    scheduler, workers = [metrics.scheduler_metrics], metrics.worker_metrics
    before, before_workers = _scrape(scheduler), _scrape(workers)
    long = sleep_task.delay(20)
    quick = [add.delay(i, 1) for i in range(4)]
    deadline = time.monotonic() + T
    while long.state not in ("RECEIVED", "STARTED") and time.monotonic() < deadline:
        time.sleep(0.05)
    long.revoke(terminate=True)
    with pytest.raises(TaskRevokedError):
        long.get(timeout=T)
    assert [r.get(timeout=T) for r in quick] == [i + 1 for i in range(4)]
    time.sleep(1.0)  # a second report of the revoked task would have arrived by now
    after, after_workers = _scrape(scheduler), _scrape(workers)
    submitted = _moved(before, after, "motet_tasks_submitted_total")
    completed = _total(after, "motet_tasks_completed_total") - _total(before, "motet_tasks_completed_total")
    assert submitted == 5
    assert completed == submitted
    assert _moved(before, after, "motet_tasks_completed_total", state="REVOKED") == 1
    assert _moved(before, after, "motet_tasks_completed_total", state="SUCCESS") == 4
    assert _moved(before_workers, after_workers, "motet_worker_tasks_executed_total", state="REVOKED") == 1
