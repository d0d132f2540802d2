"""The side-by-side benchmark builds the same canvas on both systems (bench/scenarios.py).

Motet's shapes are checked here; that Celery builds the same ones is checked with the
conformance suite's Celery (tests/conformance/test_bench_shapes.py). No timing.
"""

from __future__ import annotations

from bench.shapes import SIZES, shapes


def test_motet_shapes() -> None:
    got = shapes("motet")
    assert len(got["S1"]["kwargs"]["tasks"]) == SIZES["S1"]
    assert got["S3"]["type"] == "chain" and len(got["S3"]["kwargs"]["tasks"]) == SIZES["S3"]
    assert got["S4"]["type"] == "chord" and got["S4"]["kwargs"]["body"]["task"] == "tsum"
    assert len(got["S5"]) == 10 and all(len(c["kwargs"]["header"]) == SIZES["S5"] for c in got["S5"])
    assert got["S6"]["task"] == "chunks" and got["S6"]["kwargs"]["n"] == 100
    assert got["S7"]["task"] == "starmap" and len(got["S7"]["kwargs"]["it"]) == SIZES["S7"]
