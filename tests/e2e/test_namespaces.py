"""Two namespaces on one etcd, each with its own scheduler, results service and worker started
with --namespace and --tokens: the same task ids live independently in each, neither side's
clients, tokens, queues, revocations or metrics reach the other, and every key a namespace
writes is under its own prefix (docs/security.md, "Namespaces")."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import urllib.request
from collections.abc import Iterator
from typing import Any

import grpc
import pytest
from prometheus_client.parser import text_string_to_metric_families

from motet.v1 import (
    canvas_pb2,
    common_pb2,
    results_pb2,
    results_pb2_grpc,
    scheduler_pb2,
    scheduler_pb2_grpc,
)
from motet_server.devcluster import ServiceProcess
from motet_server.ports import free_port
from motet_server.store.etcd import Etcd
from motet_server.store.etcd_process import EtcdProcess
from tests.support.processes import process_env
from tests.support.rpc_errors import reason

NAMESPACES = ("alpha", "beta")
TOKENS = [
    {"name": f"{ns}-{kind}", "token": f"{ns}-{kind}", "roles": roles, "namespace": ns}
    for ns in NAMESPACES
    for kind, roles in (("client", ["client"]), ("worker", ["worker", "client"]), ("admin", ["admin"]))
] + [{"name": "ops", "token": "ops-any", "roles": ["admin"], "namespace": "*"}]
T = 30


@pytest.fixture(scope="module")
def spaces(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    folder = tmp_path_factory.mktemp("namespaces")
    (folder / "tokens.json").write_text(json.dumps({"tokens": TOKENS}))
    with EtcdProcess(data_dir=folder / "etcd") as etcd:
        procs: list[ServiceProcess] = []
        out: dict[str, Any] = {"etcd": etcd.endpoint}
        try:
            for ns in NAMESPACES:
                ends: dict[str, Any] = {}
                for name in ("scheduler", "results"):
                    ends[name] = f"127.0.0.1:{free_port()}"
                    ends[f"{name}_metrics"] = f"127.0.0.1:{free_port()}"
                    argv = [sys.executable, "-m", "motet", name, "--listen", ends[name], "--etcd", etcd.endpoint,
                            "--namespace", ns, "--tokens", str(folder / "tokens.json"),
                            "--metrics", ends[f"{name}_metrics"]]  # fmt: skip
                    procs.append(
                        ServiceProcess(
                            f"{ns}-{name}", argv, folder / f"{ns}-{name}.log", process_env(), f"motet {name} listening"
                        ).start()  # fmt: skip
                    )
                # Both workers serve the same queue ("celery") and the same task names.
                worker = ServiceProcess(
                    f"{ns}-worker",
                    [sys.executable, "-m", "motet", "worker", "--app", "tests.e2e.tasks",
                     "--scheduler", ends["scheduler"], "--token", f"{ns}-worker", "--concurrency", "2"],
                    folder / f"{ns}-worker.log",
                    process_env(MOTET_RESULTS=ends["results"], MOTET_NAMESPACE=ns),
                    "motet worker ready",
                ).start()  # fmt: skip
                procs.append(worker)
                ends["worker_pid"] = worker.pid
                out[ns] = ends
            yield out
        finally:
            for proc in reversed(procs):
                proc.stop()


def _md(token: str, namespace: str | None = None) -> list[tuple[str, str]]:
    return [("authorization", f"Bearer {token}"), *((("motet-namespace", namespace),) if namespace else ())]


def _sig(task: str, args: list[Any], task_id: str, **options: Any) -> canvas_pb2.Canvas:
    payload = common_pb2.Payload(encoding="json", data=json.dumps(args).encode())
    return canvas_pb2.Canvas(
        signature=canvas_pb2.Signature(task=task, args=payload, options=canvas_pb2.Options(task_id=task_id, **options))
    )


def _submit(spaces: dict[str, Any], ns: str, canvas: canvas_pb2.Canvas) -> scheduler_pb2.SubmitCanvasResponse:
    with grpc.insecure_channel(spaces[ns]["scheduler"]) as ch:
        return scheduler_pb2_grpc.SchedulerServiceStub(ch).SubmitCanvas(
            scheduler_pb2.SubmitCanvasRequest(canvas=canvas), metadata=_md(f"{ns}-client", ns), timeout=T
        )


def _wait(spaces: dict[str, Any], ns: str, task_id: str) -> results_pb2.TaskResult:
    with grpc.insecure_channel(spaces[ns]["results"]) as ch:
        stub = results_pb2_grpc.ResultsServiceStub(ch)
        request = results_pb2.WaitResultRequest(task_ids=[task_id])
        for reply in stub.WaitResult(request, metadata=_md(f"{ns}-client", ns), timeout=T):
            return reply.result
    raise AssertionError(f"no result for {task_id} in {ns}")


def _get(spaces: dict[str, Any], ns: str, task_id: str, token: str | None = None) -> results_pb2.TaskResult:
    with grpc.insecure_channel(spaces[ns]["results"]) as ch:
        stub = results_pb2_grpc.ResultsServiceStub(ch)
        request = results_pb2.GetResultRequest(task_id=task_id)
        return stub.GetResult(request, metadata=_md(token or f"{ns}-client"), timeout=T).result


def _value(result: results_pb2.TaskResult) -> Any:
    assert result.state == common_pb2.TASK_STATE_SUCCESS, result
    return json.loads(result.value.data)


def test_the_same_ids_live_independently_in_each_namespace(spaces: dict[str, Any]) -> None:
    for ns, x in (("alpha", 1), ("beta", 2)):
        reply = _submit(spaces, ns, _sig("tests.e2e.tasks.slow_add", [x, x], "shared-id"))
        assert reply.created, f"{ns}: an id used in the other namespace must be new here"
    assert _value(_wait(spaces, "alpha", "shared-id")) == 2
    assert _value(_wait(spaces, "beta", "shared-id")) == 4
    # Re-submitting in alpha is the same submission there (idempotent), not beta's.
    assert not _submit(spaces, "alpha", _sig("tests.e2e.tasks.slow_add", [1, 1], "shared-id")).created


def test_a_namespace_sees_nothing_of_the_other(spaces: dict[str, Any]) -> None:
    _submit(spaces, "beta", _sig("tests.e2e.tasks.slow_add", [5, 5], "only-in-beta"))
    assert _value(_wait(spaces, "beta", "only-in-beta")) == 10
    # alpha never saw the id: PENDING, as any unknown id.
    assert _get(spaces, "alpha", "only-in-beta").state == common_pb2.TASK_STATE_PENDING
    # alpha's admin revoking and forgetting the id changes nothing in beta.
    with grpc.insecure_channel(spaces["alpha"]["scheduler"]) as ch:
        scheduler_pb2_grpc.SchedulerServiceStub(ch).RevokeTask(
            scheduler_pb2.RevokeTaskRequest(task_ids=["only-in-beta"]), metadata=_md("alpha-admin"), timeout=T
        )
    with grpc.insecure_channel(spaces["alpha"]["results"]) as ch:
        results_pb2_grpc.ResultsServiceStub(ch).ForgetResult(
            results_pb2.ForgetResultRequest(ids=["only-in-beta"]), metadata=_md("alpha-admin"), timeout=T
        )
    assert _value(_get(spaces, "beta", "only-in-beta")) == 10


def test_a_token_of_one_namespace_is_refused_by_the_other(spaces: dict[str, Any]) -> None:
    for token in ("alpha-client", "alpha-admin", "alpha-worker"):
        with pytest.raises(grpc.RpcError) as caught:
            _get(spaces, "beta", "shared-id", token=token)
        assert caught.value.code() == grpc.StatusCode.PERMISSION_DENIED
        assert reason(caught.value) == "PERMISSION_DENIED" and "'alpha'" in (caught.value.details() or "")


def test_a_client_naming_the_other_namespace_hears_so(spaces: dict[str, Any]) -> None:
    # The Python SDK sends MOTET_NAMESPACE; pointed at alpha's services while naming beta, it is
    # told, instead of silently using alpha's keyspace.
    script = (
        "from tests.e2e.tasks import slow_add\n"
        "from motet.exceptions import ImproperlyConfigured\n"
        "try:\n    slow_add.delay(1, 2)\nexcept ImproperlyConfigured as exc:\n    print('refused:', exc)\n"
    )
    env = process_env(
        MOTET_SCHEDULER=spaces["alpha"]["scheduler"],
        MOTET_RESULTS=spaces["alpha"]["results"],
        MOTET_NAMESPACE="beta",
        MOTET_TOKEN="alpha-client",
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env, timeout=60)
    assert "refused:" in done.stdout and "serves namespace 'alpha'" in done.stdout, done.stdout + done.stderr
    env["MOTET_NAMESPACE"] = "alpha"
    ok = "from tests.e2e.tasks import slow_add\nprint(slow_add.delay(1, 2).get(timeout=30))\n"
    done = subprocess.run([sys.executable, "-c", ok], capture_output=True, text=True, env=env, timeout=60)
    assert done.stdout.strip() == "3", done.stdout + done.stderr


def test_each_namespaces_tasks_run_on_its_own_workers_only(spaces: dict[str, Any]) -> None:
    for ns in NAMESPACES:
        ids = [f"{ns}-pid-{i}" for i in range(8)]
        for task_id in ids:
            _submit(spaces, ns, _sig("tests.e2e.tasks.pid", [], task_id))
        pids = {_value(_wait(spaces, ns, task_id)) for task_id in ids}
        assert pids == {spaces[ns]["worker_pid"]}, f"{ns}'s tasks ran on {pids}"
        with grpc.insecure_channel(spaces[ns]["scheduler"]) as ch:
            workers = scheduler_pb2_grpc.SchedulerServiceStub(ch).InspectWorkers(
                scheduler_pb2.InspectWorkersRequest(), metadata=_md(f"{ns}-admin"), timeout=T
            )
        assert [w.pid for w in workers.workers] == [spaces[ns]["worker_pid"]]


def _series(endpoint: str) -> dict[str, float]:
    with urllib.request.urlopen(f"http://{endpoint}/metrics", timeout=10) as reply:
        text = reply.read().decode()
    out: dict[str, float] = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            if s.name == "motet_tasks_submitted_total":
                out[s.labels["namespace"]] = out.get(s.labels["namespace"], 0.0) + s.value
    return out


def test_metrics_carry_the_namespace_and_count_only_its_own(spaces: dict[str, Any]) -> None:
    before = {ns: _series(spaces[ns]["scheduler_metrics"]) for ns in NAMESPACES}
    for i in range(3):
        _submit(spaces, "alpha", _sig("tests.e2e.tasks.slow_add", [i, i], f"metrics-{i}"))
    after = {ns: _series(spaces[ns]["scheduler_metrics"]) for ns in NAMESPACES}
    assert set(after["alpha"]) == {"alpha"} and set(after["beta"]) == {"beta"}
    assert after["alpha"]["alpha"] - before["alpha"].get("alpha", 0.0) == 3
    assert after["beta"]["beta"] == before["beta"]["beta"]


def test_every_key_is_under_its_namespace_prefix(spaces: dict[str, Any]) -> None:
    async def keys() -> list[bytes]:
        async with await Etcd.connect([spaces["etcd"]]) as etcd:
            kvs, _ = await etcd.get_prefix(b"/")  # every Motet key starts with /motet/
            return [kv.key for kv in kvs]

    found = asyncio.run(keys())
    by_prefix = {ns: [k for k in found if k.startswith(f"/motet/{ns}/".encode())] for ns in NAMESPACES}
    assert all(by_prefix.values()), "each namespace wrote keys"
    assert sorted(found) == sorted(by_prefix["alpha"] + by_prefix["beta"]), [
        k for k in found if not k.startswith((b"/motet/alpha/", b"/motet/beta/"))
    ]
    assert any(b"shared-id" in k for k in by_prefix["alpha"]) and any(b"shared-id" in k for k in by_prefix["beta"])


def test_an_admin_of_every_namespace_inspects_and_forgets_in_each(spaces: dict[str, Any]) -> None:
    """A token with namespace "*" (operators) reaches both namespaces' services, each on its own
    keyspace; a namespace's own admin reaches only its own (above)."""
    for ns, x in (("alpha", 20), ("beta", 30)):
        _submit(spaces, ns, _sig("tests.e2e.tasks.slow_add", [x, x], f"ops-{ns}"))
        assert _value(_wait(spaces, ns, f"ops-{ns}")) == 2 * x
    for ns in NAMESPACES:
        with grpc.insecure_channel(spaces[ns]["scheduler"]) as ch:
            workers = scheduler_pb2_grpc.SchedulerServiceStub(ch).InspectWorkers(
                scheduler_pb2.InspectWorkersRequest(), metadata=_md("ops-any"), timeout=T
            )
        assert len(workers.workers) == 1, f"{ns}: its own worker only"
        assert _value(_get(spaces, ns, f"ops-{ns}", token="ops-any")) in (40, 60)
    with grpc.insecure_channel(spaces["beta"]["results"]) as ch:
        results_pb2_grpc.ResultsServiceStub(ch).ForgetResult(
            results_pb2.ForgetResultRequest(ids=["ops-beta"]), metadata=_md("ops-any"), timeout=T
        )
    assert _get(spaces, "beta", "ops-beta").state == common_pb2.TASK_STATE_PENDING
    assert _value(_get(spaces, "alpha", "ops-alpha")) == 40
