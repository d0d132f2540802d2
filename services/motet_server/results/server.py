"""Starts a results service: store connection, the shared results watch and the gRPC server."""

from __future__ import annotations

import logging
from collections.abc import Callable

from motet.v1 import results_pb2_grpc
from motet_server import config
from motet_server.results.service import ResultsServicer
from motet_server.rpc import metrics
from motet_server.rpc.server import PLAINTEXT, ServiceSpec, Transport, start_server
from motet_server.store.etcd import PLAIN, Etcd, EtcdAccess
from motet_server.store.keys import Keys
from motet_server.store.result_lease import ResultLease

__all__ = ["serve"]

log = logging.getLogger(__name__)


async def serve(
    *,
    listen: str,
    etcd: list[str],
    namespace: str = config.DEFAULT_NAMESPACE,
    metrics_listen: str | None = None,
    ready: Callable[[int], None] | None = None,
    transport: Transport = PLAINTEXT,
    etcd_access: EtcdAccess = PLAIN,
) -> None:
    """Runs a results service until SIGTERM / SIGINT (arguments as for the scheduler)."""
    keys = Keys(namespace)
    store = await Etcd.connect(etcd, access=etcd_access, probe_key=keys.root)
    lease = ResultLease(store)
    await lease.start()
    servicer = ResultsServicer(store, keys, lease)
    await servicer.start()
    server = await start_server(
        listen,
        [
            ServiceSpec(
                name="motet.v1.ResultsService",
                add=results_pb2_grpc.add_ResultsServiceServicer_to_server,
                servicer=servicer,
            )
        ],
        metrics_listen=metrics_listen,
        metrics_registry=metrics.RESULTS,
        transport=transport,
        namespace=namespace,
    )
    try:
        await server.serve_until_signalled("results", listen, store.is_healthy, ready)
    finally:
        await server.stop(2.0)
        await servicer.stop()
        await lease.stop()
        await store.close()
