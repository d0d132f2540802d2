"""Load: 50,000 tasks from 50 concurrent clients in mixed canvases, on a real cluster (issue 8).

Checks, not timings (figures are printed, and `docs/capacity.md` turns them into sizing rules):
every task ran exactly once and every canvas returned the right value; the scheduler's and
the results service's memory is flat from the first half of the run to the second (a leak
grows with every task; a warm heap does not); nothing waits on the results service once the
clients are done; and no etcd key is left once results are forgotten or have expired.

Marker `slow`; it runs in `make test` (about 4 minutes on 2 cores, most of it waiting for
results to expire) and alone with
``.venv/bin/python -m pytest -m slow tests/load``.
"""

from __future__ import annotations

import asyncio
import re
import time
import urllib.request
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from motet_server.devcluster import DevCluster
from motet_server.store.etcd import Etcd
from motet_server.store.keys import Keys

pytestmark = [pytest.mark.slow, pytest.mark.timeout(900)]

CLIENTS = 50
ROUNDS = 2
PER_CLIENT = 500
"""Tasks each client submits per round: 2 groups of 100, 5 chords of 20 + body, 10 chains of 5,
145 single tasks. 2 rounds x 50 clients x 500 = 50,000 tasks."""
EXPIRES = 90
"""Seconds results are kept in this cluster (a result lives between 90 and 112 s): longer than a
round, whose clients submit everything first and then read (an expired result reads PENDING,
as in Celery)."""
RSS_GROWTH_LIMIT = 0.25
"""How much more a service may hold after the second half than after the first (25 %)."""


def _rss(pid: int | None) -> int:
    assert pid is not None
    text = Path(f"/proc/{pid}/status").read_text()
    match = re.search(r"^VmRSS:\s+(\d+) kB", text, flags=re.M)
    assert match is not None
    return int(match.group(1)) * 1024


def _metric(endpoint: str, name: str) -> float:
    with urllib.request.urlopen(f"http://{endpoint}/metrics", timeout=10) as reply:
        text = reply.read().decode()
    match = re.search(rf"^{re.escape(name)}(?:\{{[^}}]*\}})? (\S+)$", text, flags=re.M)  # {namespace=...}
    assert match is not None, f"{name} is not exported by {endpoint}"
    return float(match.group(1))


def _client_round(rnd: int, client: int) -> tuple[list[str], list[Any]]:
    """Submits one client's 500 tasks, waits for every canvas, checks its value.

    Returns the tags that must each have run once, and the results to forget or let expire.
    """
    from motet import chain, chord, group
    from tests.load.tasks import add, tsum

    prefix = f"r{rnd}c{client}"
    tags: list[str] = []
    pending: list[tuple[Any, Any]] = []
    for g in range(2):
        members = [f"{prefix}g{g}m{i}" for i in range(100)]
        tags += members
        res = group(add.s(i, i, tag) for i, tag in enumerate(members)).apply_async()
        pending.append((res, [2 * i for i in range(100)]))
    for c in range(5):
        members = [f"{prefix}h{c}m{i}" for i in range(20)]
        body = f"{prefix}h{c}body"
        tags += [*members, body]
        res = chord(add.s(i, 1, tag) for i, tag in enumerate(members))(tsum.s(tag=body))
        pending.append((res, sum(i + 1 for i in range(20))))
    for c in range(10):
        steps = [f"{prefix}s{c}n{i}" for i in range(5)]
        tags += steps
        res = chain(add.s(c, 0, steps[0]), *(add.s(1, tag=tag) for tag in steps[1:])).apply_async()
        pending.append((res, c + 4))
    for i in range(PER_CLIENT - 200 - 105 - 50):
        tag = f"{prefix}t{i}"
        tags.append(tag)
        pending.append((add.delay(i, client, tag), i + client))
    for res, expected in pending:
        value = res.get(timeout=300)
        assert value == expected, f"{prefix}: {value!r} != {expected!r}"
    return tags, [res for res, _ in pending]


def _executions(folder: Path) -> Counter[str]:
    ran: Counter[str] = Counter()
    for path in folder.glob("exec-*"):
        ran.update(path.read_text().split())
    return ran


def _forget_all(res: Any) -> None:
    """Forgets a canvas's result and every result upstream of it (chain steps, chord headers)."""
    while res is not None:
        res.forget()
        res = getattr(res, "parent", None)


async def _revision(endpoint: str) -> int:
    async with await Etcd.connect([endpoint]) as etcd:
        return await etcd.revision()


