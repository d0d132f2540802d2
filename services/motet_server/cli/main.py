"""The `motet` console script: the subcommand table. Every flag also reads MOTET_<FLAG>; what
neither sets comes from `motet_server.config`. Each flag's help shows its default and its
variable, so `--help` is the reference."""

from __future__ import annotations

import argparse
import os
import sys
from importlib import metadata
from typing import Any

from motet.settings import ClientSettings
from motet_server import config, logs
from motet_server.cli import serve
from motet_server.cli.render import COLOR_CHOICES
from motet_server.logs import FORMATS

__all__ = ["LOG_LEVELS", "POOLS", "main"]

LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
"""What --log-level accepts (any case)."""

POOLS = ("threads", "processes")
"""What --pool accepts."""

_DISTRIBUTION = "motet"
"""The installed distribution (pyproject.toml `name`) whose version `--version` prints."""


def _version() -> str:
    try:
        return metadata.version(_DISTRIBUTION)
    except metadata.PackageNotFoundError:
        return "unknown (not installed)"


def _flag(p: argparse.ArgumentParser, flag: str, default: Any, text: str, **kw: Any) -> None:
    """Adds `flag`, read from MOTET_<FLAG> when not given, defaulting to `default`; its help
    ends with both, e.g. "(default: 127.0.0.1:7410, env MOTET_LISTEN)"."""
    var = "MOTET_" + flag.lstrip("-").replace("-", "_").upper()
    raw = os.environ.get(var)
    # A string default is converted by argparse only when the flag is not given, so a bad
    # variable is the parser's one-line error ("invalid int value"), not a traceback.
    value = raw if raw else default
    if kw.pop("required_without_env", False):
        kw["required"] = raw is None
        shown = "required"
    else:
        shown = f"default: {default if default is not None else 'none'}"
    p.add_argument(flag, default=value, help=f"{text} ({shown}, env {var})", **kw)


def _common(p: argparse.ArgumentParser) -> None:
    _flag(
        p,
        "--log-level",
        config.DEFAULT_LOG_LEVEL,
        "log level of this process" + (" and of every service it starts" if p.prog.endswith(" dev") else ""),
        type=str.upper,
        choices=LOG_LEVELS,
        metavar="{" + ",".join(LOG_LEVELS) + "}",
    )
    _flag(
        p,
        "--log-format",
        "text",
        "log lines as text, or one JSON object per line with the task and workflow ids as fields"
        + (" (also for every service it starts)" if p.prog.endswith(" dev") else ""),
        choices=FORMATS,
    )


def _client_tls(p: argparse.ArgumentParser) -> None:
    _flag(p, "--token", None, "bearer token sent with every call (services started with --tokens)")
    _flag(p, "--tls-ca", None, "PEM CA bundle of the services' certificates: connect over TLS")
    _flag(p, "--tls-cert", None, "PEM client certificate, for services that require mutual TLS")
    _flag(p, "--tls-key", None, "PEM private key of --tls-cert")


def _switch(p: argparse.ArgumentParser, flag: str, text: str) -> None:
    """Adds an on/off `flag`, also turned on by a non-empty MOTET_<FLAG>."""
    var = "MOTET_" + flag.lstrip("-").replace("-", "_").upper()
    p.add_argument(flag, action="store_true", default=bool(os.environ.get(var)), help=f"{text} (env {var})")


def _worker_flags(p: argparse.ArgumentParser) -> None:
    _flag(p, "--app", None, "module with the @app.task functions", required_without_env=True)
    _flag(p, "--concurrency", config.DEFAULT_CONCURRENCY, "tasks a worker runs at once", type=int)
    _flag(p, "--pool", config.DEFAULT_POOL, "where tasks run", choices=POOLS)
    _flag(p, "--queues", config.DEFAULT_QUEUE, "queues to serve, comma separated")
    _flag(p, "--prefetch", config.DEFAULT_PREFETCH, "credit per thread (Celery's prefetch multiplier)", type=int)
    _flag(p, "--grace", config.DEFAULT_GRACE, "seconds a stopping worker waits for running tasks", type=float)


