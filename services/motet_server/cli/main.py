"""The `motet` console script: the subcommand table. Every flag also reads MOTET_<FLAG>; what
neither sets comes from `motet_server.config`."""

from __future__ import annotations

import argparse
import logging
import os
import sys

from motet.settings import ClientSettings
from motet_server import config
from motet_server.cli import serve

__all__ = ["main"]


def _env(name: str, default: str | None = None) -> str | None:
    return os.environ.get(f"MOTET_{name.upper()}", default)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="motet", description="Celery-compatible canvas workflows over gRPC")
    parser.add_argument("--log-level", default=_env("log_level", config.DEFAULT_LOG_LEVEL))
    sub = parser.add_subparsers(dest="command", required=True)

    for name, listen in (("scheduler", config.DEFAULT_SCHEDULER), ("results", config.DEFAULT_RESULTS)):
        p = sub.add_parser(name, help=f"run one {name} service")
        p.add_argument("--listen", default=_env("listen", listen), help="host:port to serve gRPC on")
        p.add_argument("--etcd", default=_env("etcd", config.DEFAULT_ETCD), help="etcd endpoints host:port[,...]")
        p.add_argument("--namespace", default=_env("namespace", config.DEFAULT_NAMESPACE))
        p.add_argument("--metrics", default=_env("metrics"), help="host:port for Prometheus metrics")

    def worker_flags(p: argparse.ArgumentParser) -> None:
        p.add_argument(
            "--app", default=_env("app"), required=_env("app") is None, help="module with the @app.task functions"
        )
        p.add_argument("--concurrency", type=int, default=int(_env("concurrency") or config.DEFAULT_CONCURRENCY))
        p.add_argument("--pool", default=_env("pool", config.DEFAULT_POOL), choices=["threads", "processes"])
        p.add_argument(
            "--queues", default=_env("queues", config.DEFAULT_QUEUE), help="queues to serve, comma separated"
        )
        p.add_argument(
            "--prefetch",
            type=int,
            default=int(_env("prefetch") or config.DEFAULT_PREFETCH),
            help="credit per thread (Celery's prefetch multiplier)",
        )

    w = sub.add_parser("worker", help="run a worker for a module of tasks")
    worker_flags(w)
    w.add_argument("--scheduler", default=_env("scheduler", config.DEFAULT_SCHEDULER))
    w.add_argument("--grace", type=float, default=float(_env("grace") or config.DEFAULT_GRACE))
    w.add_argument("--metrics", default=_env("metrics"), help="host:port for the worker's Prometheus metrics")

    d = sub.add_parser("dev", help="a complete local cluster: etcd, scheduler, results, workers")
    worker_flags(d)
    d.add_argument("--workers", type=int, default=int(_env("workers") or config.DEFAULT_WORKERS))

    for name, what in (
        ("status", "the services' health and the connected workers (queues, slots, tasks)"),
        ("inspect", "a workflow as a tree of results with their states"),
    ):
        p = sub.add_parser(name, help=what)
        if name == "inspect":
            p.add_argument("id", help="a task id (the root of a canvas shows all of it) or a saved group id")
        p.add_argument("--scheduler", default=_env("scheduler", config.DEFAULT_SCHEDULER))
        p.add_argument("--results", default=_env("results", config.DEFAULT_RESULTS))
        p.add_argument("--namespace", default=_env("namespace"))
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point of the `motet` command."""
    args = _parser().parse_args(argv)
    logging.basicConfig(level=args.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    if args.command in ("scheduler", "results"):
        return serve.service(args.command, args.listen, args.etcd.split(","), args.namespace, args.metrics)
    if args.command == "worker":
        return serve.worker(args)
    if args.command in ("status", "inspect"):
        from motet_server.cli import look  # lazy, as the services are (cli/serve.py)

        settings = ClientSettings(scheduler=args.scheduler, results=args.results, namespace=args.namespace or None)
        return look.status(settings) if args.command == "status" else look.inspect(settings, args.id)
    return serve.dev(args)


if __name__ == "__main__":
    sys.exit(main())
