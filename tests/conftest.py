"""Test-suite wide: marker registration only (fixtures live in tests/support/fixtures.py)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

# `tests.*` and `examples.*` are imported by absolute name from the repository root.
_ROOT = str(Path(__file__).resolve().parent.parent)
if _ROOT not in sys.path:
    sys.path.insert(0, _ROOT)


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "slow: takes more than ~10 s (load tests, wide canvases)")
    config.addinivalue_line("markers", "fault: kills or restarts processes mid-run")
    config.addinivalue_line("markers", "polyglot: needs Node.js clients / workers")
