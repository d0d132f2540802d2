"""The `motet` command: `motet dev` brings a whole cluster up and takes it all down."""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from importlib import metadata
from pathlib import Path

import grpc
import pytest

from motet.v1 import common_pb2, results_pb2, results_pb2_grpc, scheduler_pb2, scheduler_pb2_grpc
from motet_server.ports import free_port
from motet_server.store.etcd_process import EtcdProcess
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


@contextlib.contextmanager
def _running_dev(argv: list[str], env: dict[str, str]) -> Iterator[subprocess.Popen[str]]:
    """`motet dev` started and ready; stopped with SIGTERM (killed after a minute) on the way out."""
    proc = _start_dev(argv, env)
    try:
        _ready_line(proc)
        yield proc
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=60)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
            assert proc.stdout is not None
            proc.stdout.close()


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


def test_motet_dev_ignores_a_secured_deployments_variables_in_its_shell() -> None:
    """One command, no setup: a shell that exports a production's TLS, token and etcd settings
    still gets a plaintext loopback cluster (its services used to read them and fail)."""
    scheduler, results = f"127.0.0.1:{free_port()}", f"127.0.0.1:{free_port()}"
    env = {**os.environ, "MOTET_SCHEDULER": scheduler, "MOTET_RESULTS": results}
    env.update(MOTET_TOKENS="/nonexistent/tokens.json", MOTET_TLS_CLIENT_CA="/nonexistent/ca.pem")
    env.update(MOTET_ETCD_CA="/nonexistent/etcd-ca.pem", MOTET_ETCD_USER="root")
    with _running_dev(["--app", "examples.guide.tasks", "--workers", "1"], env):
        add = sig("examples.guide.tasks.add", 2, 3)
        scheduler_pb2_grpc.SchedulerServiceStub(grpc.insecure_channel(scheduler)).SubmitCanvas(
            scheduler_pb2.SubmitCanvasRequest(canvas=add), timeout=30
        )
        stub = results_pb2_grpc.ResultsServiceStub(grpc.insecure_channel(results))
        request = results_pb2.WaitResultRequest(task_ids=[add.signature.options.task_id])
        assert next(iter(stub.WaitResult(request, timeout=30))).result.value.data == b"5"


def test_motet_dev_accepts_pickle_when_its_app_does(monkeypatch: pytest.MonkeyPatch) -> None:
    from tests.e2e.pickle_tasks import Point, shift

    scheduler, results = f"127.0.0.1:{free_port()}", f"127.0.0.1:{free_port()}"
    env = {k: v for k, v in os.environ.items() if k != "MOTET_ACCEPT_CONTENT"}
    env.update(MOTET_SCHEDULER=scheduler, MOTET_RESULTS=results)
    with _running_dev(["--app", "tests.e2e.pickle_tasks", "--workers", "1"], env):
        monkeypatch.setenv("MOTET_SCHEDULER", scheduler)
        monkeypatch.setenv("MOTET_RESULTS", results)
        assert (shift.s(Point(1, 1), 1) | shift.s(1)).apply_async().get(timeout=30) == Point(3, 1)


def test_motet_dev_takes_result_expires_from_the_apps_conf(tmp_path: Path) -> None:
    (tmp_path / "short_results_app.py").write_text(APP_WITH_SHORT_RESULTS)
    scheduler, results = f"127.0.0.1:{free_port()}", f"127.0.0.1:{free_port()}"
    env = {k: v for k, v in os.environ.items() if k != "MOTET_RESULT_EXPIRES"}
    env.update(MOTET_SCHEDULER=scheduler, MOTET_RESULTS=results, PYTHONPATH=f"{tmp_path}{os.pathsep}{os.getcwd()}")
    with _running_dev(["--app", "short_results_app"], env):
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


# -- a developer's first hour: flags, logs, startup failures, help, the README --------------------

