"""Starts a results service: store connection, the shared results watch and the gRPC server."""

from __future__ import annotations

import asyncio
import logging
import signal
from collections.abc import Callable

from motet.v1 import results_pb2_grpc
from motet_server.result_lease import ResultLease
from motet_server.results.service import ResultsServicer
from motet_server.rpc.server import ServiceSpec, start_server
from motet_server.store.etcd import Etcd
from motet_server.store.keys import Keys

__all__ = ["serve"]

log = logging.getLogger(__name__)


async def serve(
    *,
    listen: str,
    etcd: list[str],
    namespace: str = "default",
    metrics_listen: str | None = None,
    ready: Callable[[int], None] | None = None,
) -> None:
    """Runs a results service until SIGTERM / SIGINT (arguments as for the scheduler)."""
    store = await Etcd.connect(etcd)
    keys = Keys(namespace)
    lease = ResultLease(store)
    await lease.start()
    servicer = ResultsServicer(store, keys, lease)
    await servicer.start()
    server = await start_server(
        listen,
        [ServiceSpec("motet.v1.ResultsService", results_pb2_grpc.add_ResultsServiceServicer_to_server, servicer)],
        metrics_listen=metrics_listen,
    )
    health = asyncio.create_task(server.follow_health(store.is_healthy))
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    host = listen.rsplit(":", 1)[0]
    if ready is not None:
        ready(server.port)
    else:
        print(f"motet results listening on {host}:{server.port}", flush=True)
    try:
        await stop.wait()
    finally:
        health.cancel()
        await server.set_serving(False)
        await server.stop(2.0)
        await servicer.stop()
        await lease.stop()
        await store.close()
