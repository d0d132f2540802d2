"""The environment of a service or program a test starts as a process."""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["process_env"]

ROOT = str(Path(__file__).resolve().parents[2])

_CREDENTIALS = ("MOTET_TLS_CA", "MOTET_TLS_CERT", "MOTET_TLS_KEY", "MOTET_TOKEN")


def process_env(**extra: str) -> dict[str, str]:
    """This process's environment plus ``extra``, the repository on PYTHONPATH, unbuffered
    output, and no TLS files or token unless ``extra`` gives them (each test chooses its own)."""
    env = {**os.environ, "PYTHONUNBUFFERED": "1", **extra}
    env["PYTHONPATH"] = os.pathsep.join(p for p in (ROOT, env.get("PYTHONPATH", "")) if p)
    for var in _CREDENTIALS:
        if var not in extra:
            env.pop(var, None)
    return env
