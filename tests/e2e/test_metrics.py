"""Each service's metrics port, scraped while the cluster works: every service exports its own
series and only those, and each series moves by what happened (docs/architecture.md, "Metrics").

The cluster is shared by the suite, so every assertion is on the change between two scrapes.
"""

from __future__ import annotations

import time
import urllib.request
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families

from examples.guide.tasks import add, fail, sleep_task
from motet import AsyncResult
from motet.exceptions import TaskRevokedError, TimeoutError
from motet.result import ResultSet
from tests.e2e.tasks import tracked_sleep
from tests.support.scrape import Samples, scrape, total

T = 30

SCHEDULER_SERIES = {
    "motet_tasks_submitted",
    "motet_tasks_completed",
    "motet_task_transitions",
    "motet_task_run_seconds",
    "motet_task_queue_wait_seconds",
    "motet_queue_depth",
    "motet_queue_oldest_ready_age_seconds",
    "motet_canvas_end_to_end_seconds",
    "motet_redeliveries",
    "motet_worker_lost",
    "motet_chord_join_seconds",
    "motet_worker_slots",
    "motet_etcd_txn",
    "motet_etcd_txn_ops",
    "motet_etcd_txn_seconds",
    "motet_etcd_txn_conflicts",
    "motet_outbox_parts_applied",
    "motet_reconciler_repairs",
    "motet_payload_rejected",
    "motet_chord_joins",
    "motet_workers_connected",
    "motet_tasks_unserved",
    "motet_result_waits",
}
RESULTS_SERIES = {"motet_wait_streams", "motet_result_requests"}
GRPC_SERIES = {"grpc_server_started", "grpc_server_handled", "grpc_server_handling_seconds"}
"""What both services export besides their own (the standard gRPC server series)."""
WORKER_SERIES = {"motet_worker_tasks_executed", "motet_worker_task_run_seconds", "motet_worker_tasks_in_flight"}


def _text(endpoint: str) -> str:
    with urllib.request.urlopen(f"http://{endpoint}/metrics", timeout=10) as reply:
        return str(reply.read().decode())


def _families(endpoint: str, prefix: str = "motet_") -> set[str]:
    """The metric families of ``prefix`` the endpoint exports (a counter without its _total)."""
    names = {f.name for f in text_string_to_metric_families(_text(endpoint))}
    # A counter's or histogram's creation time is its own sample line, not another series.
    return {n for n in names if n.startswith(prefix) and not n.endswith("_created")}


def _moved(before: Samples, after: Samples, name: str, **labels: str) -> float:
    """How much the series with exactly ``labels`` moved."""
    key = (name, frozenset(labels.items()))
    return after.get(key, 0.0) - before.get(key, 0.0)


def _total(samples: Samples, name: str) -> float:
    return total(samples, name)


@pytest.fixture
def metrics(cluster: Any) -> Any:
    if not getattr(cluster, "scheduler_metrics", ""):
        pytest.skip("an existing cluster (MOTET_TEST_CLUSTER) does not say where its metrics are")
    return cluster


def test_each_service_exports_only_its_own_metrics(metrics: Any) -> None:
    add.delay(1, 2).get(timeout=T)
    assert _families(metrics.scheduler_metrics) == SCHEDULER_SERIES
    assert _families(metrics.results_metrics) == RESULTS_SERIES
    assert _families(metrics.scheduler_metrics, "grpc_") == _families(metrics.results_metrics, "grpc_") == GRPC_SERIES
    for endpoint in metrics.worker_metrics:
        assert _families(endpoint) == WORKER_SERIES
        assert _families(endpoint, "grpc_") == set()


def test_the_services_series_carry_their_namespace(metrics: Any) -> None:
    for endpoint in (metrics.scheduler_metrics, metrics.results_metrics):
        samples = [s for f in text_string_to_metric_families(_text(endpoint)) for s in f.samples]
        assert samples and all(s.labels.get("namespace") == "default" for s in samples), endpoint
    worker = [s for f in text_string_to_metric_families(_text(metrics.worker_metrics[0])) for s in f.samples]
    assert all("namespace" not in s.labels for s in worker)


