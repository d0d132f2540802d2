"""Store micro-benchmark, run from the repository root: ``python -m bench.store [ENDPOINT]``.

Starts a private etcd unless an endpoint is given; prints txn/s sequential and 32 in flight,
STM commits/s, and the time to commit a spilled write set of 10,000 puts.
"""

from __future__ import annotations

import asyncio
import sys
import time
import uuid

from motet_server.store.etcd import Etcd
from motet_server.store.etcd_process import EtcdProcess
from motet_server.store.keys import Keys
from motet_server.store.kv import Compare, Op
from motet_server.store.stm import STM


async def _bench(endpoint: str) -> None:
    etcd = await Etcd.connect(endpoint)
    keys = Keys(f"bench-{uuid.uuid4().hex[:8]}")
    n = 2000

    async def one(i: int) -> None:
        k = keys.task(str(i))
        await etcd.txn([Compare.create(k, "==", 0)], [Op.put(k, b"x" * 200)])

    t = time.perf_counter()
    for i in range(n):
        await one(i)
    print(f"sequential guarded txn: {n / (time.perf_counter() - t):,.0f}/s")

    t = time.perf_counter()
    sem = asyncio.Semaphore(32)

    async def bounded(i: int) -> None:
        async with sem:
            await one(n + i)

    await asyncio.gather(*(bounded(i) for i in range(n)))
    print(f"guarded txn, 32 in flight: {n / (time.perf_counter() - t):,.0f}/s")

    t = time.perf_counter()
    for i in range(n // 2):
        stm = STM(etcd, keys)
        await stm.get(keys.task(str(i)))
        stm.put(keys.task(str(i)), b"y" * 200)
        assert await stm.commit()
    print(f"sequential STM read+write commit: {n / 2 / (time.perf_counter() - t):,.0f}/s")

    t = time.perf_counter()
    stm = STM(etcd, keys)
    for i in range(10_000):
        stm.put(keys.result(str(i)), b"z" * 200)
    assert await stm.commit()
    print(f"10,000-put write set via outbox: {time.perf_counter() - t:.2f} s")
    await etcd.delete_prefix(keys.root)
    await etcd.close()


def main() -> None:
    """Runs the benchmark."""
    if len(sys.argv) > 1:
        asyncio.run(_bench(sys.argv[1]))
        return
    with EtcdProcess() as proc:
        asyncio.run(_bench(proc.endpoint))


if __name__ == "__main__":
    main()
