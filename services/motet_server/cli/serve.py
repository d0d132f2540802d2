"""`motet scheduler|results|worker|dev`: start one service, or a whole local cluster.

Each command imports its service inside the function, on purpose: a process loads only the
service it runs (a worker never loads the scheduler, the store or the etcd client), and
`motet --help` stays fast.

A failure to start is one line on stderr naming the cause and the address, and a non-zero exit
code; a traceback is for bugs, not for a port in use or an etcd that is not there.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import signal
import sys
import threading

__all__ = ["dev", "service", "worker"]


def _fail(command: str, message: str) -> int:
    print(f"motet {command}: {message}", file=sys.stderr, flush=True)
    return 1


def service(args: argparse.Namespace) -> int:
    """Runs the scheduler or results service (``args.command``) until SIGTERM / SIGINT."""
    # Lazy: see the module docstring.
    from motet_server.rpc.auth import TokenFileError, watch_tokens
    from motet_server.rpc.jwt import watch_jwks
    from motet_server.rpc.server import InsecureListen, Transport
    from motet_server.rpc.tls import ServerTLS, TLSConfigError
    from motet_server.store.errors import StoreError, StoreUnavailable
    from motet_server.store.etcd import EtcdAccess, EtcdAccessError

    name, etcd = args.command, args.etcd.split(",")
    try:
        tls = ServerTLS.from_flags(args.tls_cert, args.tls_key, args.tls_client_ca)
        tokens = watch_tokens(args.tokens) if args.tokens else None
        jwt = watch_jwks(args.jwks, args.jwt_issuer, args.jwt_audience)
        access = EtcdAccess.from_flags(
            args.etcd_ca, args.etcd_cert, args.etcd_key, args.etcd_user, args.etcd_password_file
        )
        transport = Transport(tls=tls, health_listen=args.health, insecure=args.insecure, tokens=tokens, jwt=jwt)
        common = dict(listen=args.listen, etcd=etcd, namespace=args.namespace, metrics_listen=args.metrics)
        if name == "scheduler":
            if args.max_worker_credit < 1:
                return _fail(name, f"--max-worker-credit must be at least 1 (got {args.max_worker_credit})")
            from motet.exceptions import EncodeError
            from motet.payload import JSON, PICKLE, accepted

            try:
                content = accepted([c.strip() for c in args.accept_content.split(",") if c.strip()])
            except EncodeError:
                content = frozenset()
            if JSON not in content:
                return _fail(name, f"--accept-content must be json or json,pickle (got {args.accept_content!r})")
            if PICKLE in content:
                logging.getLogger("motet_server.scheduler").warning(
                    "accepting pickled payloads (never unpickled here; workers that opted in do): trust every client"
                )
            from motet_server.scheduler.server import serve as serve_scheduler

            asyncio.run(
                serve_scheduler(
                    **common,
                    transport=transport,
                    etcd_access=access,
                    max_worker_credit=args.max_worker_credit,
                    accept_pickle=PICKLE in content,
                )
            )
        else:
            from motet_server.results.server import serve as serve_results

            asyncio.run(serve_results(**common, transport=transport, etcd_access=access))
    except (TLSConfigError, InsecureListen, TokenFileError, EtcdAccessError) as exc:
        return _fail(name, str(exc))
    except StoreUnavailable as exc:
        return _fail(name, f"cannot reach etcd at {','.join(etcd)}: {exc}")
    except StoreError as exc:  # e.g. a wrong etcd password, or a user without the namespace's keys
        return _fail(name, f"etcd at {','.join(etcd)} refused: {exc}")
    except OSError as exc:  # the message is the line (str() would prefix "[Errno 98]")
        return _fail(name, exc.strerror or str(exc))
    except KeyboardInterrupt:
        pass
    return 0


def worker(args: argparse.Namespace) -> int:
    """Runs a worker process."""
    from motet_server.worker.loader import AppNotLoaded  # lazy: see the module docstring
    from motet_server.worker.main import run

    # The worker's stream and the SDK inside its tasks (and a process pool's children) read
    # the TLS files from the environment, as every Motet client does.
    for flag in ("tls_ca", "tls_cert", "tls_key", "token"):
        value = getattr(args, flag)
        if value:
            os.environ[f"MOTET_{flag.upper()}"] = value
    try:
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
    except AppNotLoaded as exc:
        return _fail("worker", str(exc))


def dev(args: argparse.Namespace) -> int:
    """Starts etcd, scheduler, results and workers on loopback; stops them all on Ctrl-C / SIGTERM."""
    from motet_server.devcluster import DevCluster, DevClusterError  # lazy: see the module docstring
    from motet_server.store.etcd_process import EtcdNotFound
    from motet_server.worker.loader import AppNotLoaded, find_app

    ports = "env" if os.environ.get("MOTET_SCHEDULER") or os.environ.get("MOTET_RESULTS") else "default"
    env: dict[str, str] = {}
    try:
        app = find_app(args.app)
    except AppNotLoaded as exc:
        return _fail("dev", str(exc))
    if not os.environ.get("MOTET_RESULT_EXPIRES"):
        # The app's Celery-style `app.conf.result_expires` reaches the scheduler that writes results.
        env["MOTET_RESULT_EXPIRES"] = str(int(app.conf.result_expires))
    if not os.environ.get("MOTET_ACCEPT_CONTENT"):
        # An app that opted in to pickle (`app.conf.accept_content`) gets a scheduler that accepts it.
        from motet.exceptions import EncodeError
        from motet.payload import PICKLE, accepted

        try:
            pickle = PICKLE in accepted(app.conf.get("accept_content"))
        except EncodeError as exc:
            return _fail("dev", str(exc))
        env["MOTET_ACCEPT_CONTENT"] = "json,pickle" if pickle else "json"
    env["MOTET_LOG_FORMAT"] = args.log_format  # every service logs as `motet dev` was asked to
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    try:
        cluster = DevCluster(
            app=args.app,
            ports=ports,
            workers=args.workers,
            concurrency=args.concurrency,
            pool=args.pool,
            queues=args.queues,
            prefetch=args.prefetch,
            grace=args.grace,
            log_level=args.log_level,
            echo=None if args.quiet else _echo,
            env=env,
        )
        cluster.start()
    except (DevClusterError, EtcdNotFound) as exc:
        return _fail("dev", str(exc))
    try:
        metrics = f"scheduler:{cluster.scheduler_metrics},results:{cluster.results_metrics}"
        print(
            f"motet dev ready scheduler={cluster.scheduler} results={cluster.results} etcd={cluster.etcd} "
            f"workers={args.workers} metrics={metrics} logs={cluster.dir}",
            flush=True,
        )
        stop.wait()
    finally:
        cluster.stop()
    return 0


def _echo(line: str) -> None:
    print(line, flush=True)
