"""The `motet` command: `motet dev` brings a whole cluster up and takes it all down."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

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


def _start_dev(argv: list[str], env: dict[str, str]) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "motet", "dev", *argv],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        env=env,
        text=True,
    )


def _ready_line(proc: subprocess.Popen[str]) -> str:
    """The `motet dev ready ...` line, once it is printed (within a minute)."""
    assert proc.stdout is not None
    line = ""
    deadline = time.time() + 60
    while "motet dev ready" not in line and time.time() < deadline:
        line = proc.stdout.readline()
        assert line or proc.poll() is None, "motet dev exited before it was ready"
    return line


def test_motet_dev_runs_a_cluster_and_stops_it_on_sigterm(tmp_path: object) -> None:
    scheduler, results = f"127.0.0.1:{free_port()}", f"127.0.0.1:{free_port()}"
    env = {**os.environ, "MOTET_SCHEDULER": scheduler, "MOTET_RESULTS": results}
    proc = _start_dev(["--app", "examples.guide.tasks", "--workers", "2"], env)
    try:
        line = _ready_line(proc)
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


APP_WITH_SHORT_RESULTS = """
from motet import App

app = App("short")
app.conf.result_expires = 2  # Celery's setting: seconds results are kept


@app.task(name="short.add")
def add(x, y):
    return x + y
"""


def test_motet_dev_takes_result_expires_from_the_apps_conf(tmp_path: Path) -> None:
    (tmp_path / "short_results_app.py").write_text(APP_WITH_SHORT_RESULTS)
    scheduler, results = f"127.0.0.1:{free_port()}", f"127.0.0.1:{free_port()}"
    env = {k: v for k, v in os.environ.items() if k != "MOTET_RESULT_EXPIRES"}
    env.update(MOTET_SCHEDULER=scheduler, MOTET_RESULTS=results, PYTHONPATH=f"{tmp_path}{os.pathsep}{os.getcwd()}")
    proc = _start_dev(["--app", "short_results_app"], env)
    try:
        _ready_line(proc)
        add = sig("short.add", 2, 3)
        scheduler_pb2_grpc.SchedulerServiceStub(grpc.insecure_channel(scheduler)).SubmitCanvas(
            scheduler_pb2.SubmitCanvasRequest(canvas=add), timeout=30
        )
        stub = results_pb2_grpc.ResultsServiceStub(grpc.insecure_channel(results))
        task_id = add.signature.options.task_id
        stream = stub.WaitResult(results_pb2.WaitResultRequest(task_ids=[task_id]), timeout=30)
        assert next(iter(stream)).result.value.data == b"5"
        # The result's lease runs out after ~2 s (rotation at most 1 s later): it reads PENDING again.
        deadline = time.time() + 15
        while stub.GetResult(results_pb2.GetResultRequest(task_id=task_id), timeout=10).result.value.data:
            assert time.time() < deadline, "the result outlived app.conf.result_expires"
            time.sleep(0.25)
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=60)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
            proc.stdout.close()