def test_the_results_service_counts_get_and_wait_calls(metrics: Any) -> None:
    results = [metrics.results_metrics]
    done, other = add.delay(2, 3), add.delay(1, 1)
    assert (done.get(timeout=T), other.get(timeout=T)) == (5, 2)
    before = scrape(results)
    # Fresh result objects: one that already holds its result asks nothing. Two ids are waited
    # for at the results service (one id is first asked of the scheduler, AwaitResult).
    assert ResultSet([AsyncResult(done.id), AsyncResult(other.id)]).get(timeout=T) == [5, 2]
    assert AsyncResult(done.id).state == "SUCCESS"
    after = scrape(results)
    assert _moved(before, after, "motet_result_requests_total", method="WaitResult") == 1
    assert _moved(before, after, "motet_result_requests_total", method="GetResult") == 1
    # The stream's server side closes just after the client has its reply.
    deadline = time.monotonic() + 5
    while scrape(results)[("motet_wait_streams", frozenset())] != 0 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert scrape(results)[("motet_wait_streams", frozenset())] == 0


def test_one_task_waited_for_is_answered_by_the_scheduler_that_commits_it(metrics: Any) -> None:
    scheduler, results = [metrics.scheduler_metrics], [metrics.results_metrics]
    before, before_results = scrape(scheduler), scrape(results)
    running = sleep_task.delay(0.3)  # still held when the wait begins
    assert running.get(timeout=T) == 0.3
    after, after_results = scrape(scheduler), scrape(results)
    assert _moved(before, after, "motet_result_waits_total", outcome="answered") == 1
    assert _moved(before_results, after_results, "motet_result_requests_total", method="WaitResult") == 0
    # Just after its commit, a fresh wait is answered from the results the scheduler keeps a
    # moment; an id the scheduler does not hold is waited for at the results service.
    assert AsyncResult(running.id).get(timeout=T) == 0.3
    with pytest.raises(TimeoutError):
        AsyncResult("never-held-by-the-scheduler").get(timeout=0.5)
    again, again_results = scrape(scheduler), scrape(results)
    assert _moved(after, again, "motet_result_waits_total", outcome="answered") == 1
    assert _moved(after, again, "motet_result_waits_total", outcome="not_held") == 1
    assert _moved(after_results, again_results, "motet_result_requests_total", method="WaitResult") == 1


def test_the_worker_counts_what_it_ran(metrics: Any) -> None:
    workers = metrics.worker_metrics
    assert len(workers) == len(metrics.workers)
    before = scrape(workers)
    running = tracked_sleep.delay(1.5)
    deadline = time.monotonic() + T
    while running.state != "STARTED" and time.monotonic() < deadline:
        time.sleep(0.05)
    assert scrape(workers)[("motet_worker_tasks_in_flight", frozenset())] == 1
    assert [r.get(timeout=T) for r in [add.delay(i, i) for i in range(5)]] == [2 * i for i in range(5)]
    with pytest.raises(RuntimeError, match="fail"):
        fail.delay().get(timeout=T)
    running.get(timeout=T)
    after = scrape(workers)
    assert _moved(before, after, "motet_worker_tasks_executed_total", state="SUCCESS") == 6
    assert _moved(before, after, "motet_worker_tasks_executed_total", state="FAILURE") == 1
    assert _moved(before, after, "motet_worker_task_run_seconds_count") == 7
    assert _moved(before, after, "motet_worker_task_run_seconds_sum") >= 1.5
    assert after[("motet_worker_tasks_in_flight", frozenset())] == 0


def test_a_task_revoked_while_running_is_completed_once_as_revoked(metrics: Any) -> None:
    scheduler, workers = [metrics.scheduler_metrics], metrics.worker_metrics
    before, before_workers = scrape(scheduler), scrape(workers)
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
    after, after_workers = scrape(scheduler), scrape(workers)
    submitted = _total(after, "motet_tasks_submitted_total") - _total(before, "motet_tasks_submitted_total")
    completed = _total(after, "motet_tasks_completed_total") - _total(before, "motet_tasks_completed_total")
    assert submitted == 5
    assert completed == submitted
    assert _moved(before, after, "motet_tasks_completed_total", state="REVOKED") == 1
    assert _moved(before, after, "motet_tasks_completed_total", state="SUCCESS") == 4
    assert _moved(before_workers, after_workers, "motet_worker_tasks_executed_total", state="REVOKED") == 1


