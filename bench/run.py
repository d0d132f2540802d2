"""One system's client side of a side-by-side round: ``python -m bench.run --system motet|celery
--scenarios S1,S2 --sizes S1=2000,S2=50``, run by the system's own python (the Motet venv, or
the Celery venv) so each client is a fresh process of the same shape. Prints one JSON line per
scenario. For Motet, with --metrics, it also reads the scheduler's and etcd's counters around
each scenario (etcd transactions, ops, bytes and fsyncs per task).
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import urllib.request

from bench.scenarios import CURVES, SCENARIOS, Canvas, run

COUNTERS = {
    # scheduler
    "txn": r'^motet_etcd_txn_total\{[^}]*outcome="committed"[^}]*\} (\S+)$',
    "ops": r"^motet_etcd_txn_ops_sum(?:\{[^}]*\})? (\S+)$",
    "txn_seconds": r"^motet_etcd_txn_seconds_sum\{[^}]*\} (\S+)$",
    # etcd
    "etcd_bytes_in": r"^etcd_network_client_grpc_received_bytes_total(?:\{[^}]*\})? (\S+)$",
    "fsyncs": r"^etcd_disk_wal_fsync_duration_seconds_count (\S+)$",
    "fsync_seconds": r"^etcd_disk_wal_fsync_duration_seconds_sum (\S+)$",
}


def scrape(urls: list[str]) -> dict[str, float]:
    """The sum of each counter over the given /metrics endpoints (every matching series)."""
    totals = dict.fromkeys(COUNTERS, 0.0)
    for url in urls:
        with urllib.request.urlopen(url, timeout=5) as resp:  # noqa: S310 - loopback only
            text = resp.read().decode()
        for key, pattern in COUNTERS.items():
            totals[key] += sum(float(v) for v in re.findall(pattern, text, re.MULTILINE))
    return totals


def canvas(system: str) -> Canvas:
    if system == "motet":
        from examples.guide.tasks import add, tsum
        from motet import chain, chord, group
    else:
        from celery import chain, chord, group

        from bench.celery_tasks import add, tsum
    return Canvas(group=group, chain=chain, chord=chord, add=add, tsum=tsum)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="bench.run")
    parser.add_argument("--system", choices=("motet", "celery"), required=True)
    parser.add_argument("--scenarios", default="")
    parser.add_argument("--sizes", default="", help="S1=2000,S2=50,...")
    parser.add_argument("--curve", default="", help="a scale curve and its sizes: chord=10,100,1000")
    parser.add_argument("--metrics", default="", help="comma-separated /metrics URLs (Motet)")
    args = parser.parse_args(argv)
    runs: list[tuple[str, int, str]] = []  # (scenario, size, curve name or "")
    if args.sizes:
        sizes = {k: int(v) for k, v in (item.split("=") for item in args.sizes.split(","))}
        runs += [(name, sizes[name], "") for name in args.scenarios.split(",") if name]
    if args.curve:
        curve, _, ladder = args.curve.partition("=")
        runs += [(CURVES[curve].scenario, int(n), curve) for n in ladder.split(",")]
    urls = [u for u in args.metrics.split(",") if u]
    c = canvas(args.system)
    assert c.add.delay(1, 1).get(timeout=60) == 2  # warm the connections
    for name, size, curve in runs:
        before = scrape(urls) if urls else {}
        figures = run(name, size, c)
        entry: dict[str, object] = {"scenario": name, "size": size, "figures": figures}
        if curve:
            entry["curve"] = curve
        if urls:
            after = scrape(urls)
            tasks = SCENARIOS[name].tasks(size)
            entry["per_task"] = {k: (after[k] - before[k]) / tasks for k in COUNTERS}
        print(json.dumps(entry), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
