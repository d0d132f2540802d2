"""The side-by-side scenarios, written once against the canvas API both systems share.

Nothing here imports Motet or Celery: `build(name, size, canvas)` takes the system's `group`,
`chain`, `chord` and its `add` / `tsum` tasks, so the same function builds each system's canvas,
and `run` times it. Runs in the Motet venv and in the Celery venv (`bench.run`).
"""

from __future__ import annotations

import statistics
import time
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Canvas:
    """One system's canvas primitives and the benchmark's two tasks."""

    group: Any
    chain: Any
    chord: Any
    add: Any
    tsum: Any


@dataclass(frozen=True)
class Scenario:
    name: str
    title: str
    full: int
    quick: int
    unit: str  # "tasks/s", "ms" (p50/p99) or "s"

    def tasks(self, size: int) -> int:
        """How many task executions the scenario asks for (to divide etcd figures by)."""
        return {
            "S1": size,
            "S2": size,
            "S3": size,
            "S4": size + 1,
            "S5": 10 * (size + 1),
            "S6": -(-size // 100),
            "S7": 1,
        }[self.name]


SCENARIOS: dict[str, Scenario] = {
    s.name: s
    for s in (
        Scenario("S1", "independent adds, one group", 10_000, 2_000, "tasks/s"),
        Scenario("S2", "sequential add.delay(1, 1).get()", 200, 50, "ms"),
        Scenario("S3", "chain of adds", 100, 100, "s"),
        Scenario("S4", "chord of adds -> tsum", 1_000, 200, "s"),
        Scenario("S5", "10 chords x N adds -> tsum, submitted together", 100, 100, "s"),
        Scenario("S6", "add.chunks(zip(range(N), range(N)), 100)", 10_000, 2_000, "s"),
        Scenario("S7", "add.starmap of N pairs (one task)", 10_000, 2_000, "s"),
    )
}


@dataclass(frozen=True)
class Curve:
    """One scale curve: a scenario run at a ladder of sizes (Motet only)."""

    name: str
    scenario: str
    title: str
    member: str
    full: tuple[int, ...]
    quick: tuple[int, ...]


CURVES: dict[str, Curve] = {
    c.name: c
    for c in (
        Curve(
            "chord",
            "S4",
            "chord width (chord of N adds -> tsum)",
            "member",
            (10, 100, 1_000, 10_000, 100_000),
            (10, 100, 1_000),
        ),
        Curve(
            "group", "S1", "group size (group of N adds)", "member", (10, 100, 1_000, 10_000, 100_000), (10, 100, 1_000)
        ),
        Curve("chain", "S3", "chain length (chain of N adds)", "step", (10, 100, 1_000), (10, 100)),
    )
}
"""The issue's scale curves: time and etcd bytes per member must grow linearly in N (a flat
per-member cost), and a chain's per-step cost must stay flat."""


def build(name: str, size: int, c: Canvas) -> Any:
    """The canvas of scenario `name` (S2 is a single signature, sent `size` times)."""
    if name == "S1":
        return c.group([c.add.s(i, i) for i in range(size)])
    if name == "S2":
        return c.add.s(1, 1)
    if name == "S3":
        return c.chain(c.add.s(0, 0), *(c.add.s(1) for _ in range(size - 1)))
    if name == "S4":
        return c.chord([c.add.s(i, i) for i in range(size)], c.tsum.s())
    if name == "S5":
        return [c.chord([c.add.s(i, k) for i in range(size)], c.tsum.s()) for k in range(10)]
    if name == "S6":
        return c.add.chunks(zip(range(size), range(size), strict=True), 100)
    if name == "S7":
        return c.add.starmap(zip(range(size), range(size), strict=True))
    raise KeyError(name)


def expected(name: str, size: int) -> Any:
    if name == "S1":
        return [2 * i for i in range(size)]
    if name == "S3":
        return size - 1
    if name == "S4":
        return size * (size - 1)
    if name == "S5":
        return [size * (size - 1) // 2 + size * k for k in range(10)]
    if name == "S6":
        return [[2 * i for i in range(j, min(j + 100, size))] for j in range(0, size, 100)]
    if name == "S7":
        return [2 * i for i in range(size)]
    raise KeyError(name)


TIMEOUT = 1200


def run(name: str, size: int, c: Canvas) -> dict[str, float]:
    """Runs scenario `name` once; returns its figures (seconds, or p50/p99 ms for S2)."""
    if name == "S2":
        samples = []
        for _ in range(size):
            started = time.perf_counter()
            value = c.add.delay(1, 1).get(timeout=30)
            samples.append(time.perf_counter() - started)
            assert value == 2, value
        ordered = sorted(samples)
        p99 = ordered[min(len(ordered) - 1, max(0, int(len(ordered) * 0.99) - 1))]
        return {"p50_ms": statistics.median(samples) * 1000, "p99_ms": p99 * 1000, "seconds": sum(samples)}
    sig = build(name, size, c)
    started = time.perf_counter()
    if name == "S5":
        results = [s.apply_async() for s in sig]
        value: Any = [r.get(timeout=TIMEOUT) for r in results]
    else:
        value = sig.apply_async().get(timeout=TIMEOUT)
    took = time.perf_counter() - started
    if value != expected(name, size):
        raise AssertionError(f"{name}: unexpected result {str(value)[:200]}")
    out = {"seconds": took}
    if name == "S1":
        out["tasks_per_s"] = size / took
    return out