def _until(check: Any, what: str, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, what
        time.sleep(0.2)


def test_the_operator_series_move_with_the_work(metrics: Any) -> None:
    from examples.guide.tasks import tsum
    from motet import chord

    scheduler = metrics.scheduler_metrics
    before = scrape(scheduler)
    assert chord(add.s(i, i) for i in range(5))(tsum.s()).get(timeout=T) == 20
    after = scrape(scheduler)

    def moved(name: str, **labels: str) -> float:
        return total(after, name, **labels) - total(before, name, **labels)

    assert moved("motet_tasks_submitted_total", queue="celery", task="examples.guide.tasks.add") == 5
    assert moved("motet_tasks_submitted_total", queue="celery", task="examples.guide.tasks.tsum") == 1
    assert moved("motet_task_transitions_total", to="DISPATCHED") >= 6
    assert moved("motet_task_transitions_total", to="SUCCESS") >= 6
    assert moved("motet_task_run_seconds_count", task="examples.guide.tasks.add") >= 5
    assert moved("motet_task_queue_wait_seconds_count") >= 6
    assert moved("motet_canvas_end_to_end_seconds_count", kind="chord") == 1
    assert moved("motet_chord_join_seconds_count") >= 1
    assert moved("motet_etcd_txn_seconds_count", op="submit") >= 1
    assert moved("motet_etcd_txn_seconds_count") >= moved("motet_etcd_txn_seconds_count", op="submit") + 1
    assert moved("grpc_server_handled_total", grpc_method="SubmitCanvas", grpc_code="OK") >= 1
    assert moved("grpc_server_started_total", grpc_service="motet.v1.WorkerService") == 0  # no new worker
    # Worker slots: every connected worker's concurrency, free or busy.
    slots = total(after, "motet_worker_slots", state="free") + total(after, "motet_worker_slots", state="busy")
    assert slots >= metrics.concurrency


def test_a_canvas_that_fails_upstream_still_ends_its_end_to_end_clock(metrics: Any) -> None:
    from motet import chain

    before = scrape(metrics.scheduler_metrics)
    failing = chain(fail.s(), add.s(1), add.s(2))()  # the last step's result is failed downstream
    with pytest.raises(RuntimeError):
        failing.get(timeout=T)
    after = scrape(metrics.scheduler_metrics)
    name = "motet_canvas_end_to_end_seconds_count"
    assert total(after, name, kind="chain") - total(before, name, kind="chain") == 1


def test_queue_gauges_show_delayed_and_waiting_tasks(metrics: Any) -> None:
    scheduler = metrics.scheduler_metrics
    later = add.apply_async((1, 1), countdown=4)
    nobody = add.apply_async((2, 2), queue="metrics-nobody")
    try:
        _until(
            lambda: total(scrape(scheduler), "motet_queue_depth", queue="celery", state="delayed") >= 1,
            "a task with a countdown never showed as delayed",
        )
        _until(
            lambda: (
                total(scrape(scheduler), "motet_queue_depth", queue="metrics-nobody", state="ready") == 1
                and total(scrape(scheduler), "motet_queue_oldest_ready_age_seconds", queue="metrics-nobody") >= 1
            ),
            "a task nobody serves never showed as ready and ageing",
        )
        assert later.get(timeout=T) == 2
    finally:
        nobody.revoke()
    _until(
        lambda: total(scrape(scheduler), "motet_queue_depth", queue="metrics-nobody", state="ready") == 0,
        "a revoked task still counted as ready",
    )


def test_refused_payloads_and_calls_are_counted_by_code(metrics: Any) -> None:
    import grpc

    from motet.v1 import canvas_pb2, common_pb2, scheduler_pb2, scheduler_pb2_grpc

    scheduler = metrics.scheduler_metrics
    before = scrape(scheduler)
    bad = [
        common_pb2.Payload(encoding="json", data=b"[" * 10),  # not JSON
        common_pb2.Payload(encoding="json", data=b'"x' + b"x" * (2 << 20) + b'"'),  # over the 1 MiB limit
    ]
    with grpc.insecure_channel(metrics.scheduler, options=[("grpc.max_send_message_length", 8 << 20)]) as ch:
        stub = scheduler_pb2_grpc.SchedulerServiceStub(ch)
        for payload in bad:
            canvas = canvas_pb2.Canvas(signature=canvas_pb2.Signature(task="examples.guide.tasks.add", args=payload))
            with pytest.raises(grpc.RpcError):
                stub.SubmitCanvas(scheduler_pb2.SubmitCanvasRequest(canvas=canvas), timeout=T)
    after = scrape(scheduler)
    assert total(after, "motet_payload_rejected_total") - total(before, "motet_payload_rejected_total") == 2
    for code in ("INVALID_ARGUMENT", "RESOURCE_EXHAUSTED"):
        handled = ("grpc_server_handled_total",)
        assert (
            total(after, *handled, grpc_method="SubmitCanvas", grpc_code=code)
            - total(before, *handled, grpc_method="SubmitCanvas", grpc_code=code)
            == 1
        ), code
