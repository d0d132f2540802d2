"""`make bench-motet` (`python -m bench.canvas` from the repository root): Motet's figures on
this machine alone (`make bench`, bench/sidebyside.py, runs Celery beside it).

Starts a private cluster (etcd, scheduler, results, workers) and measures: fan-out (10,000
independent tasks), round trip (sequential `delay().get()`), a 100-step chain and a
1,000-wide chord. Prints figures; asserts nothing about speed (the machine is shared).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time

from examples.guide.tasks import add, tsum
from motet import chain, chord, group
from motet_server.devcluster import DevCluster


def _fan_out(n: int) -> str:

    started = time.perf_counter()
    res = group(add.s(i, i) for i in range(n)).apply_async()
    values = res.get(timeout=600)
    took = time.perf_counter() - started
    assert values == [2 * i for i in range(n)]
    return f"fan-out   {n:>6} independent tasks: {took:6.2f} s  ({n / took:,.0f} tasks/s)"


def _round_trip(n: int) -> str:

    add.delay(1, 1).get(timeout=30)  # warm the channels
    samples = []
    for i in range(n):
        started = time.perf_counter()
        assert add.delay(i, 1).get(timeout=30) == i + 1
        samples.append(time.perf_counter() - started)
    p50 = statistics.median(samples) * 1000
    p99 = sorted(samples)[int(len(samples) * 0.99) - 1] * 1000
    return f"round trip delay().get() x{n}: p50 {p50:.2f} ms, p99 {p99:.2f} ms"


def _chain(n: int) -> str:

    started = time.perf_counter()
    value = chain(add.s(0, 0), *(add.s(1) for _ in range(n - 1)))().get(timeout=300)
    took = time.perf_counter() - started
    assert value == n - 1
    return f"chain     {n:>6} steps: {took:6.3f} s  ({took / n * 1000:.2f} ms/step)"


def _chord(n: int) -> str:

    started = time.perf_counter()
    value = chord(add.s(i, i) for i in range(n))(tsum.s()).get(timeout=600)
    took = time.perf_counter() - started
    assert value == n * (n - 1)
    return f"chord     {n:>6} wide: {took:6.3f} s"


def main(argv: list[str] | None = None) -> int:
    """Runs the benchmarks and prints one line per figure."""
    parser = argparse.ArgumentParser(prog="motet-bench")
    parser.add_argument("--tasks", type=int, default=10_000)
    parser.add_argument("--round-trips", type=int, default=300)
    parser.add_argument("--chain", type=int, default=100)
    parser.add_argument("--chord", type=int, default=1000)
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--concurrency", type=int, default=8)
    args = parser.parse_args(argv)
    with DevCluster(
        app="examples.guide.tasks", ports="free", workers=args.workers, concurrency=args.concurrency
    ) as cluster:
        os.environ["MOTET_SCHEDULER"] = cluster.scheduler
        os.environ["MOTET_RESULTS"] = cluster.results
        print(f"cluster: {args.workers} worker(s) x {args.concurrency} threads, etcd {cluster.etcd}", flush=True)
        print(_round_trip(args.round_trips), flush=True)
        print(_chain(args.chain), flush=True)
        print(_chord(args.chord), flush=True)
        print(_fan_out(args.tasks), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
