"""Caps a worker cannot exceed, against a real scheduler: however often a worker announces
credit, and however many reports it sends for tasks it was never given, it holds at most the
scheduler's --max-worker-credit tasks unreported; a hello may declare at most 10,000 names."""

from __future__ import annotations

import json
import subprocess
import sys
import uuid
from collections.abc import Iterator

import grpc
import pytest

from motet.v1 import common_pb2, scheduler_pb2, scheduler_pb2_grpc, worker_pb2
from motet_server.config import MAX_TASK_NAMES
from motet_server.devcluster import DevCluster
from tests.support.canvases import group, sig
from tests.support.processes import process_env
from tests.support.raw_worker import RawWorker
from tests.support.rpc_errors import reason

CAP = 5


@pytest.fixture(scope="module")
def capped() -> Iterator[DevCluster]:
    # No worker of its own: the only worker is the test's raw stream.
    with DevCluster(app="examples.guide.tasks", workers=0, env={"MOTET_MAX_WORKER_CREDIT": str(CAP)}) as cluster:
        yield cluster


def _submit(cluster: DevCluster, canvas: object) -> None:
    with grpc.insecure_channel(cluster.scheduler) as ch:
        scheduler_pb2_grpc.SchedulerServiceStub(ch).SubmitCanvas(
            scheduler_pb2.SubmitCanvasRequest(canvas=canvas), timeout=30
        )


def test_a_worker_holds_at_most_its_cap_however_it_asks(capped: DevCluster) -> None:
    _submit(capped, group(*(sig("caps.t", i, queue="caps") for i in range(40))))
    with RawWorker(capped.scheduler, ["caps.t"], ["caps"]) as worker:
        worker.credit(CAP)
        held = worker.assignments(expect=CAP)
        assert len(held) == CAP
        # Asking again, and for far more, gives nothing while the cap's tasks are unreported.
        worker.credit(CAP)
        worker.credit(2**31 - 1)
        # Neither do reports for tasks this session was never sent.
        for _ in range(50):
            bogus = worker_pb2.TaskSucceeded(task_id=str(uuid.uuid4()), delivery=1)
            worker.send(worker_pb2.ConnectRequest(succeeded=bogus))
        assert worker.assignments() == []
        # A report of a task it holds frees one place, and one task comes.
        done = worker_pb2.TaskSucceeded(
            task_id=held[0].task_id,
            delivery=held[0].delivery,
            value=common_pb2.Payload(encoding="json", data=json.dumps(0).encode()),
        )
        worker.send(worker_pb2.ConnectRequest(succeeded=done))
        assert len(worker.assignments(expect=1)) == 1


def test_a_hello_with_too_many_task_names_is_refused(capped: DevCluster) -> None:
    names = [f"caps.t{i}" for i in range(MAX_TASK_NAMES + 1)]
    with RawWorker(capped.scheduler, names, ["caps"]) as worker, pytest.raises(grpc.RpcError) as refused:
        worker.assignments()
    assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert reason(refused.value) == "INVALID_REQUEST"
    assert f"at most {MAX_TASK_NAMES} task names" in (refused.value.details() or "")


def test_a_bad_max_worker_credit_is_one_line() -> None:
    argv = [sys.executable, "-m", "motet", "scheduler", "--etcd", "127.0.0.1:1", "--max-worker-credit", "0"]
    out = subprocess.run(argv, capture_output=True, text=True, env=process_env(), timeout=60)
    assert out.returncode != 0
    assert "--max-worker-credit must be at least 1 (got 0)" in out.stdout + out.stderr
    assert "Traceback" not in out.stdout + out.stderr