ROOT = Path(__file__).resolve().parents[2]
BOUND = 60.0  # seconds any `motet` command here gets to be ready or to fail


def _motet(*argv: str, env: dict[str, str] | None = None, timeout: float = BOUND) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "motet", *argv], capture_output=True, text=True, env=env, timeout=timeout
    )


def _one_line_error(result: subprocess.CompletedProcess[str]) -> str:
    """The single line a failed command printed on stderr (no traceback, nothing else)."""
    assert result.returncode != 0, result
    assert "Traceback" not in result.stderr + result.stdout, result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    return lines[0]


class _Dev:
    """A `motet dev` process whose output is collected, line by line, as it comes."""

    def __init__(self, argv: list[str], env: dict[str, str]) -> None:
        self.proc = _start_dev(argv, env)
        self.lines: list[str] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.append(line.rstrip("\n"))

    def wait_for(self, text: str, timeout: float = BOUND) -> str:
        deadline = time.time() + timeout
        while time.time() < deadline:
            for line in list(self.lines):
                if text in line:
                    return line
            assert self.proc.poll() is None or self._reader.is_alive(), "\n".join(self.lines)
            time.sleep(0.05)
        raise AssertionError(f"no line with {text!r} within {timeout} s:\n" + "\n".join(self.lines))

    def stop(self) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout=60)
        finally:
            if self.proc.poll() is None:
                self.proc.kill()
                self.proc.wait()
            self._reader.join(timeout=5)
            assert self.proc.stdout is not None
            self.proc.stdout.close()


def _cluster_env(**extra: str) -> tuple[dict[str, str], str, str]:
    scheduler, results = f"127.0.0.1:{free_port()}", f"127.0.0.1:{free_port()}"
    env = {**os.environ, "MOTET_SCHEDULER": scheduler, "MOTET_RESULTS": results, **extra}
    env.pop("MOTET_LOG_LEVEL", None)
    return env, scheduler, results


@pytest.fixture(scope="module")
def dev() -> Iterator[tuple[_Dev, str, str]]:
    """`motet dev` with every flag a developer tunes set away from its default."""
    env, scheduler, results = _cluster_env()
    flags = ["--app", "examples.guide.tasks", "--prefetch", "7", "--grace", "3", "--log-level", "info"]
    cluster = _Dev(flags, env)
    try:
        cluster.wait_for("motet dev ready")
        yield cluster, scheduler, results
    finally:
        cluster.stop()


def _cmdlines(pid: int) -> list[list[str]]:
    out = []
    for child in _children(pid):
        with open(f"/proc/{child}/cmdline", "rb") as fh:
            out.append(fh.read().decode().split("\0"))
    return out


def _flag_value(argv: list[str], flag: str) -> str:
    assert flag in argv, argv
    return argv[argv.index(flag) + 1]


def test_motet_dev_passes_prefetch_grace_and_log_level_to_every_service(dev: tuple[_Dev, str, str]) -> None:
    cluster, _, _ = dev
    services = [argv for argv in _cmdlines(cluster.proc.pid) if "motet_server" in argv]
    kinds = sorted(argv[argv.index("motet_server") + 1] for argv in services)
    assert kinds == ["results", "scheduler", "worker"]
    for argv in services:
        assert _flag_value(argv, "--log-level") == "INFO"  # any case on the command line
        if "worker" in argv:
            assert _flag_value(argv, "--prefetch") == "7"
            assert float(_flag_value(argv, "--grace")) == 3.0
    # The services really log at INFO: the worker's session says so (an INFO line).
    cluster.wait_for(" INFO ")


