"""What one task costs in etcd (`python -m bench.capacity` from the repository root).

Starts a private cluster, runs batches of independent tasks and a chord, and reads etcd's own
figures before and after: keys under the Motet prefix, revisions, the database size
(`etcd_mvcc_db_total_size_in_bytes` on etcd's /metrics) and the bytes of the keys and values
that stay once the work is done (the results, until they expire). Prints figures; asserts
nothing about them. docs/capacity.md turns them into sizing rules.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import urllib.request

from examples.guide.tasks import add, tsum
from motet import chord, group
from motet_server.devcluster import DevCluster
from motet_server.store.etcd import Etcd


def _db_size(endpoint: str) -> int:
    with urllib.request.urlopen(f"http://{endpoint}/metrics", timeout=10) as reply:
        text = reply.read().decode()
    match = re.search(r"^etcd_mvcc_db_total_size_in_bytes (\S+)$", text, flags=re.M)
    return int(float(match.group(1))) if match else 0


async def _snapshot(endpoint: str) -> tuple[int, int, int]:
    """(keys under /motet/, their key + value bytes, the store revision)."""
    async with await Etcd.connect([endpoint], timeout=30) as etcd:
        kvs, _ = await etcd.get_prefix(b"/motet/")
        revision = await etcd.revision()
    return len(kvs), sum(len(kv.key) + len(kv.value) for kv in kvs), revision


def _measure(endpoint: str, label: str, n: int, run: object) -> str:
    keys0, bytes0, rev0 = asyncio.run(_snapshot(endpoint))
    db0 = _db_size(endpoint)
    run()  # type: ignore[operator]
    keys1, bytes1, rev1 = asyncio.run(_snapshot(endpoint))
    db1 = _db_size(endpoint)
    return (
        f"{label:<28} per task: {(keys1 - keys0) / n:5.2f} keys kept, {(bytes1 - bytes0) / n:7.1f} bytes kept, "
        f"{(rev1 - rev0) / n:5.2f} revisions, {(db1 - db0) / n:8.1f} db bytes"
    )


def main(argv: list[str] | None = None) -> int:
    """Runs the measurements and prints one line per workload."""
    parser = argparse.ArgumentParser(prog="motet-capacity")
    parser.add_argument("--tasks", type=int, default=5000)
    args = parser.parse_args(argv)
    n = args.tasks
    with DevCluster(app="examples.guide.tasks", ports="free", workers=1, concurrency=8) as cluster:
        os.environ["MOTET_SCHEDULER"] = cluster.scheduler
        os.environ["MOTET_RESULTS"] = cluster.results
        add.delay(1, 1).get(timeout=60)  # warm up: sessions, leases

        def independent() -> None:
            res = group(add.s(i, i) for i in range(n)).apply_async()
            assert res.get(timeout=600) == [2 * i for i in range(n)]

        def one_chord() -> None:
            assert chord(add.s(i, i) for i in range(n))(tsum.s()).get(timeout=600) == n * (n - 1)

        def sequential() -> None:
            for i in range(n // 10):
                assert add.delay(i, 1).get(timeout=60) == i + 1

        print(f"etcd {cluster.etcd}, {n} tasks per workload", flush=True)
        print(_measure(cluster.etcd, "group of independent tasks", n, independent), flush=True)
        print(_measure(cluster.etcd, "chord header + body", n + 1, one_chord), flush=True)
        print(_measure(cluster.etcd, "one delay() at a time", n // 10, sequential), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
