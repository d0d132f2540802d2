"""The environment of a service or program a test starts as a process."""

from __future__ import annotations

import os
from pathlib import Path

from motet_server.devcluster import SECURED_SETTINGS

__all__ = ["process_env"]

ROOT = str(Path(__file__).resolve().parents[2])


def process_env(**extra: str) -> dict[str, str]:
    """This process's environment plus ``extra``, the repository on PYTHONPATH, unbuffered
    output, and none of a secured deployment's settings (TLS files, tokens, etcd access) unless
    ``extra`` gives them: each test chooses its own, as `motet dev` does (`SECURED_SETTINGS`)."""
    env = {**os.environ, "PYTHONUNBUFFERED": "1", **extra}
    env["PYTHONPATH"] = os.pathsep.join(p for p in (ROOT, env.get("PYTHONPATH", "")) if p)
    for var in SECURED_SETTINGS:
        if var not in extra:
            env.pop(var, None)
    return env