def test_motet_dev_ready_line_names_endpoints_metrics_and_logs(dev: tuple[_Dev, str, str]) -> None:
    cluster, scheduler, results = dev
    line = cluster.wait_for("motet dev ready")
    fields = dict(part.split("=", 1) for part in line.split()[3:])
    assert fields["scheduler"] == scheduler and fields["results"] == results and "etcd" in fields
    metrics = dict(part.split(":", 1) for part in fields["metrics"].split(","))
    assert set(metrics) == {"scheduler", "results"}
    for endpoint in metrics.values():
        host, port = endpoint.rsplit(":", 1)
        socket.create_connection((host, int(port)), timeout=5).close()
    assert Path(fields["logs"], "scheduler.log").exists()


def test_motet_dev_shows_each_services_log_prefixed_by_its_name(dev: tuple[_Dev, str, str]) -> None:
    cluster, scheduler, _ = dev
    cluster.wait_for(f"scheduler | motet scheduler listening on {scheduler}")
    cluster.wait_for("results   | motet results listening")
    cluster.wait_for("worker-0  | motet worker ready")


def test_motet_dev_quiet_hides_the_services_logs() -> None:
    env, _, _ = _cluster_env()
    cluster = _Dev(["--app", "examples.guide.tasks", "--quiet"], env)
    try:
        cluster.wait_for("motet dev ready")
        time.sleep(0.5)
        assert [line for line in cluster.lines if " | " in line] == []
    finally:
        assert cluster.stop() == 0


def test_log_level_is_checked_with_a_one_line_error() -> None:
    bogus = _motet("worker", "--app", "examples.guide.tasks", "--log-level", "bogus")
    assert "invalid choice: 'BOGUS'" in bogus.stderr.splitlines()[-1] and "Traceback" not in bogus.stderr
    env = {**os.environ, "MOTET_LOG_LEVEL": "loud"}
    from_env = _motet("worker", "--app", "examples.guide.tasks", env=env)
    assert from_env.returncode == 2 and "Traceback" not in from_env.stderr
    assert "MOTET_LOG_LEVEL must be one of DEBUG, INFO" in from_env.stderr.splitlines()[-1]


def test_a_bad_motet_variable_is_a_one_line_error_naming_the_flag() -> None:
    result = _motet("worker", "--app", "examples.guide.tasks", env={**os.environ, "MOTET_PREFETCH": "many"})
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert result.stderr.splitlines()[-1] == "motet worker: error: argument --prefetch: invalid int value: 'many'"
    result = _motet("worker", "--app", "examples.guide.tasks", env={**os.environ, "MOTET_POOL": "fibers"})
    assert result.returncode == 2 and "MOTET_POOL must be one of threads, processes" in result.stderr


def test_motet_dev_keeps_the_logs_of_a_service_that_fails_and_says_why() -> None:
    with socket.create_server(("127.0.0.1", 0)) as taken:
        port = taken.getsockname()[1]
        env, _, _ = _cluster_env(MOTET_SCHEDULER=f"127.0.0.1:{port}")
        result = subprocess.run(
            [sys.executable, "-m", "motet", "dev", "--app", "examples.guide.tasks", "--quiet"],
            capture_output=True,
            text=True,
            env=env,
            timeout=BOUND,
        )
    line = _one_line_error(result)
    assert f"cannot listen on 127.0.0.1:{port}: address already in use" in line
    log = Path(line.rsplit("(log ", 1)[1].rstrip(")"))
    assert f"cannot listen on 127.0.0.1:{port}" in log.read_text()
    shutil.rmtree(log.parent)


def test_motet_dev_keeps_the_logs_of_an_etcd_that_fails_and_says_why(tmp_path: Path) -> None:
    fake = tmp_path / "etcd"
    fake.write_text("#!/bin/sh\necho 'etcd: bad flag' >&2\nexit 3\n")
    fake.chmod(0o755)
    env, _, _ = _cluster_env(MOTET_ETCD_BIN=str(fake))
    line = _one_line_error(_motet("dev", "--app", "examples.guide.tasks", "--quiet", env=env))
    assert line.startswith("motet dev: etcd did not start: etcd exited with code 3 at start (log ")
    log = Path(line.rsplit("(log ", 1)[1].rstrip(")"))
    assert "etcd: bad flag" in log.read_text()
    shutil.rmtree(log.parent.parent)
    missing = _one_line_error(_motet("dev", "--app", "examples.guide.tasks", env={**env, "MOTET_ETCD_BIN": "/nowhere"}))
    assert missing == "motet dev: MOTET_ETCD_BIN='/nowhere' is not an executable file"