def _db_bytes(endpoint: str) -> float:
    """etcd's database size (etcd_mvcc_db_total_size_in_bytes on its /metrics)."""
    return _metric(endpoint, "etcd_mvcc_db_total_size_in_bytes")


async def _keys_left(endpoint: str) -> dict[str, int]:
    """Motet's keys in etcd by kind, leaving out the live workers' session records."""
    keys = Keys()
    async with await Etcd.connect([endpoint]) as etcd:
        kvs, _ = await etcd.get_prefix(keys.root + b"/")
    kinds: Counter[str] = Counter()
    for kv in kvs:
        kind = kv.key[len(keys.root) + 1 :].split(b"/", 1)[0].decode()
        if kind != "session":
            kinds[kind] += 1
    return dict(kinds)


def test_50000_tasks_from_50_clients(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from motet import state
    from tests.load.tasks import app

    record = tmp_path / "executions"
    record.mkdir()
    env = {"MOTET_LOAD_DIR": str(record), "MOTET_RESULT_EXPIRES": str(EXPIRES)}
    with DevCluster(app="tests.load.tasks", ports="free", workers=2, concurrency=16, env=env) as cluster:
        monkeypatch.setenv("MOTET_SCHEDULER", cluster.scheduler)
        monkeypatch.setenv("MOTET_RESULTS", cluster.results)
        saved = state._current
        state.set_current_app(app)
        try:
            services = {"scheduler": cluster.scheduler_process, "results": cluster.results_process}
            rss: list[dict[str, int]] = []
            tags: list[str] = []
            results: list[Any] = []
            rev0, db0 = asyncio.run(_revision(cluster.etcd)), _db_bytes(cluster.etcd)
            started = time.monotonic()
            with ThreadPoolExecutor(CLIENTS, thread_name_prefix="client") as pool:
                for rnd in range(ROUNDS):
                    t0 = time.monotonic()
                    for round_tags, round_results in pool.map(lambda c, r=rnd: _client_round(r, c), range(CLIENTS)):
                        tags += round_tags
                        results += round_results
                    seconds = time.monotonic() - t0
                    time.sleep(2.0)  # let the services settle before reading their memory
                    rss.append({name: _rss(proc.pid if proc else None) for name, proc in services.items()})
                    print(
                        f"\nload round {rnd + 1}: {CLIENTS * PER_CLIENT} tasks in {seconds:.1f} s "
                        f"({CLIENTS * PER_CLIENT / seconds:.0f} tasks/s); rss "
                        + ", ".join(f"{n} {b / 2**20:.0f} MiB" for n, b in rss[-1].items())
                    )
            total = time.monotonic() - started
            rev1, db1 = asyncio.run(_revision(cluster.etcd)), _db_bytes(cluster.etcd)
            print(
                f"load: {len(tags)} tasks in {total:.1f} s; etcd {(rev1 - rev0) / len(tags):.2f} revisions "
                f"and {(db1 - db0) / len(tags):.0f} db bytes per task (no compaction during the run)"
            )
            assert len(tags) == CLIENTS * ROUNDS * PER_CLIENT == 50_000

            # Every task exactly once (no faults here, so no redelivery either).
            ran = _executions(record)
            assert sum(ran.values()) == len(tags), f"{sum(ran.values())} executions for {len(tags)} tasks"
            assert set(ran) == set(tags)
            assert max(ran.values()) == 1

            # Memory flat: the second half adds (almost) nothing to what the first half left.
            for name in services:
                first, second = rss[0][name], rss[-1][name]
                assert second <= first * (1 + RSS_GROWTH_LIMIT), (
                    f"{name} grew from {first / 2**20:.0f} MiB to {second / 2**20:.0f} MiB over the second half"
                )
            assert _metric(cluster.results_metrics, "motet_wait_streams") == 0

            # Forget the second round's results (every node of each canvas) and half the
            # first round's; the rest expire with their lease.
            half = len(results) // 2
            for res in results[half:] + results[:half:2]:
                _forget_all(res)
            deadline = time.monotonic() + EXPIRES * 1.25 + 30
            left = asyncio.run(_keys_left(cluster.etcd))
            while left and time.monotonic() < deadline:
                time.sleep(2.0)
                left = asyncio.run(_keys_left(cluster.etcd))
            print(f"load: keys left after forgetting and expiry: {left or 'none'}")
            assert not left, f"keys left in etcd after every result was forgotten or expired: {left}"
        finally:
            if saved is not None:
                state.set_current_app(saved)
