"""Bearer tokens with roles, against real processes (etcd, scheduler, results, a worker) started
with --tokens: no token or an unknown one is UNAUTHENTICATED, a token without the role, of another
namespace, or a worker token declaring tasks it may not serve is PERMISSION_DENIED (each with an
ErrorInfo reason), health needs no token, and the allowed calls run a chord end to end."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from motet.v1 import (
    common_pb2,
    results_pb2,
    results_pb2_grpc,
    scheduler_pb2,
    scheduler_pb2_grpc,
    worker_pb2,
    worker_pb2_grpc,
)
from motet_server.devcluster import ServiceProcess
from motet_server.ports import free_port
from motet_server.store.etcd_process import EtcdProcess
from tests.support.canvases import sig
from tests.support.processes import process_env
from tests.support.raw_worker import RawWorker
from tests.support.rpc_errors import code_of, reason

TOKENS = {
    "client-token": {"name": "api", "roles": ["client"]},
    "admin-token": {"name": "ops", "roles": ["admin"], "namespace": "*"},
    "worker-token": {"name": "guide-workers", "roles": ["worker", "client"], "tasks": ["examples.guide.tasks.*"]},
    "narrow-worker": {
        "name": "adders",
        "roles": ["worker"],
        "tasks": ["examples.guide.tasks.add"],
        "queues": ["celery", "narrow-*"],
    },
    "other-namespace": {"name": "elsewhere", "roles": ["client"], "namespace": "other"},
}


_env = process_env


@pytest.fixture(scope="module")
def secured(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    folder = tmp_path_factory.mktemp("tokens")
    entries = []
    for i, (token, entry) in enumerate(TOKENS.items()):
        # Half the entries give the token's SHA-256 only, as a deployment should.
        secret = {"sha256": hashlib.sha256(token.encode()).hexdigest()} if i % 2 else {"token": token}
        entries.append({**entry, **secret})
    (folder / "tokens.json").write_text(json.dumps({"tokens": entries}))
    with EtcdProcess(data_dir=folder / "etcd") as etcd:
        procs = []
        endpoints = {}
        try:
            for name in ("scheduler", "results"):
                listen = f"127.0.0.1:{free_port()}"
                argv = [sys.executable, "-m", "motet", name, "--listen", listen, "--etcd", etcd.endpoint,
                        "--tokens", str(folder / "tokens.json")]  # fmt: skip
                procs.append(
                    ServiceProcess(name, argv, folder / f"{name}.log", _env(), f"motet {name} listening").start()
                )
                endpoints[name] = listen
            worker = ServiceProcess(
                "worker",
                [sys.executable, "-m", "motet", "worker", "--app", "examples.guide.tasks",
                 "--scheduler", endpoints["scheduler"], "--token", "worker-token"],
                folder / "worker.log",
                _env(MOTET_RESULTS=endpoints["results"]),
                "motet worker ready",
            )  # fmt: skip
            procs.append(worker.start())
            endpoints["dir"] = str(folder)
            yield endpoints
        finally:
            for proc in reversed(procs):
                proc.stop()


def _revoke(endpoint: str, token: str | None) -> scheduler_pb2.RevokeTaskResponse:
    metadata = (("authorization", f"Bearer {token}"),) if token else ()
    with grpc.insecure_channel(endpoint) as ch:
        return scheduler_pb2_grpc.SchedulerServiceStub(ch).RevokeTask(
            scheduler_pb2.RevokeTaskRequest(task_ids=["nothing"]), timeout=10, metadata=metadata
        )


def _sdk(secured: dict[str, str], token: str | None, script: str) -> subprocess.CompletedProcess[str]:
    env = _env(
        MOTET_SCHEDULER=secured["scheduler"],
        MOTET_RESULTS=secured["results"],
        **({"MOTET_TOKEN": token} if token else {}),
    )
    return subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env, timeout=60)


CHORD = (
    "from examples.guide.tasks import add, tsum\n"
    "from motet import chord\n"
    "print(chord(add.s(i, i) for i in range(10))(tsum.s()).get(timeout=30))\n"
)


def test_a_client_token_runs_a_chord_and_no_or_a_wrong_token_is_unauthenticated(secured: dict[str, str]) -> None:
    ok = _sdk(secured, "client-token", CHORD)
    assert ok.stdout.strip() == "90", ok.stdout + ok.stderr
    for token in (None, "forged"):
        refused = _sdk(secured, token, CHORD)
        assert refused.returncode != 0
        assert "NotAuthenticated" in refused.stderr and "set MOTET_TOKEN" in refused.stderr, refused.stderr
    with pytest.raises(grpc.RpcError) as info:
        _revoke(secured["scheduler"], None)
    assert info.value.code() == grpc.StatusCode.UNAUTHENTICATED and reason(info.value) == "UNAUTHENTICATED"


def test_roles_and_namespaces_are_permission_denied(secured: dict[str, str]) -> None:
    with pytest.raises(grpc.RpcError) as client:
        _revoke(secured["scheduler"], "client-token")  # revoking is an admin call
    assert client.value.code() == grpc.StatusCode.PERMISSION_DENIED and reason(client.value) == "PERMISSION_DENIED"
    assert "may not call /motet.v1.SchedulerService/RevokeTask" in client.value.details()
    assert _revoke(secured["scheduler"], "admin-token").revoked == 0
    with pytest.raises(grpc.RpcError) as other:
        _revoke(secured["scheduler"], "other-namespace")
    assert other.value.code() == grpc.StatusCode.PERMISSION_DENIED
    assert "namespace 'other'" in other.value.details()
    # A worker token cannot read results unless it also has the client role.
    denied = _sdk(secured, "narrow-worker", "from motet import AsyncResult\nprint(AsyncResult('x').state)\n")
    assert denied.returncode != 0 and "PermissionDenied" in denied.stderr, denied.stderr


def test_a_worker_token_allows_only_its_task_names(secured: dict[str, str]) -> None:
    def connect(token: str, names: list[str], queues: tuple[str, ...] = ()) -> Any:
        hello = worker_pb2.ConnectRequest(
            hello=worker_pb2.WorkerHello(worker_id="probe", task_names=names, queues=queues)
        )
        with grpc.insecure_channel(secured["scheduler"]) as ch:
            call = worker_pb2_grpc.WorkerServiceStub(ch).Connect(
                iter([hello]), timeout=10, metadata=(("authorization", f"Bearer {token}"),)
            )
            return next(iter(call))

    welcome = connect("narrow-worker", ["examples.guide.tasks.add"])
    assert welcome.WhichOneof("frame") == "welcome"
    with pytest.raises(grpc.RpcError) as info:
        connect("narrow-worker", ["examples.guide.tasks.add", "examples.guide.tasks.mul"])
    assert info.value.code() == grpc.StatusCode.PERMISSION_DENIED
    assert "task examples.guide.tasks.mul" in info.value.details()
    with pytest.raises(grpc.RpcError) as queue:
        connect("narrow-worker", ["examples.guide.tasks.add"], ["elsewhere"])
    assert queue.value.code() == grpc.StatusCode.PERMISSION_DENIED
    assert "queue elsewhere" in queue.value.details()
    with pytest.raises(grpc.RpcError) as client:
        connect("client-token", ["examples.guide.tasks.add"])
    assert client.value.code() == grpc.StatusCode.PERMISSION_DENIED


def test_a_worker_token_replaces_a_task_only_with_what_it_may_serve(secured: dict[str, str]) -> None:
    """A replacement is a submission: a worker-only token may not use one to run other tasks."""
    bearer = (("authorization", "Bearer client-token"),)
    with grpc.insecure_channel(secured["scheduler"]) as ch:
        submit = scheduler_pb2_grpc.SchedulerServiceStub(ch).SubmitCanvas
        for _ in range(3):
            canvas = sig("examples.guide.tasks.add", 1, 2, queue="narrow-q")
            submit(scheduler_pb2.SubmitCanvasRequest(canvas=canvas), metadata=bearer, timeout=30)
    replacements = [
        sig("examples.guide.tasks.mul", 2, 3, queue="narrow-q"),  # a task name beyond the token
        sig("examples.guide.tasks.add", 2, 3, queue="elsewhere"),  # a queue beyond it
        sig("examples.guide.tasks.add", 5, 5, queue="narrow-q"),  # what it may serve itself
    ]
    with RawWorker(secured["scheduler"], ["examples.guide.tasks.add"], ["narrow-q"], token="narrow-worker") as worker:
        worker.credit(3)
        held = worker.assignments(expect=3)
        assert len(held) == 3
        for task, canvas in zip(held, replacements, strict=True):
            replaced = worker_pb2.TaskReplaced(task_id=task.task_id, delivery=task.delivery, canvas=canvas)
            worker.send(worker_pb2.ConnectRequest(replaced=replaced))
        assert [(a.task, json.loads(a.args.data)) for a in worker.assignments(expect=1)] == [
            ("examples.guide.tasks.add", [5, 5])
        ]
    with grpc.insecure_channel(secured["results"]) as ch:
        get = results_pb2_grpc.ResultsServiceStub(ch).GetResult
        results = [
            get(results_pb2.GetResultRequest(task_id=t.task_id), metadata=bearer, timeout=10).result for t in held
        ]
    for result, denied in zip(results[:2], ["task examples.guide.tasks.mul", "queue elsewhere"], strict=True):
        assert result.state == common_pb2.TASK_STATE_FAILURE
        assert result.failure.exc_type == "motet.exceptions.PermissionDenied"
        assert f"token 'adders' (without the client role) does not allow {denied}" in result.failure.message
    assert results[2].state == common_pb2.TASK_STATE_PENDING  # replaced: its replacement runs in its place


def test_a_refused_worker_exits_with_one_line(secured: dict[str, str]) -> None:
    argv = [sys.executable, "-m", "motet", "worker", "--app", "examples.guide.tasks",
            "--scheduler", secured["scheduler"], "--token", "narrow-worker"]  # fmt: skip
    out = subprocess.run(argv, capture_output=True, text=True, env=_env(), timeout=60)
    assert out.returncode == 2
    assert "refused this worker" in out.stdout + out.stderr
    assert "Traceback" not in out.stdout + out.stderr


def test_health_needs_no_token(secured: dict[str, str]) -> None:
    for name in ("scheduler", "results"):
        with grpc.insecure_channel(secured[name]) as ch:
            reply = health_pb2_grpc.HealthStub(ch).Check(health_pb2.HealthCheckRequest(), timeout=5)
        assert reply.status == health_pb2.HealthCheckResponse.SERVING


def test_a_bad_token_file_is_one_line(tmp_path: Path) -> None:
    (tmp_path / "bad.json").write_text(json.dumps({"tokens": [{"token": "x", "roles": ["root"]}]}))
    argv = [sys.executable, "-m", "motet", "results", "--listen", f"127.0.0.1:{free_port()}",
            "--etcd", "127.0.0.1:1", "--tokens", str(tmp_path / "bad.json")]  # fmt: skip
    start = time.monotonic()
    out = subprocess.run(argv, capture_output=True, text=True, env=_env(), timeout=60)
    assert out.returncode != 0 and time.monotonic() - start < 30
    assert "roles must be some of client, worker, admin" in out.stdout + out.stderr
    assert "Traceback" not in out.stdout + out.stderr


def test_the_token_file_is_reloaded_when_it_changes(secured: dict[str, str]) -> None:
    path = Path(secured["dir"]) / "tokens.json"
    original = path.read_text()
    added = {"name": "rotated-in", "token": "new-admin-token", "roles": ["admin"], "namespace": "*"}

    def revoke_with(token: str) -> grpc.StatusCode:
        return code_of(lambda: _revoke(secured["scheduler"], token))

    def settles(token: str, code: grpc.StatusCode) -> bool:
        deadline = time.monotonic() + 10  # the file is looked at once a second
        while time.monotonic() < deadline:
            if revoke_with(token) == code:
                return True
            time.sleep(0.2)
        return False

    assert revoke_with("new-admin-token") == grpc.StatusCode.UNAUTHENTICATED
    try:
        entries = json.loads(original)["tokens"]
        path.write_text(json.dumps({"tokens": [*entries, added]}))
        assert settles("new-admin-token", grpc.StatusCode.OK), "a token added to the file was not accepted"
        # A botched edit keeps the tokens in use (and logs a warning) rather than locking everyone out.
        path.write_text('{"tokens": [')
        time.sleep(2.5)
        assert revoke_with("new-admin-token") == grpc.StatusCode.OK
        assert "cannot be used, keeping the previous" in (Path(secured["dir"]) / "scheduler.log").read_text()
        # Taking a token out of the file revokes it.
        path.write_text(original)
        assert settles("new-admin-token", grpc.StatusCode.UNAUTHENTICATED), "a removed token was still accepted"
        assert revoke_with("admin-token") == grpc.StatusCode.OK
    finally:
        path.write_text(original)
