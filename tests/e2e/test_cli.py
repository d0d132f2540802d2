"""The `motet` command: `motet dev` brings a whole cluster up and takes it all down."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import grpc

from motet.v1 import results_pb2, results_pb2_grpc, scheduler_pb2, scheduler_pb2_grpc
from motet_server.ports import free_port
from tests.support.canvases import sig


def _children(pid: int) -> list[int]:
    out = subprocess.run(["ps", "-o", "pid=", "--ppid", str(pid)], capture_output=True, text=True).stdout
    return [int(p) for p in out.split()]


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().split()[2] != "Z"  # a zombie has exited
    except FileNotFoundError:
        return False


def test_motet_dev_runs_a_cluster_and_stops_it_on_sigterm(tmp_path: object) -> None:
    scheduler, results = f"127.0.0.1:{free_port()}", f"127.0.0.1:{free_port()}"
    env = {**os.environ, "MOTET_SCHEDULER": scheduler, "MOTET_RESULTS": results}
    proc = subprocess.Popen(
        [sys.executable, "-m", "motet", "dev", "--app", "examples.guide.tasks", "--workers", "2"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        env=env,
        text=True,
    )
    try:
        line = ""
        deadline = time.time() + 60
        while "motet dev ready" not in line and time.time() < deadline:
            line = proc.stdout.readline()
            assert line or proc.poll() is None, "motet dev exited before it was ready"
        assert f"scheduler={scheduler}" in line and f"results={results}" in line and "workers=2" in line
        children = _children(proc.pid)
        assert len(children) >= 5  # etcd, scheduler, results, two workers
        add = sig("examples.guide.tasks.add", 2, 3)
        scheduler_pb2_grpc.SchedulerServiceStub(grpc.insecure_channel(scheduler)).SubmitCanvas(
            scheduler_pb2.SubmitCanvasRequest(canvas=add), timeout=30
        )
        stream = results_pb2_grpc.ResultsServiceStub(grpc.insecure_channel(results)).WaitResult(
            results_pb2.WaitResultRequest(task_ids=[add.signature.options.task_id]), timeout=30
        )
        assert next(iter(stream)).result.value.data == b"5"
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=60) == 0
        time.sleep(0.2)
        assert [pid for pid in children if _alive(pid)] == []
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        proc.stdout.close()
