"""A complete local cluster: a private etcd, a scheduler, a results service and workers.

One implementation serves `motet dev` and the end-to-end tests: every service is a real
process on loopback, with its log in the cluster's own temp dir, stopped by its pid. `motet dev`
also shows those logs as they grow, each line prefixed by its service (``scheduler | ...``).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from types import TracebackType
from typing import IO

from motet_server import config
from motet_server.ports import free_port
from motet_server.processes import terminate
from motet_server.store.etcd_process import EtcdProcess, EtcdStartError

__all__ = ["DevCluster", "DevClusterError", "ServiceProcess"]

SECURED_SETTINGS = frozenset(
    "MOTET_" + name
    for name in (
        "TLS_CA", "TLS_CERT", "TLS_KEY", "TLS_CLIENT_CA", "TOKEN", "TOKENS", "JWKS", "JWT_ISSUER", "JWT_AUDIENCE",
        "ETCD_CA", "ETCD_CERT", "ETCD_KEY", "ETCD_USER", "ETCD_PASSWORD_FILE", "HEALTH", "INSECURE",
    )
)  # fmt: skip
"""The variables of a secured deployment (TLS, tokens, etcd access), which a dev cluster's
services do not inherit from the environment that starts them."""

READY_TIMEOUT = 30.0

STOP_MARGIN = 5.0
"""Seconds a worker gets past its --grace before SIGKILL (to report and close its stream)."""


class DevClusterError(RuntimeError):
    """A service did not start; the message is one line: which service, the last line of its log
    (its own one-line reason), and where the logs are kept."""


class ServiceProcess:
    """One service subprocess: started, waited for (its ready line), stopped by pid."""

    def __init__(
        self,
        name: str,
        argv: list[str],
        log_path: Path,
        env: dict[str, str],
        ready_word: str,
        *,
        stop_timeout: float = 10.0,
    ) -> None:
        self.name = name
        self.stop_timeout = stop_timeout
        self.argv = argv
        self.log_path = log_path
        self.env = env
        self.ready_word = ready_word
        self.proc: subprocess.Popen[bytes] | None = None
        self._log: IO[bytes] | None = None

    def start(self) -> ServiceProcess:
        self._log = open(self.log_path, "ab")  # noqa: SIM115 - closed in stop()
        offset = self.log_path.stat().st_size
        self.proc = subprocess.Popen(
            self.argv, stdout=self._log, stderr=subprocess.STDOUT, env=self.env, start_new_session=True
        )
        deadline = time.monotonic() + READY_TIMEOUT
        while time.monotonic() < deadline:
            text = self.log_path.read_bytes()[offset:].decode(errors="replace")
            if self.ready_word in text:
                return self
            if self.proc.poll() is not None:
                break
            time.sleep(0.02)
        lines = [line for line in self.log_path.read_text(errors="replace").splitlines() if line.strip()]
        self.stop()
        reason = lines[-1].strip() if lines else f"no output within {READY_TIMEOUT:.0f} s"
        error = DevClusterError(f"{self.name} did not start: {reason} (log {self.log_path})")
        # Shown in a traceback (a failing test fixture), not by `motet dev`, which prints one line.
        error.add_note("last lines of the log:\n" + "\n".join(lines[-30:]))
        raise error

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc else None

    def stop(self, timeout: float | None = None) -> None:
        """SIGTERM, then SIGKILL after `timeout` (default: the process's `stop_timeout`)."""
        terminate(self.proc, self.stop_timeout if timeout is None else timeout)
        if self._log is not None:
            self._log.close()
            self._log = None

    def kill(self) -> None:
        """SIGKILL (for fault tests)."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


class DevCluster:
    """etcd + scheduler + results + N workers on loopback.

    Args:
        app: The module of tasks the workers load.
        ports: "free" (tests), "default" (`config.SCHEDULER_PORT` / `config.RESULTS_PORT`) or
            "env" (MOTET_SCHEDULER / MOTET_RESULTS).
        workers: How many worker processes.
        concurrency: Threads per worker.
        pool: The workers' pool ("threads" or "processes").
        queues: The queues workers serve, comma separated.
        prefetch: The workers' credit per thread.
        grace: Seconds a stopping worker waits for its running tasks (and, plus `STOP_MARGIN`,
            how long it is given before SIGKILL).
        log_level: Every service's and worker's --log-level.
        echo: Called with every line the services log, prefixed by the service's name; None
            shows nothing (tests, `motet dev --quiet`).
        env: Extra environment for every service.

    When a service fails to start, its logs stay in `dir` and the error names the file; so do
    they when an exception leaves the `with` block (a note on it names `dir`).
    """

    def __init__(
        self,
        app: str,
        *,
        ports: str = "free",
        workers: int = config.DEFAULT_WORKERS,
        concurrency: int = config.DEFAULT_CONCURRENCY,
        pool: str = config.DEFAULT_POOL,
        queues: str = config.DEFAULT_QUEUE,
        prefetch: int = config.DEFAULT_PREFETCH,
        grace: float = config.DEFAULT_GRACE,
        log_level: str = config.DEFAULT_LOG_LEVEL,
        echo: Callable[[str], None] | None = None,
        env: dict[str, str] | None = None,
    ) -> None:
        self.app = app
        self.dir = Path(tempfile.mkdtemp(prefix="motet-dev-"))
        try:
            self.etcd_process = EtcdProcess(data_dir=self.dir / "etcd")
        except BaseException:  # no etcd binary: nothing ran, nothing to keep
            shutil.rmtree(self.dir, ignore_errors=True)
            raise
        self._ports = ports
        self.worker_count = workers
        self.concurrency = concurrency
        self.pool = pool
        self.queues = queues
        self.prefetch = prefetch
        self.grace = grace
        self.log_level = log_level
        self._follower = _LogFollower(self.dir, echo) if echo is not None else None
        self._keep_logs = False
        # A dev cluster is plaintext on loopback with its own etcd, whatever the caller's shell
        # exports for a secured deployment; `env` may still set any of them on purpose.
        inherited = {k: v for k, v in os.environ.items() if k not in SECURED_SETTINGS}
        self.env = {**inherited, **(env or {}), "PYTHONUNBUFFERED": "1"}
        cwd = os.getcwd()
        self.env["PYTHONPATH"] = os.pathsep.join(p for p in (cwd, self.env.get("PYTHONPATH", "")) if p)
        self.scheduler = ""
        self.results = ""
        self.scheduler_metrics = ""
        self.results_metrics = ""
        self.worker_metrics: list[str] = []
        """The metrics endpoint of each worker in `workers`, by the same index."""
        self.scheduler_process: ServiceProcess | None = None
        self.results_process: ServiceProcess | None = None
        self.workers: list[ServiceProcess] = []
        self.extra_schedulers: list[ServiceProcess] = []
        self._lock = threading.Lock()

    @property
    def etcd(self) -> str:
        """The etcd endpoint."""
        return self.etcd_process.endpoint

    def _endpoint(self, env_name: str, default_port: int) -> str:
        if self._ports == "env" and os.environ.get(env_name):
            return os.environ[env_name]
        if self._ports == "default":
            return f"{config.LOOPBACK}:{default_port}"
        return f"{config.LOOPBACK}:{free_port()}"

    def log_path(self, name: str) -> Path:
        """Where a service's output goes."""
        return self.dir / f"{name}.log"

    def _python(self, *args: str) -> list[str]:
        return [sys.executable, "-m", "motet_server", *args, "--log-level", self.log_level]

    def start(self) -> DevCluster:
        """Starts everything; returns when every service has said it is ready.

        Raises:
            DevClusterError: A service did not start (the logs are kept in `dir`).
        """
        if self._follower is not None:
            self._follower.start()
        try:
            self._start_etcd()
            self.scheduler = self._endpoint("MOTET_SCHEDULER", config.SCHEDULER_PORT)
            self.results = self._endpoint("MOTET_RESULTS", config.RESULTS_PORT)
            self.scheduler_metrics = f"{config.LOOPBACK}:{free_port()}"
            self.results_metrics = f"{config.LOOPBACK}:{free_port()}"
            self.scheduler_process = ServiceProcess(
                "scheduler",
                self._python(
                    "scheduler", "--listen", self.scheduler, "--etcd", self.etcd, "--metrics", self.scheduler_metrics
                ),
                self.log_path("scheduler"),
                self.env,
                "motet scheduler listening",
            ).start()
            self.results_process = ServiceProcess(
                "results",
                self._python(
                    "results", "--listen", self.results, "--etcd", self.etcd, "--metrics", self.results_metrics
                ),
                self.log_path("results"),
                self.env,
                "motet results listening",
            ).start()
            for _ in range(self.worker_count):
                self.add_worker()
            if self._follower is not None:
                self._follower.flush()  # the services' ready lines come before the caller's
        except DevClusterError:
            self._keep_logs = True
            self.stop()
            raise
        except BaseException:
            self.stop()
            raise
        return self

    def _start_etcd(self) -> None:
        try:
            self.etcd_process.start()
        except EtcdStartError as exc:
            reason = str(exc).split("; last lines of", 1)[0]
            raise DevClusterError(f"etcd did not start: {reason} (log {self.etcd_process.log_path})") from None

    def add_worker(self, **flags: str) -> ServiceProcess:
        """Starts one more worker process."""
        index = len(self.workers)
        argv = self._python(
            "worker",
            "--app",
            self.app,
            "--scheduler",
            flags.get("scheduler", self.scheduler),
            "--concurrency",
            flags.get("concurrency", str(self.concurrency)),
            "--pool",
            flags.get("pool", self.pool),
            "--queues",
            flags.get("queues", self.queues),
        )
        argv += ["--prefetch", flags.get("prefetch", str(self.prefetch)), "--grace", str(self.grace)]
        if "log_format" in flags:
            argv += ["--log-format", flags["log_format"]]
        metrics = f"{config.LOOPBACK}:{free_port()}"
        argv += ["--metrics", metrics]
        # Tasks that send work (or read results) use this cluster, as its clients do.
        env = {**self.env, "MOTET_SCHEDULER": flags.get("scheduler", self.scheduler), "MOTET_RESULTS": self.results}
        proc = ServiceProcess(
            f"worker-{index}",
            argv,
            self.log_path(f"worker-{index}"),
            env,
            "motet worker ready",
            stop_timeout=self.grace + STOP_MARGIN,
        ).start()
        self.workers.append(proc)
        self.worker_metrics.append(metrics)
        return proc

    def add_scheduler(self) -> str:
        """Starts another scheduler replica on the same etcd; returns its endpoint."""
        endpoint = f"{config.LOOPBACK}:{free_port()}"
        index = len(self.extra_schedulers) + 1
        proc = ServiceProcess(
            f"scheduler-{index}",
            self._python("scheduler", "--listen", endpoint, "--etcd", self.etcd),
            self.log_path(f"scheduler-{index}"),
            self.env,
            "motet scheduler listening",
        ).start()
        self.extra_schedulers.append(proc)
        return endpoint

    def kill_worker(self, index: int) -> None:
        """SIGKILLs a worker mid-whatever (fault tests)."""
        self.workers[index].kill()

    def stop_worker(self, index: int) -> None:
        """Stops a worker gracefully (SIGTERM)."""
        self.workers[index].stop()

    def restart_scheduler(self, *, kill: bool = False) -> None:
        """Stops (or kills) the scheduler and starts it again on the same port."""
        assert self.scheduler_process is not None
        if kill:
            self.scheduler_process.kill()
        self.scheduler_process.stop()
        self.scheduler_process.start()

    def restart_results(self) -> None:
        """Stops the results service and starts it again on the same port."""
        assert self.results_process is not None
        self.results_process.stop()
        self.results_process.start()

    def stop(self) -> None:
        """Stops everything, in reverse order, by pid."""
        for proc in reversed(self.workers):
            proc.stop()
        services: list[ServiceProcess | None] = [
            *reversed(self.extra_schedulers),
            self.results_process,
            self.scheduler_process,
        ]
        for service in services:
            if service is not None:
                service.stop()
        self.etcd_process.stop()
        if self._follower is not None:
            self._follower.stop()
        if os.environ.get("MOTET_KEEP_LOGS") is None and not self._keep_logs:
            shutil.rmtree(self.dir, ignore_errors=True)

    def __enter__(self) -> DevCluster:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if isinstance(exc, Exception):  # a failure inside the block: its logs are the evidence
            self._keep_logs = True
            exc.add_note(f"the cluster's logs are kept in {self.dir}")
        self.stop()


class _LogFollower(threading.Thread):
    """Shows every ``*.log`` of a directory as it grows, each line as ``name | line``."""

    def __init__(self, directory: Path, echo: Callable[[str], None]) -> None:
        super().__init__(name="motet-dev-logs", daemon=True)
        self._dir = directory
        self._echo = echo
        self._offsets: dict[Path, int] = {}
        self._partial: dict[Path, bytes] = {}
        self._stopped = threading.Event()
        self._width = len("scheduler")
        self._lock = threading.Lock()

    def run(self) -> None:
        # A poll, not a watch: a dev cluster's logs are a few lines a second, read every 0.1 s.
        while not self._stopped.wait(0.1):
            self._read()
        self._read()

    def flush(self) -> None:
        """Shows what the logs hold now."""
        self._read()

    def _read(self) -> None:
        with self._lock:
            self._read_locked()

    def _read_locked(self) -> None:
        for path in sorted(self._dir.glob("*.log")):
            try:
                with open(path, "rb") as fh:
                    fh.seek(self._offsets.get(path, 0))
                    data = fh.read()
            except FileNotFoundError:
                continue
            self._offsets[path] = self._offsets.get(path, 0) + len(data)
            *lines, rest = (self._partial.pop(path, b"") + data).split(b"\n")
            if rest:
                self._partial[path] = rest
            for line in lines:
                self._echo(f"{path.stem:<{self._width}} | {line.decode(errors='replace').rstrip()}")

    def stop(self) -> None:
        """Shows what is left, then ends the thread."""
        self._stopped.set()
        if self.is_alive():
            self.join(timeout=2.0)
