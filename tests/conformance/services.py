"""The real Celery side of the suite: its venv, a private redis-server, a Celery worker, and the
runner process that executes the corpus against them. Every process is started here and stopped
here, by its pid.

- The venv (``celery[redis]==5.7.0`` from PyPI) is made once and cached in
  ``.cache/conformance-venv`` (git-ignored), or in ``$CONF_CELERY_VENV``.
- redis-server (Debian's ``redis-server``; ``make redis`` installs it) runs on a free loopback
  port with its own temp dir, ``--save '' --appendonly no``.
- The worker: ``celery -A tests.conformance.celery_app worker -P threads -c 8 -Q celery,q2``.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import IO, Any

from motet_server.ports import free_port
from motet_server.processes import terminate

ROOT = Path(__file__).resolve().parents[2]
CELERY_REQUIREMENT = "celery[redis]==5.7.0"
CELERY_VERSION = "5.7.0"
VENV_ENV = "CONF_CELERY_VENV"
LAST_RUN = ROOT / ".cache" / "conformance-last"  # both sides' observations and logs of the last run


def venv_dir() -> Path:
    return Path(os.environ.get(VENV_ENV) or ROOT / ".cache" / "conformance-venv")


def ensure_celery_venv() -> Path:
    """The Celery venv's python, creating the venv and installing Celery on first use."""
    venv = venv_dir()
    python = venv / "bin" / "python"
    stamp = venv / f".installed-{CELERY_VERSION}"
    if python.exists() and stamp.exists():
        return python
    venv.parent.mkdir(parents=True, exist_ok=True)
    subprocess.run([sys.executable, "-m", "venv", "--clear", str(venv)], check=True)
    subprocess.run([str(python), "-m", "pip", "install", "-q", "--upgrade", "pip"], check=True)
    subprocess.run([str(python), "-m", "pip", "install", "-q", CELERY_REQUIREMENT], check=True)
    check = subprocess.run(
        [str(python), "-c", "import celery; print(celery.__version__)"], check=True, capture_output=True, text=True
    )
    if check.stdout.strip() != CELERY_VERSION:
        raise RuntimeError(f"the conformance venv has celery {check.stdout.strip()}, wanted {CELERY_VERSION}")
    stamp.touch()
    return python


def _log(path: Path) -> IO[bytes]:
    return open(path, "ab")  # noqa: SIM115 - closed by the owner's stop()


class Redis:
    """A private redis-server on a free loopback port."""

    NO_PERSISTENCE = ("--save", "", "--appendonly", "no")

    def __init__(self, workdir: Path, persistence: tuple[str, ...] = NO_PERSISTENCE) -> None:
        self.dir = workdir / "redis"
        self.persistence = persistence
        self.dir.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        self.proc: subprocess.Popen[bytes] | None = None
        self._log: IO[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}"

    def start(self) -> Redis:
        exe = shutil.which("redis-server")
        if exe is None:
            raise RuntimeError("redis-server is not installed: run `make redis` (Debian's redis-server package)")
        self._log = _log(self.dir / "redis.log")
        argv = [exe, "--port", str(self.port), "--bind", "127.0.0.1", "--dir", str(self.dir)]
        argv += [*self.persistence, "--daemonize", "no", "--protected-mode", "yes"]
        self.proc = subprocess.Popen(argv, stdout=self._log, stderr=subprocess.STDOUT, start_new_session=True)
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                break
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.5) as s:
                    s.sendall(b"PING\r\n")
                    if s.recv(16).startswith(b"+PONG"):
                        return self
            except OSError:
                time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"redis-server did not start (log {self.dir / 'redis.log'})")

    def stop(self) -> None:
        terminate(self.proc, 5)
        if self._log is not None:
            self._log.close()
            self._log = None