_WAIT_EXITS = "exit 0: the value was printed; 1: a task failed or was revoked; 2: timed out; 3: could not wait"
_SUBMIT_EXITS = "exit 0: submitted; 1: not submitted (bad file, refused, unreachable); with --wait as `motet wait`"


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="motet", description="Celery-compatible canvas workflows over gRPC")
    parser.add_argument("--version", action="version", version=f"motet {_version()}")
    sub = parser.add_subparsers(dest="command", required=True)

    for name, listen in (("scheduler", config.DEFAULT_SCHEDULER), ("results", config.DEFAULT_RESULTS)):
        p = sub.add_parser(name, help=f"run one {name} service")
        _flag(p, "--listen", listen, "host:port to serve gRPC on")
        _flag(p, "--etcd", config.DEFAULT_ETCD, "etcd endpoints host:port[,...]")
        _flag(p, "--namespace", config.DEFAULT_NAMESPACE, "keyspace namespace (etcd key prefix)")
        _flag(p, "--etcd-ca", None, "PEM CA bundle of etcd's server certificates: reach etcd over TLS")
        _flag(p, "--etcd-cert", None, "PEM client certificate for etcd (etcd started with --client-cert-auth)")
        _flag(p, "--etcd-key", None, "PEM private key of --etcd-cert")
        _flag(p, "--etcd-user", None, "etcd user to authenticate as (etcd with authentication enabled)")
        _flag(p, "--etcd-password-file", None, "file holding the --etcd-user's password")
        _flag(p, "--metrics", None, "host:port for Prometheus metrics")
        _flag(p, "--tls-cert", None, "PEM certificate chain: serve TLS only (reloaded when the file changes)")
        _flag(p, "--tls-key", None, "PEM private key of --tls-cert")
        _flag(p, "--tls-client-ca", None, "PEM CA bundle: require client certificates it signed (mutual TLS)")
        _flag(p, "--health", None, "host:port of a plaintext port serving only gRPC health (probes under TLS)")
        _flag(p, "--tokens", None, "JSON file of bearer tokens and their roles: every call must carry one")
        _flag(p, "--jwks", None, "JWKS file of the keys that sign accepted JWTs (with --jwt-issuer, --jwt-audience)")
        _flag(p, "--jwt-issuer", None, "the iss an accepted JWT must carry")
        _flag(p, "--jwt-audience", None, "the aud an accepted JWT must include")
        if name == "scheduler":
            _flag(p, "--max-worker-credit", config.MAX_CREDIT, "tasks one worker may hold unreported at most", type=int)
            _flag(p, "--accept-content", "json", "serializers accepted in payloads: json, or json,pickle to opt in")
        p.add_argument(
            "--insecure",
            action="store_true",
            default=bool(os.environ.get("MOTET_INSECURE")),
            help="allow plaintext gRPC on a non-loopback --listen (default: refused, env MOTET_INSECURE)",
        )
        _common(p)

    w = sub.add_parser("worker", help="run a worker for a module of tasks")
    _worker_flags(w)
    _flag(w, "--scheduler", config.DEFAULT_SCHEDULER, "host:port of the scheduler to serve")
    _flag(w, "--metrics", None, "host:port for the worker's Prometheus metrics")
    _client_tls(w)
    _common(w)

    d = sub.add_parser("dev", help="a complete local cluster: etcd, scheduler, results, workers")
    _worker_flags(d)
    _flag(d, "--workers", config.DEFAULT_WORKERS, "worker processes to start", type=int)
    d.add_argument(
        "--quiet",
        action="store_true",
        default=bool(os.environ.get("MOTET_QUIET")),
        help="do not show the services' logs in this terminal (default: shown, env MOTET_QUIET)",
    )
    _common(d)

    client_commands = {
        "status": ("the services' health and the connected workers (queues, slots, tasks)", ""),
        "inspect": (
            "a workflow as a tree of results: states, values, errors, timing",
            "exit 0, or 1: unknown id, unreachable",
        ),
        "wait": ("wait for a task, group or chord: progress on stderr, its value as JSON on stdout", _WAIT_EXITS),
        "graph": (
            "a workflow's result graph as indented text, or Graphviz DOT",
            "exit 0, or 1: unknown id, unreachable",
        ),
        "submit": ("submit a canvas written as JSON (or YAML) from a file", _SUBMIT_EXITS),
        "revoke": ("revoke tasks and what follows them", "exit 0, or 1: the call failed"),
        "workers": ("the connected workers: queues, task names, concurrency, busy and reserved", "exit 0, or 1"),
    }
    for name, (what, exits) in client_commands.items():
        p = sub.add_parser(name, help=what, description=what, epilog=exits or None)
        if name in ("inspect", "wait", "graph"):
            p.add_argument("id", help="a task id (the root of a canvas shows all of it) or a saved group id")
        if name == "submit":
            p.add_argument("file", help="the canvas: a JSON (or YAML) file, - for standard input; see docs/protocol.md")
            _switch(p, "--wait", "then wait for it as `motet wait` does")
        if name == "revoke":
            p.add_argument("ids", nargs="+", metavar="ID", help="task ids")
            _switch(p, "--terminate", "also stop the revoked tasks that are running")
        if name in ("wait", "submit"):
            _flag(p, "--timeout", None, "seconds to wait before giving up (exit 2)", type=float)
        if name in ("inspect", "graph"):
            _flag(
                p, "--color", "auto", "colour the states: auto (on a terminal), always or never", choices=COLOR_CHOICES
            )
        if name == "graph":
            _switch(p, "--dot", "print Graphviz DOT (pipe it to `dot -Tsvg`)")
        if name == "workers":
            _switch(p, "--json", "print a JSON list instead of a table")
        _flag(p, "--scheduler", config.DEFAULT_SCHEDULER, "host:port of a scheduler")
        _flag(p, "--results", config.DEFAULT_RESULTS, "host:port of a results service")
        _flag(p, "--namespace", None, "namespace sent with the requests")
        _client_tls(p)
        _common(p)
    return parser


