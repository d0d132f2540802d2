"""The Python worker process: load the user's App, run one `Worker` session loop until signalled.

Process wiring only: the session with the scheduler lives in `worker.session`, task execution
in `worker.pool` / `worker.runtime`, finding the App in `worker.loader`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal

from motet_server import config
from motet_server.rpc import metrics
from motet_server.tracing import configure_from_env as configure_tracing
from motet_server.worker.loader import find_app
from motet_server.worker.session import Worker

__all__ = ["run"]

log = logging.getLogger(__name__)


def run(
    app_module: str,
    scheduler: str,
    concurrency: int = 4,
    pool: str = config.DEFAULT_POOL,
    queues: list[str] | None = None,
    prefetch: int = config.DEFAULT_PREFETCH,
    grace: float = config.DEFAULT_GRACE,
    *,
    metrics_listen: str | None = None,
) -> int:
    """Runs a worker until SIGTERM / SIGINT; returns the exit code.

    Work a task sends from inside its run (sending tasks, add_to_chord) goes to the scheduler
    this worker serves, unless MOTET_SCHEDULER (read by the App) names another; children of a
    process pool inherit it. With ``metrics_listen`` (host:port) the worker's own series
    (`rpc.metrics.WORKER`) are served there for Prometheus.
    """
    os.environ.setdefault("MOTET_SCHEDULER", scheduler)
    wanted = os.environ.get("OTEL_TRACES_EXPORTER", "none").strip().lower()
    if not configure_tracing() and wanted not in ("", "none"):
        log.warning(
            "OTEL_TRACES_EXPORTER=%s, but opentelemetry-sdk (or that exporter) is not installed: no spans are exported",
            wanted,
        )
    app = find_app(app_module)
    if metrics_listen is not None:
        # Bound before the session starts, so a taken port fails the start, not a scrape later.
        _, _, port = metrics.serve(metrics_listen, metrics.WORKER)
        print(f"motet worker metrics on {metrics_listen.rsplit(':', 1)[0]}:{port}", flush=True)

    async def main() -> int:
        worker = Worker(
            app, app_module, scheduler, concurrency, queues or [config.DEFAULT_QUEUE], prefetch, grace, pool
        )
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, worker.stopping.set)
        return await worker.run()

    with contextlib.suppress(KeyboardInterrupt):
        return asyncio.run(main())
    return 0
