"""Starts a scheduler: store connection, caches, committer, reconciler and the gRPC server."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable

from motet.v1 import scheduler_pb2_grpc, worker_pb2_grpc
from motet_server import config
from motet_server.rpc import metrics
from motet_server.rpc.server import PLAINTEXT, ServiceSpec, Transport, start_server
from motet_server.scheduler.committer import Committer
from motet_server.scheduler.dispatch import Dispatcher
from motet_server.scheduler.service import SchedulerServicer, WorkerServicer
from motet_server.store.etcd import PLAIN, Etcd, EtcdAccess
from motet_server.store.keys import Keys
from motet_server.store.result_lease import ResultLease
from motet_server.store.stm import apply_outbox, clean_stages

__all__ = ["serve"]

log = logging.getLogger(__name__)

RECONCILE_EVERY = 5.0
"""Seconds between reconciler passes (outbox parts a crashed replica left behind)."""


async def serve(
    *,
    listen: str,
    etcd: list[str],
    namespace: str = config.DEFAULT_NAMESPACE,
    metrics_listen: str | None = None,
    ready: Callable[[int], None] | None = None,
    transport: Transport = PLAINTEXT,
    etcd_access: EtcdAccess = PLAIN,
    max_worker_credit: int = config.MAX_CREDIT,
    accept_pickle: bool = False,
) -> None:
    """Runs a scheduler until SIGTERM / SIGINT.

    Args:
        listen: host:port for gRPC (port 0 picks a free port).
        etcd: etcd endpoints.
        namespace: The keyspace namespace shared by the cluster's services.
        metrics_listen: host:port for Prometheus metrics, or None.
        ready: Called with the bound port once serving (else a line is printed).
        transport: TLS, the plaintext health port, and whether plaintext may leave loopback.
        etcd_access: TLS to etcd and the etcd user (`store.etcd.EtcdAccess`).
        max_worker_credit: Tasks one worker session may hold unreported at most.
        accept_pickle: Accept pickled values in canvases and results (never unpickled here).
    """
    keys = Keys(namespace)
    store = await Etcd.connect(etcd, access=etcd_access, probe_key=keys.root)
    lease = ResultLease(store)
    await lease.start()
    committer = Committer(store, keys, lease)
    committer.start()
    dispatcher = Dispatcher(store, keys, committer)
    committer.hooks = dispatcher
    await apply_outbox(store, keys)
    await dispatcher.start()
    workers = WorkerServicer(
        store, keys, committer, dispatcher, max_credit=max_worker_credit, accept_pickle=accept_pickle
    )
    server = await start_server(
        listen,
        [
            ServiceSpec(
                name="motet.v1.SchedulerService",
                add=scheduler_pb2_grpc.add_SchedulerServiceServicer_to_server,
                servicer=SchedulerServicer(store, keys, committer, dispatcher, accept_pickle=accept_pickle),
            ),
            ServiceSpec(
                name="motet.v1.WorkerService",
                add=worker_pb2_grpc.add_WorkerServiceServicer_to_server,
                servicer=workers,
            ),
        ],
        metrics_listen=metrics_listen,
        metrics_registry=metrics.SCHEDULER,
        transport=transport,
        namespace=namespace,
    )
    reconciler = asyncio.create_task(_reconcile(store, keys))
    try:
        await server.serve_until_signalled("scheduler", listen, store.is_healthy, ready)
    finally:
        log.info("scheduler stopping")
        await workers.shutdown("scheduler stopping")
        dispatcher.release_waits()  # what the drain did not settle is waited for at the results service
        await server.stop(5.0)
        reconciler.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await reconciler
        await dispatcher.stop()
        await committer.stop()
        await lease.stop()
        await store.close()


async def _reconcile(store: Etcd, keys: Keys) -> None:
    while True:
        await asyncio.sleep(RECONCILE_EVERY)
        try:
            repaired = await apply_outbox(store, keys)
            if repaired:
                # A part still queued a pass later: its writer died between commit and apply.
                metrics.reconciler_repairs_total.labels(what="outbox_part").inc(repaired)
            removed = await clean_stages(store, keys)
            if removed:
                # Parts staged by a write set that never committed (its writer died first).
                metrics.reconciler_repairs_total.labels(what="stage_orphan").inc(removed)
        except Exception:  # noqa: BLE001 - next pass tries again
            log.warning("reconciler pass failed", exc_info=True)