_CLIENT_COMMANDS = ("status", "inspect", "wait", "graph", "submit", "revoke", "workers")


def _client_command(args: argparse.Namespace) -> int:
    # lazy, as the services are (cli/serve.py): `motet --help` needs none of this
    from motet_server.cli import graph, look, submit, wait

    settings = ClientSettings(
        scheduler=args.scheduler,
        results=args.results,
        namespace=args.namespace or None,
        tls_ca=args.tls_ca,
        tls_cert=args.tls_cert,
        tls_key=args.tls_key,
        token=args.token,
    )
    command: str = args.command
    if command == "status":
        return look.status(settings)
    if command == "inspect":
        return look.inspect(settings, args.id, args.color)
    if command == "wait":
        return wait.wait(settings, args.id, args.timeout)
    if command == "graph":
        return graph.graph(settings, args.id, dot=args.dot, color=args.color)
    if command == "submit":
        return submit.submit(settings, args.file, wait_for=args.wait, timeout=args.timeout)
    if command == "revoke":
        return submit.revoke(settings, args.ids, terminate=args.terminate)
    return submit.workers(settings, as_json=args.json)


def main(argv: list[str] | None = None) -> int:
    """Entry point of the `motet` command."""
    parser = _parser()
    args = parser.parse_args(argv)
    # argparse does not check a default (a MOTET_* value) against the flag's choices.
    for dest, choices in (
        ("log_level", LOG_LEVELS),
        ("log_format", FORMATS),
        ("pool", POOLS),
        ("color", COLOR_CHOICES),
    ):
        value = getattr(args, dest, choices[0])
        if value not in choices:
            parser.error(f"MOTET_{dest.upper()} must be one of {', '.join(choices)} (got {value!r})")
    logs.configure(args.log_level, args.log_format)
    if args.command in ("scheduler", "results"):
        return serve.service(args)
    if args.command == "worker":
        return serve.worker(args)
    if args.command in _CLIENT_COMMANDS:
        return _client_command(args)
    return serve.dev(args)


if __name__ == "__main__":
    sys.exit(main())
