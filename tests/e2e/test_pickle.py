"""Pickle, for Python-only deployments that opt in on every side: the app's serializers and
accept_content, and the scheduler's --accept-content json,pickle. Then values JSON cannot carry
run through chains, chords and keyword arguments as themselves; anyone who did not opt in
refuses them with a clear error (the scheduler at submission, a worker before running the
task, a client when reading the result), and the scheduler never unpickles anything."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator

import grpc
import pytest

from motet import App, AsyncResult, chord, payload
from motet.exceptions import CanvasError, ContentDisallowed, EncodeError
from motet.v1 import common_pb2, scheduler_pb2, scheduler_pb2_grpc, worker_pb2
from motet_server.devcluster import DevCluster, ServiceProcess
from tests.e2e.pickle_tasks import Point, describe, shift, total
from tests.support.canvases import sig
from tests.support.processes import process_env
from tests.support.raw_worker import RawWorker

T = 30


@pytest.fixture(scope="module")
def opted_in_cluster() -> Iterator[DevCluster]:
    env = {"MOTET_ACCEPT_CONTENT": "json,pickle"}
    with DevCluster(app="tests.e2e.pickle_tasks", workers=1, concurrency=4, env=env) as cluster:
        refusing = ServiceProcess(
            "json-worker",
            [sys.executable, "-m", "motet_server", "worker", "--app", "tests.e2e.pickle_refusing_tasks",
             "--scheduler", cluster.scheduler, "--queues", "json-only"],
            cluster.log_path("json-worker"),
            {**cluster.env, "MOTET_SCHEDULER": cluster.scheduler, "MOTET_RESULTS": cluster.results},
            "motet worker ready",
        ).start()  # fmt: skip
        try:
            yield cluster
        finally:
            refusing.stop()


@pytest.fixture
def opted_in(opted_in_cluster: DevCluster, monkeypatch: pytest.MonkeyPatch) -> DevCluster:
    """The opted-in cluster, which this test's SDK calls reach (the suite's cluster otherwise)."""
    monkeypatch.setenv("MOTET_SCHEDULER", opted_in_cluster.scheduler)
    monkeypatch.setenv("MOTET_RESULTS", opted_in_cluster.results)
    return opted_in_cluster


def test_values_json_cannot_carry_run_through_a_chain_and_a_chord(opted_in: DevCluster) -> None:
    assert (shift.s(Point(1, 2), 1) | shift.s(2)).apply_async().get(timeout=T) == Point(4, 2)
    header = [shift.s(Point(i, i), 1) for i in range(3)]
    assert chord(header, total.s())().get(timeout=T) == Point(6, 3)
    kind, tags = describe.delay((1, 2), tags={"a", "b"}).get(timeout=T)
    assert (kind, tags) == ("tuple", {"a", "b"})


def test_maps_and_chunks_of_pickled_items_run_each(opted_in: DevCluster) -> None:
    assert describe.map([Point(0, 0), Point(1, 1)]).apply_async().get(timeout=T) == [("Point", None)] * 2
    points = [(Point(i, 0), i) for i in range(4)]
    assert shift.starmap(points).apply_async().get(timeout=T) == [Point(2 * i, 0) for i in range(4)]
    assert shift.chunks(points, 3).group().apply_async().get(timeout=T) == [
        [Point(0, 0), Point(2, 0), Point(4, 0)],
        [Point(6, 0)],
    ]


def test_a_worker_that_did_not_opt_in_refuses_pickled_arguments(opted_in: DevCluster) -> None:
    result = shift.s(Point(1, 2), 1).set(queue="json-only").apply_async()
    with pytest.raises(ContentDisallowed, match="does not accept pickle"):
        result.get(timeout=T)


def test_a_client_that_did_not_opt_in_refuses_a_pickled_result(opted_in: DevCluster) -> None:
    done = shift.delay(Point(1, 2), 1)
    assert done.get(timeout=T) == Point(2, 2)
    json_only = App("pickled", set_as_current=False)  # Celery's defaults: accept_content = ["json"]
    with pytest.raises(ContentDisallowed, match="does not accept pickle"):
        AsyncResult(done.id, app=json_only).get(timeout=T)


def test_a_scheduler_that_did_not_opt_in_refuses_pickled_arguments(cluster: DevCluster) -> None:
    from tests.e2e.tasks import identity

    with pytest.raises(CanvasError, match=r"pickled values.*--accept-content json,pickle"):
        identity.s(Point(1, 2)).set(serializer="pickle").apply_async()


def test_a_scheduler_that_did_not_opt_in_fails_a_task_whose_result_is_pickled(cluster: DevCluster) -> None:
    """A worker of another deployment reporting a pickled result to a json-only scheduler: the
    task fails with EncodeError naming why, and nothing downstream receives the value."""
    canvas = sig("pickle.raw", queue="raw-pickle")
    with grpc.insecure_channel(cluster.scheduler) as ch:
        scheduler_pb2_grpc.SchedulerServiceStub(ch).SubmitCanvas(
            scheduler_pb2.SubmitCanvasRequest(canvas=canvas), timeout=30
        )
    pickled = json.loads(payload.encode({1}, serializer=payload.PICKLE).data)
    with RawWorker(cluster.scheduler, ["pickle.raw"], ["raw-pickle"]) as worker:
        worker.credit(1)
        (held,) = worker.assignments(expect=1)
        value = common_pb2.Payload(encoding="json", data=json.dumps(pickled).encode())
        done = worker_pb2.TaskSucceeded(task_id=held.task_id, delivery=held.delivery, value=value)
        worker.send(worker_pb2.ConnectRequest(succeeded=done))
        result = AsyncResult(held.task_id)
        with pytest.raises(EncodeError, match=r"result holds pickled values.*--accept-content json,pickle"):
            result.get(timeout=T)


def test_a_bad_accept_content_is_one_line() -> None:
    argv = [sys.executable, "-m", "motet", "scheduler", "--etcd", "127.0.0.1:1", "--accept-content", "json,yaml"]
    out = subprocess.run(argv, capture_output=True, text=True, env=process_env(), timeout=60)
    assert out.returncode != 0
    assert "--accept-content must be json or json,pickle (got 'json,yaml')" in out.stderr
    assert "Traceback" not in out.stdout + out.stderr
