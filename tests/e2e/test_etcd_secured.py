"""The services on an etcd that serves TLS only, requires client certificates and has
authentication on, with a user that may touch one namespace's keys only: started with
--etcd-ca/--etcd-cert/--etcd-key and --etcd-user/--etcd-password-file, scheduler and results run
a chord end to end; a wrong password, or a namespace the user may not touch, is one line at start."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from motet_server.devcluster import ServiceProcess
from motet_server.ports import free_port
from motet_server.store.etcd import EtcdAccess
from motet_server.store.etcd_process import EtcdProcess
from tests.support.certs import CA
from tests.support.etcd_auth import PASSWORD, enable_auth
from tests.support.processes import process_env


@pytest.fixture(scope="module")
def secured(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    folder = tmp_path_factory.mktemp("etcd-secured")
    ca = CA(folder / "pki")
    server, client = ca.issue("etcd"), ca.issue("motet-services", server=False)
    (folder / "password").write_text(PASSWORD + "\n")
    (folder / "wrong").write_text("not-the-password\n")
    with EtcdProcess(data_dir=folder / "etcd", tls=(ca.path, server.cert, server.key)) as etcd:
        asyncio.run(enable_auth(etcd.endpoint, EtcdAccess.from_flags(str(ca.path), str(client.cert), str(client.key))))
        flags = ["--etcd", etcd.endpoint, "--etcd-ca", str(ca.path), "--etcd-cert", str(client.cert),
                 "--etcd-key", str(client.key), "--etcd-user", "motet"]  # fmt: skip
        yield {"dir": str(folder), "flags": "\0".join(flags)}


def _service(secured: dict[str, str], name: str, *extra: str) -> list[str]:
    listen = f"127.0.0.1:{free_port()}"
    return [sys.executable, "-m", "motet", name, "--listen", listen, *secured["flags"].split("\0"), *extra]


def test_the_services_run_a_chord_over_tls_as_a_restricted_etcd_user(secured: dict[str, str]) -> None:
    folder = Path(secured["dir"])
    procs: list[ServiceProcess] = []
    try:
        ends = {}
        for name in ("scheduler", "results"):
            argv = _service(secured, name, "--namespace", "alpha", "--etcd-password-file", str(folder / "password"))
            ends[name] = argv[argv.index("--listen") + 1]
            procs.append(ServiceProcess(name, argv, folder / f"{name}.log", process_env(), f"motet {name} listening"))
            procs[-1].start()
        worker = [
            sys.executable,
            "-m",
            "motet",
            "worker",
            "--app",
            "examples.guide.tasks",
            "--scheduler",
            ends["scheduler"],
        ]
        env = process_env(MOTET_RESULTS=ends["results"], MOTET_SCHEDULER=ends["scheduler"], MOTET_NAMESPACE="alpha")
        procs.append(ServiceProcess("worker", worker, folder / "worker.log", env, "motet worker ready").start())
        script = (
            "from examples.guide.tasks import add, tsum\nfrom motet import chord\n"
            "print(chord(add.s(i, i) for i in range(10))(tsum.s()).get(timeout=30))\n"
        )
        done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env, timeout=90)
        assert done.stdout.strip() == "90", done.stdout + done.stderr
    finally:
        for proc in reversed(procs):
            proc.stop()


@pytest.mark.parametrize(
    ("namespace", "password", "says"),
    [
        ("alpha", "wrong", "authenticate as 'motet' failed"),
        ("beta", "password", "permission denied"),  # the user's keys are alpha's only
    ],
)
def test_a_wrong_password_or_a_forbidden_namespace_is_one_line(
    secured: dict[str, str], namespace: str, password: str, says: str
) -> None:
    argv = _service(
        secured, "results", "--namespace", namespace, "--etcd-password-file", str(Path(secured["dir"]) / password)
    )
    done = subprocess.run(argv, capture_output=True, text=True, env=process_env(), timeout=60)
    assert done.returncode == 1
    lines = done.stderr.strip().splitlines()
    assert lines[-1].startswith("motet results: etcd at ") and says in lines[-1], done.stderr
    assert "Traceback" not in done.stderr