def test_a_service_that_cannot_reach_etcd_says_where_in_one_line() -> None:
    etcd = f"127.0.0.1:{free_port()}"
    line = _one_line_error(_motet("scheduler", "--listen", f"127.0.0.1:{free_port()}", "--etcd", etcd))
    assert line.startswith(f"motet scheduler: cannot reach etcd at {etcd}")


def test_a_port_in_use_is_one_line_naming_the_address() -> None:
    with EtcdProcess() as etcd, socket.create_server(("127.0.0.1", 0)) as taken:
        address = f"127.0.0.1:{taken.getsockname()[1]}"
        grpc_line = _one_line_error(_motet("scheduler", "--listen", address, "--etcd", etcd.endpoint))
        assert grpc_line == f"motet scheduler: cannot listen on {address}: address already in use"
        listen = f"127.0.0.1:{free_port()}"
        metrics_line = _one_line_error(
            _motet("results", "--listen", listen, "--metrics", address, "--etcd", etcd.endpoint)
        )
        assert metrics_line == f"motet results: cannot listen on {address} (metrics): address already in use"


def test_an_app_module_that_cannot_be_imported_is_one_line_with_the_import_error() -> None:
    for command in ("worker", "dev"):
        line = _one_line_error(_motet(command, "--app", "no_such_tasks_module"))
        assert line == (
            f"motet {command}: cannot import --app module 'no_such_tasks_module': "
            "ModuleNotFoundError: No module named 'no_such_tasks_module'"
        )


