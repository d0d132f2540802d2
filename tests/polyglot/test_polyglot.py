"""Python and JavaScript in one cluster: real services (`DevCluster`, a Python worker of
examples.guide.tasks) plus Node workers (`sdk/node/test/fixtures/tasks.js`, the Node SDK's
Worker) and Node clients (`fixtures/client.js`). Canvases cross languages both ways, errors keep
their type name and message across, retries and time limits of JavaScript tasks behave as
Python's, and a Node worker killed mid-task is redelivered like a Python one."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from motet import AsyncResult, chain, chord, signature
from motet.exceptions import RemoteError, TaskRevokedError, TimeLimitExceeded
from motet_server.devcluster import DevCluster, ServiceProcess
from tests.support.processes import ROOT, process_env

NODE_SDK = Path(ROOT) / "sdk" / "node"
FIXTURES = NODE_SDK / "test" / "fixtures"
T = 30


def _node() -> str:
    node = shutil.which("node")
    assert node, "Node.js is needed (make test installs it when missing)"
    assert (NODE_SDK / "node_modules" / "@grpc" / "grpc-js").is_dir(), "run `make node` (npm ci in sdk/node)"
    return node


def js(name: str, *args: Any, **options: Any) -> Any:
    return signature(f"js.{name}", args=args, **options)


@pytest.fixture(scope="module")
def polyglot(monkeypatch_module: pytest.MonkeyPatch) -> Iterator[dict[str, Any]]:
    node = _node()
    with DevCluster(app="examples.guide.tasks", ports="free", workers=1, concurrency=4) as cluster:
        monkeypatch_module.setenv("MOTET_SCHEDULER", cluster.scheduler)
        monkeypatch_module.setenv("MOTET_RESULTS", cluster.results)
        started: list[ServiceProcess] = []

        def node_worker(name: str, queues: str = "celery", **env: str) -> ServiceProcess:
            proc = ServiceProcess(
                name,
                [node, str(FIXTURES / "tasks.js")],
                cluster.dir / f"{name}.log",
                process_env(
                    MOTET_SCHEDULER=cluster.scheduler, MOTET_RESULTS=cluster.results, MOTET_QUEUES=queues, **env
                ),
                "motet worker ready",
            ).start()
            started.append(proc)
            return proc

        node_worker("node-0")
        try:
            yield {"cluster": cluster, "node": node, "node_worker": node_worker}
        finally:
            for proc in started:
                proc.stop()


@pytest.fixture(scope="module")
def monkeypatch_module() -> Iterator[pytest.MonkeyPatch]:
    with pytest.MonkeyPatch.context() as mp:
        yield mp


def _node_client(polyglot: dict[str, Any], scenario: str) -> dict[str, Any]:
    cluster = polyglot["cluster"]
    env = process_env(MOTET_SCHEDULER=cluster.scheduler, MOTET_RESULTS=cluster.results)
    done = subprocess.run(
        [polyglot["node"], str(FIXTURES / "client.js"), scenario], capture_output=True, text=True, env=env, timeout=60
    )
    assert done.returncode == 0, done.stderr
    return dict(json.loads(done.stdout.strip().splitlines()[-1]))


def test_a_python_task_feeds_a_js_task_feeds_a_python_chord_body(polyglot: dict[str, Any]) -> None:
    from examples.guide.tasks import add, tsum

    # 2 + 3 = 5 (Python) -> * 4 = 20 (JS) -> header [20 + 1 (Python), 20 + 100 (JS)] -> sum (Python)
    flow = chain(add.s(2, 3), js("multiply", 4), chord([add.s(1), js("add", 100)], tsum.s()))
    assert flow.apply_async().get(timeout=T) == 141


def test_a_js_client_submits_chords_whose_header_runs_in_both_languages(polyglot: dict[str, Any]) -> None:
    assert _node_client(polyglot, "mixed-chord") == {"value": 2 + 9 + 10 + 30}
    assert _node_client(polyglot, "mixed-chord-python-body") == {"value": 11}
    assert _node_client(polyglot, "js-python-js") == {"value": (42 + 8) * 2}
    assert _node_client(polyglot, "mixed-group") == {"value": [3, 7, 30]}


def test_a_js_error_surfaces_in_python_with_its_type_and_message(polyglot: dict[str, Any]) -> None:
    with pytest.raises(RemoteError) as caught:
        js("fail", "card declined").delay().get(timeout=T)
    assert caught.value.exc_type == "js.InsufficientFunds"
    assert caught.value.remote_message == "card declined"
    assert "tasks.js" in caught.value.remote_traceback  # the JS stack, from the task's own frame
    assert "lib/worker.js" not in caught.value.remote_traceback
    # A JS error that names a Python type is raised as that type.
    with pytest.raises(ValueError, match="bad input"):
        js("value_error", "bad input").delay().get(timeout=T)


def test_a_python_error_surfaces_in_js_with_its_type_and_message(polyglot: dict[str, Any]) -> None:
    got = _node_client(polyglot, "python-error")
    assert got == {
        "error": {"name": "TaskError", "excType": "builtins.RuntimeError", "message": "fail", "reason": None}
    }


def test_js_retries_and_time_limits_behave_as_pythons(polyglot: dict[str, Any]) -> None:
    assert js("retry_twice").delay().get(timeout=T) == 2  # retried twice with a countdown, then done
    flaky = js("always_flaky").delay()
    with pytest.raises(RemoteError, match="js.RangeError: flaky"):
        flaky.get(timeout=T)
    assert flaky.retries == 2  # autoretry_for, max_retries=2
    with pytest.raises(TimeLimitExceeded):
        js("limited", 5).delay().get(timeout=T)  # time_limit=0.5 s: reported at once


def test_a_js_retry_waits_its_countdown_on_the_wire(polyglot: dict[str, Any]) -> None:
    # The task retries once with countdown=1.5 and returns when each run started (the worker's
    # clock): the scheduler must hold the retried task back, not hand it out again at once.
    result = js("retry_after", 1.5).delay()
    runs = result.get(timeout=T)
    assert len(runs) == 2, f"one run, one retry: {runs}"
    gap = (runs[1] - runs[0]) / 1000
    assert 1.4 <= gap < 15, f"the retry ran {gap:.3f} s after the first run, countdown 1.5 s"
    assert result.retries == 1


def test_a_js_task_with_track_started_reads_started_while_it_runs(polyglot: dict[str, Any]) -> None:
    running = js("tracked_sleep", 1.5).delay()
    untracked = js("sleep", 1.5).delay()  # the same task without trackStarted, for contrast
    seen: list[str] = []
    untracked_seen: set[str] = set()
    deadline = time.monotonic() + T
    while not seen or seen[-1] != "SUCCESS":
        assert time.monotonic() < deadline, f"states read: {seen}"
        state = AsyncResult(running.id).state
        if not seen or seen[-1] != state:
            seen.append(state)
        untracked_seen.add(AsyncResult(untracked.id).state)
        time.sleep(0.05)
    assert seen[-2:] == ["STARTED", "SUCCESS"], f"states read, in order: {seen}"
    assert running.get(timeout=T) == 1.5
    assert untracked.get(timeout=T) == 1.5
    assert "STARTED" not in untracked_seen, untracked_seen


def test_a_js_task_sees_its_request(polyglot: dict[str, Any]) -> None:
    from examples.guide.tasks import add

    result = chain(add.s(1, 1), js("request"))()
    seen = result.get(timeout=T)
    assert seen["id"] == result.id and seen["retries"] == 0
    assert seen["rootId"] == result.parent.id and seen["parentId"] == result.parent.id


def test_revoking_a_running_js_task_with_terminate(polyglot: dict[str, Any]) -> None:
    running = js("sleep", 30).delay()
    deadline = time.monotonic() + T
    log = polyglot["cluster"].dir / "node-0.log"
    while f"js.sleep[{running.id}] received" not in log.read_text():
        assert time.monotonic() < deadline
        time.sleep(0.05)
    running.revoke(terminate=True)
    with pytest.raises(TaskRevokedError):
        running.get(timeout=10)


def _received_by(logs: list[Path], task_id: str) -> list[Path]:
    return [p for p in logs if p.exists() and f"[{task_id}] received" in p.read_text()]


@pytest.mark.slow
def test_a_node_worker_killed_mid_task_is_redelivered(polyglot: dict[str, Any]) -> None:
    names = ["node-kill-a", "node-kill-b"]
    procs = {name: polyglot["node_worker"](name, queues="js-kill") for name in names}
    logs = [polyglot["cluster"].dir / f"{n}.log" for n in names]
    result = js("sleep", 2, queue="js-kill").delay()
    deadline = time.monotonic() + T
    while not _received_by(logs, result.id):
        assert time.monotonic() < deadline, "no Node worker received the task"
        time.sleep(0.05)
    first = _received_by(logs, result.id)[0]
    victim = procs[first.stem]
    assert victim.pid is not None
    os.kill(victim.pid, signal.SIGKILL)  # mid-task: it sleeps 2 s
    assert result.get(timeout=T) == 2  # run again by the other worker
    assert len(_received_by(logs, result.id)) == 2
    assert AsyncResult(result.id).state == "SUCCESS"


@pytest.mark.slow
def test_sigterm_drains_a_node_worker(polyglot: dict[str, Any]) -> None:
    proc = polyglot["node_worker"]("node-drain", queues="js-drain")
    log = polyglot["cluster"].dir / "node-drain.log"
    result = js("sleep", 1.5, queue="js-drain").delay()
    deadline = time.monotonic() + T
    while f"[{result.id}] received" not in log.read_text():
        assert time.monotonic() < deadline
        time.sleep(0.05)
    assert proc.proc is not None
    proc.proc.send_signal(signal.SIGTERM)
    assert proc.proc.wait(timeout=T) == 0  # finished what it held, then exited
    assert result.get(timeout=5) == 1.5
    text = log.read_text()
    assert "draining: waiting for 1 task" in text and "drained: every task finished and reported" in text
