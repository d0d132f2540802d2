"""The side-by-side benchmark builds the same canvas on both systems (bench/scenarios.py).

Motet's shapes are checked here; Celery's are built by the conformance venv's python when that
venv exists (`make test-conformance` creates it), else that half is skipped. No timing.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest
from bench.shapes import SIZES, shapes

from tests.conformance.services import CELERY_VERSION, venv_dir

ROOT = Path(__file__).resolve().parents[2]


def test_motet_shapes() -> None:
    got = shapes("motet")
    assert len(got["S1"]["kwargs"]["tasks"]) == SIZES["S1"]
    assert got["S3"]["type"] == "chain" and len(got["S3"]["kwargs"]["tasks"]) == SIZES["S3"]
    assert got["S4"]["type"] == "chord" and got["S4"]["kwargs"]["body"]["task"] == "tsum"
    assert len(got["S5"]) == 10 and all(len(c["kwargs"]["header"]) == SIZES["S5"] for c in got["S5"])
    assert got["S6"]["task"] == "chunks" and got["S6"]["kwargs"]["n"] == 100
    assert got["S7"]["task"] == "starmap" and len(got["S7"]["kwargs"]["it"]) == SIZES["S7"]


def test_celery_builds_the_same_shapes() -> None:
    python = venv_dir() / "bin" / "python"
    if not (python.exists() and (venv_dir() / f".installed-{CELERY_VERSION}").exists()):
        pytest.skip("no Celery venv (make test-conformance creates it)")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("VIRTUAL_ENV", "PYTHONHOME"))}
    env["PYTHONPATH"] = str(ROOT)
    out = subprocess.run(
        [str(python), "-m", "bench.shapes", "celery"], env=env, cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout
    assert json.loads(out) == shapes("motet")