def celery_env(python: Path, redis: Redis, record_dir: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MOTET_", "VIRTUAL_ENV", "PYTHONHOME"))}
    env.update(
        PATH=f"{python.parent}{os.pathsep}{os.environ.get('PATH', '')}",
        PYTHONPATH=str(ROOT),
        PYTHONUNBUFFERED="1",
        CONF_BROKER=f"{redis.url}/0",
        CONF_BACKEND=f"{redis.url}/1",
        CONF_RECORD_DIR=str(record_dir),
    )
    return env


class CeleryWorker:
    """``celery worker -P threads -c 8 -Q celery,q2`` from the Celery venv (the benchmarks pass
    their own app, pool and concurrency)."""

    def __init__(
        self,
        python: Path,
        env: dict[str, str],
        workdir: Path,
        *,
        app: str = "tests.conformance.celery_app",
        pool: str = "threads",
        concurrency: int = 8,
        queues: str = "celery,q2",
    ) -> None:
        self.python = python
        self.app = app
        self.pool = pool
        self.concurrency = concurrency
        self.queues = queues
        self.env = env
        self.log_path = workdir / "celery-worker.log"
        self.proc: subprocess.Popen[bytes] | None = None
        self._log: IO[bytes] | None = None

    def start(self) -> CeleryWorker:
        self._log = _log(self.log_path)
        argv = [str(self.python), "-m", "celery", "-A", self.app, "worker"]
        argv += ["-P", self.pool, "-c", str(self.concurrency), "-Q", self.queues]
        argv += ["-l", "info", "-n", f"conformance-{os.getpid()}@%h"]
        argv += ["--without-gossip", "--without-mingle", "--without-heartbeat"]
        self.proc = subprocess.Popen(
            argv, stdout=self._log, stderr=subprocess.STDOUT, env=self.env, cwd=ROOT, start_new_session=True
        )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if " ready." in self.log_path.read_text(errors="replace"):
                return self
            if self.proc.poll() is not None:
                break
            time.sleep(0.1)
        tail = "\n".join(self.log_path.read_text(errors="replace").splitlines()[-30:])
        self.stop()
        raise RuntimeError(f"the Celery worker did not become ready (log {self.log_path}):\n{tail}")

    def stop(self) -> None:
        terminate(self.proc, 10)
        if self._log is not None:
            self._log.close()
            self._log = None


class CeleryRunner:
    """The Celery venv's python running the corpus (`execute --system celery`), streaming one
    JSON line per program to a file; `observation(name)` waits for that program's line."""

    def __init__(self, python: Path, env: dict[str, str], workdir: Path, names: list[str]) -> None:
        self.python = python
        self.env = env
        self.names = names
        self.out = workdir / "celery-observations.jsonl"
        self.log_path = workdir / "celery-runner.log"
        self.proc: subprocess.Popen[bytes] | None = None
        self._log: IO[bytes] | None = None
        self._seen: dict[str, dict[str, Any]] = {}
        self._offset = 0
        self._done = False

    def start(self) -> CeleryRunner:
        self._log = _log(self.log_path)
        self.out.touch()
        argv = [str(self.python), "-m", "tests.conformance.execute", "--system", "celery", "--out", str(self.out)]
        argv += ["--only", ",".join(self.names)]
        self.proc = subprocess.Popen(
            argv, stdout=self._log, stderr=subprocess.STDOUT, env=self.env, cwd=ROOT, start_new_session=True
        )
        return self

    def _poll(self) -> None:
        with self.out.open() as fh:
            fh.seek(self._offset)
            while True:
                line = fh.readline()
                if not line.endswith("\n"):
                    break
                self._offset = fh.tell()
                entry = json.loads(line)
                if entry.get("done"):
                    self._done = True
                else:
                    self._seen[entry["program"]] = entry

    def observation(self, name: str, timeout: float) -> dict[str, Any]:
        """Celery's entry for program `name` (waits for the runner to get there)."""
        deadline = time.monotonic() + timeout
        while True:
            self._poll()
            if name in self._seen:
                return self._seen[name]
            exited = self.proc is not None and self.proc.poll() is not None
            if self._done or exited:
                self._poll()
                if name in self._seen:
                    return self._seen[name]
                tail = "\n".join(self.log_path.read_text(errors="replace").splitlines()[-30:])
                raise RuntimeError(f"the Celery runner ended without observing {name} (log {self.log_path}):\n{tail}")
            if time.monotonic() > deadline:
                raise RuntimeError(f"the Celery runner did not observe {name} within {timeout:.0f} s")
            time.sleep(0.05)

    def stop(self) -> None:
        terminate(self.proc, 5)
        if self._log is not None:
            self._log.close()
            self._log = None
