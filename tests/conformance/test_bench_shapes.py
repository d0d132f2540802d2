"""The side-by-side benchmark (bench/scenarios.py) builds on real Celery 5.7 the same canvas
shapes as on Motet (tests/unit/test_bench_scenarios.py checks Motet's). No timing."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

from bench.shapes import shapes

from tests.conformance.services import ensure_celery_venv

ROOT = Path(__file__).resolve().parents[2]


def test_celery_builds_the_same_shapes() -> None:
    python = ensure_celery_venv()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("VIRTUAL_ENV", "PYTHONHOME"))}
    env["PYTHONPATH"] = str(ROOT)
    out = subprocess.run(
        [str(python), "-m", "bench.shapes", "celery"], env=env, cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout
    assert json.loads(out) == shapes("motet")
