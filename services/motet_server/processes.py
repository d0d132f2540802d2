"""Stopping a child process the same way everywhere: SIGTERM, a grace period, then SIGKILL."""

from __future__ import annotations

import signal
import subprocess

__all__ = ["terminate"]


def terminate(proc: subprocess.Popen[bytes] | None, timeout: float) -> None:
    """Stops `proc` by its pid: SIGTERM, then SIGKILL if it is still running after `timeout`."""
    if proc is None or proc.poll() is not None:
        return
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
