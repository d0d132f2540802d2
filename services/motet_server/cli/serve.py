"""`motet scheduler|results|worker|dev`: start one service, or a whole local cluster.

Each command imports its service inside the function, on purpose: a process loads only the
service it runs (a worker never loads the scheduler, the store or the etcd client), and
`motet --help` stays fast.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import threading

__all__ = ["dev", "service", "worker"]


def service(name: str, listen: str, etcd: list[str], namespace: str, metrics: str | None) -> int:
    """Runs the scheduler or results service until SIGTERM / SIGINT."""
    # Lazy: see the module docstring.
    if name == "scheduler":
        from motet_server.scheduler.server import serve
    else:
        from motet_server.results.server import serve
    asyncio.run(serve(listen=listen, etcd=etcd, namespace=namespace, metrics_listen=metrics))
    return 0


def worker(args: argparse.Namespace) -> int:
    """Runs a worker process."""
    from motet_server.worker.main import run  # lazy: see the module docstring

    return run(
        args.app,
        args.scheduler,
        args.concurrency,
        args.pool,
        args.queues.split(","),
        args.prefetch,
        args.grace,
        metrics_listen=args.metrics,
    )


def dev(args: argparse.Namespace) -> int:
    """Starts etcd, scheduler, results and workers on loopback; stops them all on Ctrl-C / SIGTERM."""
    from motet_server.devcluster import DevCluster  # lazy: see the module docstring
    from motet_server.worker.loader import find_app

    ports = "env" if os.environ.get("MOTET_SCHEDULER") or os.environ.get("MOTET_RESULTS") else "default"
    env: dict[str, str] = {}
    if not os.environ.get("MOTET_RESULT_EXPIRES"):
        # The app's Celery-style `app.conf.result_expires` reaches the scheduler that writes results.
        env["MOTET_RESULT_EXPIRES"] = str(int(find_app(args.app).conf.result_expires))
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    with DevCluster(
        app=args.app,
        ports=ports,
        workers=args.workers,
        concurrency=args.concurrency,
        pool=args.pool,
        queues=args.queues,
        env=env,
    ) as cluster:
        print(
            f"motet dev ready scheduler={cluster.scheduler} results={cluster.results} etcd={cluster.etcd} "
            f"workers={args.workers}",
            flush=True,
        )
        stop.wait()
    return 0