def test_a_worker_that_cannot_reach_its_scheduler_says_so_once() -> None:
    scheduler = f"127.0.0.1:{free_port()}"
    proc = subprocess.Popen(
        [sys.executable, "-m", "motet", "worker", "--app", "examples.guide.tasks", "--scheduler", scheduler],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        time.sleep(6)  # several retries (the backoff tops out at 2 s)
    finally:
        proc.send_signal(signal.SIGTERM)
        out, _ = proc.communicate(timeout=30)
    lines = [line for line in out.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].endswith(f"cannot reach the scheduler at {scheduler} (UNAVAILABLE); retrying")


COMMANDS = ("scheduler", "results", "worker", "dev")


def _help_options(command: str) -> dict[str, str]:
    """Each --flag of `motet COMMAND --help` -> its help text (joined across wrapped lines)."""
    text = _motet(command, "--help").stdout.split("options:", 1)[1]
    options: dict[str, str] = {}
    current = ""
    for line in text.splitlines():
        match = re.match(r"\s{2}(--[a-z-]+)", line)
        if match:
            current = match.group(1)
            options[current] = line[match.end() :]
        elif current and line.strip():
            options[current] += " " + line.strip()
    return {flag: " ".join(help_text.split()) for flag, help_text in options.items() if flag != "--help"}


def test_help_shows_every_flags_default_and_environment_variable() -> None:
    for command in COMMANDS:
        for flag, text in _help_options(command).items():
            variable = "MOTET_" + flag[2:].replace("-", "_").upper()
            assert re.search(rf"\((default: [^,]+|required), env {variable}\)", text), (command, flag, text)
    assert "(default: 127.0.0.1:7410, env MOTET_LISTEN)" in _help_options("scheduler")["--listen"]


def test_version_is_the_installed_distributions() -> None:
    result = _motet("--version")
    assert result.returncode == 0 and result.stdout.strip() == f"motet {metadata.version('motet')}"


def test_the_readme_mentions_every_flag_of_motet_dev_and_motet_worker() -> None:
    readme = (ROOT / "README.md").read_text()
    for command in ("dev", "worker"):
        missing = [flag for flag in _help_options(command) if f"`{flag}`" not in readme]
        assert missing == [], f"README.md does not mention motet {command} {missing}"


def _readme_snippet() -> str:
    readme = (ROOT / "README.md").read_text()
    section = readme.split("## Using it", 1)[1]
    return section.split("```python\n", 1)[1].split("```", 1)[0]


def test_the_readme_snippet_served_by_motet_dev_becomes_ready_and_runs(tmp_path: Path) -> None:
    (tmp_path / "proj.py").write_text(_readme_snippet())
    env, _, _ = _cluster_env(PYTHONPATH=f"{tmp_path}{os.pathsep}{ROOT}")
    cluster = _Dev(["--app", "proj", "--quiet"], env)
    try:
        cluster.wait_for("motet dev ready", timeout=BOUND)
        run = subprocess.run(
            [sys.executable, "proj.py"], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=BOUND
        )
        assert run.stdout.strip() == "9900", run.stderr
    finally:
        assert cluster.stop() == 0


def test_a_module_that_waits_for_a_result_at_import_is_refused_not_hung(
    tmp_path: Path, dev: tuple[_Dev, str, str]
) -> None:
    # The README snippet as a developer first copies it: the call at top level, no guard.
    unguarded = _readme_snippet().replace('if __name__ == "__main__":', "if True:")
    (tmp_path / "unguarded.py").write_text(unguarded)
    _, scheduler, results = dev
    env = {**os.environ, "MOTET_SCHEDULER": scheduler, "MOTET_RESULTS": results}
    env["PYTHONPATH"] = f"{tmp_path}{os.pathsep}{ROOT}"
    # The worker's import can send the chord (the scheduler is there) but must not wait for it.
    worker = _one_line_error(_motet("worker", "--app", "unguarded", "--scheduler", scheduler, env=env))
    assert worker.startswith("motet worker: --app module 'unguarded' waits for a result when it is imported")
    assert 'if __name__ == "__main__":' in worker
    # `motet dev` imports it before its scheduler runs: the send fails, clearly, at once.
    env_dev, _, _ = _cluster_env(PYTHONPATH=env["PYTHONPATH"])
    line = _one_line_error(_motet("dev", "--app", "unguarded", env=env_dev))
    assert line.startswith("motet dev: --app module 'unguarded' sends work when it is imported")


def test_motet_dev_lets_a_stopping_worker_finish_within_its_grace() -> None:
    # 12 s is past the 10 s a service gets before SIGKILL, and well within --grace 25.
    env, scheduler, results = _cluster_env()
    cluster = _Dev(["--app", "tests.e2e.tasks", "--grace", "25", "--quiet"], env)
    try:
        cluster.wait_for("motet dev ready")
        task = sig("tests.e2e.tasks.tracked_sleep", 12)
        scheduler_pb2_grpc.SchedulerServiceStub(grpc.insecure_channel(scheduler)).SubmitCanvas(
            scheduler_pb2.SubmitCanvasRequest(canvas=task), timeout=30
        )
        stub = results_pb2_grpc.ResultsServiceStub(grpc.insecure_channel(results))
        task_id = task.signature.options.task_id
        deadline = time.time() + 30
        while stub.GetResult(results_pb2.GetResultRequest(task_id=task_id), timeout=10).result.state not in (
            common_pb2.TASK_STATE_STARTED,
        ):
            assert time.time() < deadline, "the task never started"
            time.sleep(0.1)
        stream = stub.WaitResult(results_pb2.WaitResultRequest(task_ids=[task_id]), timeout=60)
        cluster.proc.send_signal(signal.SIGTERM)
        assert next(iter(stream)).result.value.data == b"12"
    finally:
        assert cluster.stop() == 0
