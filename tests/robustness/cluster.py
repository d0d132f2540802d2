"""The robustness cluster: 3 etcd members, 2 scheduler replicas, 1 results service, workers.

Built from the same pieces as `DevCluster` (`EtcdProcess`, `ServiceProcess`), every process on
loopback with free ports, its data and log in one private directory, stopped by its pid.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import sys
import threading
import urllib.request
import uuid
from pathlib import Path

from motet_server.devcluster import ServiceProcess
from motet_server.ports import free_port
from motet_server.store.etcd_process import EtcdProcess
from tests.robustness.proxy import FaultProxy

__all__ = ["RobustCluster"]


class RobustCluster:
    def __init__(self, base: Path, record_dir: Path) -> None:
        self.dir = base
        self.record_dir = record_dir
        token = f"robust-{uuid.uuid4().hex[:8]}"
        self.etcds = [EtcdProcess(data_dir=base / f"etcd{i}", name=f"e{i}") for i in range(3)]
        initial = ",".join(f"{e.name}=http://127.0.0.1:{e.peer_port}" for e in self.etcds)
        for e in self.etcds:
            # Later flags win: a 3-member cluster, with timeouts a loaded 2-core machine keeps.
            e.extra_args = [
                "--initial-cluster", initial,
                "--initial-cluster-state", "new",
                "--initial-cluster-token", token,
                "--heartbeat-interval", "100",
                "--election-timeout", "1000",
            ]  # fmt: skip
            e.startup_timeout = 30.0
        self.env = {**os.environ, "PYTHONUNBUFFERED": "1", "MOTET_ROBUST_DIR": str(record_dir)}
        root = str(Path(__file__).resolve().parents[2])
        self.env["PYTHONPATH"] = os.pathsep.join(p for p in (root, self.env.get("PYTHONPATH", "")) if p)
        self.schedulers: list[ServiceProcess] = []
        self.scheduler_endpoints: list[str] = []
        self.results: ServiceProcess | None = None
        self.results_endpoint = ""
        self.workers: list[ServiceProcess] = []
        self.proxy: FaultProxy | None = None
        self.etcd_proxies: list[FaultProxy] = []
        """One per etcd member, between scheduler replica 0 (the busier one) and the cluster."""

    @property
    def etcd(self) -> str:
        return ",".join(e.endpoint for e in self.etcds)

    def _python(self, *args: str) -> list[str]:
        return [sys.executable, "-m", "motet_server", *args]

    def start(self) -> RobustCluster:
        try:
            self._start()
        except BaseException:
            self.stop()
            raise
        return self

    def _start(self) -> None:
        errors: list[BaseException] = []

        def boot(e: EtcdProcess) -> None:
            try:
                e.start()
            except BaseException as exc:  # noqa: BLE001 - re-raised below
                errors.append(exc)

        threads = [threading.Thread(target=boot, args=(e,)) for e in self.etcds]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        if errors:
            raise errors[0]
        # Replica 0 (submissions, w0, w2) reaches etcd through a fault proxy per member.
        self.etcd_proxies = [FaultProxy(e.endpoint).start() for e in self.etcds]
        via_proxies = ",".join(p.endpoint for p in self.etcd_proxies)
        for i in range(2):
            endpoint = f"127.0.0.1:{free_port()}"
            self.scheduler_endpoints.append(endpoint)
            self.schedulers.append(
                ServiceProcess(
                    f"scheduler-{i}",
                    self._python("scheduler", "--listen", endpoint, "--etcd", self.etcd if i else via_proxies),
                    self.dir / f"scheduler-{i}.log",
                    self.env,
                    "motet scheduler listening",
                ).start()
            )
        self.results_endpoint = f"127.0.0.1:{free_port()}"
        self.results = ServiceProcess(
            "results",
            self._python("results", "--listen", self.results_endpoint, "--etcd", self.etcd),
            self.dir / "results.log",
            self.env,
            "motet results listening",
        ).start()
        self.proxy = FaultProxy(self.scheduler_endpoints[0]).start()
        # w0: threads on replica 0; w1: processes on replica 1; w2: threads behind the proxy.
        self._add_worker("w0", self.scheduler_endpoints[0], "threads")
        self._add_worker("w1", self.scheduler_endpoints[1], "processes")
        self._add_worker("w2", self.proxy.endpoint, "threads")

    def _add_worker(self, name: str, scheduler: str, pool: str) -> None:
        env = {
            **self.env,
            "MOTET_SCHEDULER": scheduler,
            "MOTET_RESULTS": self.results_endpoint,
            "MOTET_ROBUST_WORKER": name,
        }
        argv = self._python(
            "worker", "--app", "tests.robustness.tasks", "--scheduler", scheduler,
            "--concurrency", "4", "--pool", pool,
        )  # fmt: skip
        self.workers.append(ServiceProcess(name, argv, self.dir / f"{name}.log", env, "motet worker ready").start())

    def etcd_leader(self) -> int | None:
        """The index of the member that is leader now (etcd's /v3/maintenance/status)."""
        for i, e in enumerate(self.etcds):
            if e.pid is None:
                continue
            try:
                req = urllib.request.Request(f"http://{e.endpoint}/v3/maintenance/status", data=b"{}", method="POST")
                with urllib.request.urlopen(req, timeout=2) as resp:
                    status = json.loads(resp.read())
            except (OSError, ValueError):
                continue
            if status.get("leader") and status.get("leader") == status.get("header", {}).get("member_id"):
                return i
        return None

    def stop(self) -> None:
        for proc in reversed(self.workers):
            proc.stop()
        if self.proxy is not None:
            self.proxy.stop()
        for proc in [self.results, *reversed(self.schedulers)]:
            if proc is not None:
                proc.stop()
        for proxy in self.etcd_proxies:
            proxy.stop()
        for e in self.etcds:
            if e.pid is not None:  # a member frozen by a fault must wake to stop
                with contextlib.suppress(OSError):
                    os.kill(e.pid, signal.SIGCONT)
            e.stop()
        if os.environ.get("MOTET_KEEP_LOGS") is None:
            shutil.rmtree(self.dir, ignore_errors=True)
