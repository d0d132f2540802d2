"""One builder for every Motet gRPC service: health, reflection, metrics port, graceful stop.

Modelled on grpc/grpc ``examples/python/helloworld/async_greeter_server_with_graceful_shutdown.py``
and ``grpc_health.v1`` aio. Each service calls `start_server` with its `ServiceSpec` list::

    server = await start_server("127.0.0.1:0", [ServiceSpec(name=name, add=add_fn, servicer=servicer)])
    ...
    await server.stop(5.0)   # NOT_SERVING first, then a graceful stop

Health: every spec name and the overall "" service report SERVING once started;
`RunningServer.set_serving` flips them all (e.g. NOT_SERVING while etcd is unreachable);
`RunningServer.stop` sets NOT_SERVING permanently before draining, so load balancers stop
sending new calls while in-flight ones finish.
"""

from __future__ import annotations

import asyncio
import functools
import ipaddress
import logging
import signal
import socket
import threading
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import grpc
from google.protobuf import descriptor_pb2, descriptor_pool
from grpc_health.v1 import _async as health_aio  # what `health.aio` names at run time (its stubs omit it)
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection, reflection_pb2, reflection_pb2_grpc
from prometheus_client import CollectorRegistry

from motet_server import config
from motet_server.ports import listen_error, split_listen
from motet_server.rpc import metrics as metrics_http  # the HTTP side only; series live there
from motet_server.rpc.auth import Principal, TokenAuth
from motet_server.rpc.grpc_metrics import GrpcMetrics
from motet_server.rpc.guard import RequestGuard
from motet_server.rpc.jwt import JWTVerifier
from motet_server.rpc.reload import Reloading
from motet_server.rpc.tls import ServerTLS

__all__ = ["PLAINTEXT", "InsecureListen", "RunningServer", "ServiceSpec", "Transport", "start_server"]

log = logging.getLogger(__name__)

_HEALTH_NAME = "grpc.health.v1.Health"


@dataclass(frozen=True)
class ServiceSpec:
    """One gRPC service to serve.

    Attributes:
        name: The full service name, e.g. ``motet.v1.SchedulerService`` (health + reflection).
        add: The generated ``add_<Service>Servicer_to_server`` function.
        servicer: The servicer instance.
    """

    name: str
    add: Callable[[Any, grpc.aio.Server], None]
    servicer: Any


@dataclass(frozen=True)
class Transport:
    """How a service's gRPC port is reached (the --tls-cert / --tls-key / --tls-client-ca,
    --health and --insecure flags).

    Attributes:
        tls: Serve TLS only (mutual TLS with a client CA), from files reloaded when they change.
        health_listen: ``host:port`` of a plaintext port serving only gRPC health, for probes
            that cannot speak TLS (Kubernetes' gRPC probes); None for none.
        insecure: Allow plaintext on an address other than loopback (refused otherwise).
        tokens: The --tokens file (`rpc.auth.load_tokens`, reloaded when it changes), or None
            for no token check.
    """

    tls: ServerTLS | None = None
    health_listen: str | None = None
    insecure: bool = False
    tokens: Reloading[Mapping[str, Principal]] | None = None
    """Bearer tokens every call must carry (`rpc.auth`); None: no check."""
    jwt: Reloading[JWTVerifier] | None = None
    """Also (or only) JWTs this verifier accepts (`rpc.jwt`; the JWKS file reloaded on change)."""


PLAINTEXT = Transport()
"""Plaintext gRPC, loopback only (what `motet dev` and tests use)."""


class InsecureListen(ValueError):
    """Plaintext was asked for on an address other than loopback, without ``insecure``."""


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False  # a host name: it may resolve to anything


def _bind_error(listen: str, what: str = "") -> OSError | None:
    """Why `listen` cannot be bound, as one line ("cannot listen on 127.0.0.1:7410: address
    already in use"), or None if it can: a plain socket bound to it gets the OS's reason, which
    grpc only logs (on a line of its own)."""
    host, port = split_listen(listen)
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        # As grpc binds: an old connection in TIME_WAIT does not make the port "in use".
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError as exc:
            return listen_error(listen, exc, what)
    return None


class RunningServer:
    """A started server. Create it with `start_server`."""

    def __init__(
        self,
        server: grpc.aio.Server,
        health_servicer: health_aio.HealthServicer,
        names: list[str],
        port: int,
        metrics: Any | None,
        metrics_thread: threading.Thread | None,
        metrics_port: int | None,
    ) -> None:
        self._server = server
        self._health = health_servicer
        self._names = names
        self._metrics = metrics
        self._metrics_thread = metrics_thread
        self._stopped = False
        self.port = port
        """The bound gRPC port (the real one when asked for port 0)."""
        self.metrics_port = metrics_port
        """The bound Prometheus port, or None when metrics are not served."""
        self.health_server: grpc.aio.Server | None = None
        """The plaintext health-only server (`start_server`'s ``health_listen``), if any."""
        self.health_port: int | None = None
        """Its bound port."""

    @property
    def server(self) -> grpc.aio.Server:
        """The underlying grpc.aio server."""
        return self._server

    async def set_serving(self, serving: bool) -> None:
        """Reports every service (and "") SERVING or NOT_SERVING to health checks."""
        status = health_pb2.HealthCheckResponse.SERVING if serving else health_pb2.HealthCheckResponse.NOT_SERVING
        for name in ["", *self._names]:
            await self._health.set(name, status)

    async def follow_health(self, check: Callable[[], Awaitable[bool]], every: float = 2.0) -> None:
        """Reports NOT_SERVING while ``check`` (the store's health) fails; runs until cancelled."""
        serving = True
        while not self._stopped:
            healthy = await check()
            if healthy != serving and not self._stopped:
                serving = healthy
                await self.set_serving(healthy)
            await asyncio.sleep(every)

    async def serve_until_signalled(
        self, name: str, listen: str, health: Callable[[], Awaitable[bool]], ready: Callable[[int], None] | None = None
    ) -> None:
        """Announces readiness, follows the store's health, and returns on SIGTERM / SIGINT
        (already NOT_SERVING, so load balancers stop sending before the caller stops)."""
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        follower = asyncio.create_task(self.follow_health(health))
        if ready is not None:
            ready(self.port)
        else:
            print(f"motet {name} listening on {listen.rsplit(':', 1)[0]}:{self.port}", flush=True)
        try:
            await stop.wait()
        finally:
            follower.cancel()
            await self.set_serving(False)

    async def stop(self, grace: float | None = 5.0) -> None:
        """NOT_SERVING for good, then stops accepting calls and waits up to ``grace`` seconds
        for in-flight ones (streams included) before cancelling them."""
        if self._stopped:
            return
        self._stopped = True
        await self._health.enter_graceful_shutdown()
        await self._server.stop(grace)
        if self.health_server is not None:
            await self.health_server.stop(None)
        if self._metrics is not None:
            await asyncio.to_thread(self._metrics.shutdown)
            self._metrics.server_close()

    async def wait_for_termination(self) -> None:
        """Returns when the server has stopped."""
        await self._server.wait_for_termination()


_PROTOCOL_DOCS = Path(__file__).with_name("protocol.binpb")
"""motet.v1 with its comments, written by `make proto` (scripts/genproto.py)."""


@functools.cache
def _protocol_docs() -> dict[str, bytes]:
    """File name -> serialized FileDescriptorProto with source info, for each motet.v1 file
    (empty, so reflection still works without comments, if the build did not write them)."""
    if not _PROTOCOL_DOCS.exists():
        log.warning("%s is missing (run `make proto`): reflection serves no comments", _PROTOCOL_DOCS)
        return {}
    files = descriptor_pb2.FileDescriptorSet.FromString(_PROTOCOL_DOCS.read_bytes()).file
    return {f.name: f.SerializeToString() for f in files if f.name.startswith("motet/")}


_AioReflection: Any = reflection.aio.ReflectionServicer  # type: ignore[attr-defined]  # the stubs omit `aio`


class _DocumentedReflection(_AioReflection):  # type: ignore[misc]  # its base is untyped
    """Server reflection that answers motet.v1 files with their comments, so ``grpcurl describe``
    shows the documentation. The generated modules' descriptors carry no source info, so each
    file in a reply is swapped for the same file as built with ``--include_source_info``.
    Overrides grpc_reflection's two file-lookup methods (what every file reply goes through);
    `tests/e2e/test_protocol_doc.py` fails if a grpcio-reflection release stops calling them."""

    def __init__(self, service_names: Sequence[str], docs: dict[str, bytes]) -> None:
        super().__init__(service_names)
        self._docs = docs

    def _with_docs(self, response: reflection_pb2.ServerReflectionResponse) -> reflection_pb2.ServerReflectionResponse:
        if response.HasField("file_descriptor_response"):
            protos = response.file_descriptor_response.file_descriptor_proto
            for i, raw in enumerate(protos):
                name = descriptor_pb2.FileDescriptorProto.FromString(raw).name
                if name in self._docs:
                    protos[i] = self._docs[name]
        return response

    def _file_by_filename(self, request: Any, filename: str) -> reflection_pb2.ServerReflectionResponse:
        return self._with_docs(super()._file_by_filename(request, filename))

    def _file_containing_symbol(self, request: Any, name: str) -> reflection_pb2.ServerReflectionResponse:
        return self._with_docs(super()._file_containing_symbol(request, name))


def _health_reflection() -> Any:
    """Reflection for the plaintext health-only port: it names grpc.health.v1.Health and answers
    from a pool holding only health.proto, so ``grpcurl -plaintext HOST:PORT
    grpc.health.v1.Health/Check`` works without ``-proto`` while the port reveals no other
    schema (the motet.v1 services are reached, and reflected, on the TLS port)."""
    pool = descriptor_pool.DescriptorPool()
    pool.Add(descriptor_pb2.FileDescriptorProto.FromString(health_pb2.DESCRIPTOR.serialized_pb))
    return _AioReflection([_HEALTH_NAME, reflection.SERVICE_NAME], pool=pool)


async def start_server(
    listen: str,
    specs: Sequence[ServiceSpec],
    *,
    metrics_listen: str | None = None,
    metrics_registry: CollectorRegistry | None = None,
    max_message_bytes: int = config.MAX_MESSAGE_BYTES,
    interceptors: Sequence[grpc.aio.ServerInterceptor[Any, Any]] = (),
    transport: Transport = PLAINTEXT,
    namespace: str = config.DEFAULT_NAMESPACE,
) -> RunningServer:
    """Starts a grpc.aio server with the given services plus health and reflection.

    Args:
        listen: ``host:port`` to bind (port 0 picks a free port; see `RunningServer.port`).
        specs: The services.
        metrics_listen: ``host:port`` for the Prometheus HTTP endpoint (port 0 allowed), or
            None for no metrics port.
        metrics_registry: What the metrics port serves: the service's own registry
            (`rpc.metrics.SCHEDULER`, `RESULTS`); required with ``metrics_listen``.
        max_message_bytes: Largest message received or sent.
        interceptors: Server interceptors, outermost first.
        transport: TLS, tokens, the plaintext health port, and whether plaintext may leave loopback.
        namespace: The service's namespace (a token of another one is refused).

    Returns:
        The running server, every service SERVING.

    Raises:
        OSError: The address could not be bound.
        ValueError: ``metrics_listen`` without ``metrics_registry``; plaintext on a
            non-loopback address unless ``transport.insecure``.
    """
    tls, health_listen, insecure = transport.tls, transport.health_listen, transport.insecure
    interceptors = [GrpcMetrics(), RequestGuard(namespace), *interceptors]
    if transport.tokens is not None or transport.jwt is not None:
        interceptors = [*interceptors, TokenAuth(transport.tokens, namespace, transport.jwt)]
    if metrics_listen is not None and metrics_registry is None:
        raise ValueError("a metrics port needs the service's own registry (rpc.metrics)")
    if tls is None and not insecure and not _is_loopback(split_listen(listen)[0]):
        raise InsecureListen(
            f"refusing to serve plaintext gRPC on {listen}, which is not a loopback address: give "
            "--tls-cert and --tls-key, or --insecure to accept that anyone who reaches it can submit, "
            "revoke and read every task"
        )
    if tls is None and insecure and not _is_loopback(split_listen(listen)[0]):
        log.warning("serving plaintext gRPC on %s (--insecure): traffic is readable and unauthenticated", listen)
    server = grpc.aio.server(
        interceptors=list(interceptors),
        options=[
            ("grpc.max_receive_message_length", max_message_bytes),
            ("grpc.max_send_message_length", max_message_bytes),
            # One listener per port: a second process must not silently share it.
            ("grpc.so_reuseport", 0),
            # Ping idle peers (a worker's stream, a waiting client): a connection whose peer
            # lost power is closed after ~30 s instead of living on in TCP.
            ("grpc.keepalive_time_ms", 20_000),
            ("grpc.keepalive_timeout_ms", 10_000),
            # Accept the clients' own keepalive pings (every 10 s, see rpc/channels.py).
            ("grpc.keepalive_permit_without_calls", 1),
            ("grpc.http2.min_recv_ping_interval_without_data_ms", 5_000),
        ],
    )
    names = [s.name for s in specs]
    for spec in specs:
        spec.add(spec.servicer, server)
    health_servicer = health_aio.HealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)
    reflection_pb2_grpc.add_ServerReflectionServicer_to_server(  # type: ignore[no-untyped-call]  # untyped stubs
        _DocumentedReflection([*names, _HEALTH_NAME, reflection.SERVICE_NAME], _protocol_docs()), server
    )
    refused = _bind_error(listen)
    if refused is not None:
        raise refused
    try:
        port = server.add_insecure_port(listen) if tls is None else server.add_secure_port(listen, tls.credentials())
    except RuntimeError:  # grpc says only "Failed to bind"
        port = 0
    if port == 0:
        raise OSError(f"cannot listen on {listen}")
    health_server = None
    health_port = None
    if health_listen is not None:
        # Only health, sharing the main server's status: what a probe may reach in plaintext
        # (and reflection of health alone, for the chart NOTES' grpcurl check).
        health_server = grpc.aio.server()
        health_pb2_grpc.add_HealthServicer_to_server(health_servicer, health_server)
        reflection_pb2_grpc.add_ServerReflectionServicer_to_server(  # type: ignore[no-untyped-call]  # untyped stubs
            _health_reflection(), health_server
        )
        refused = _bind_error(health_listen, "health")
        if refused is not None:
            raise refused
        health_port = health_server.add_insecure_port(health_listen)
        await health_server.start()
    metrics = thread = None
    metrics_port = None
    if metrics_listen is not None and metrics_registry is not None:
        metrics, thread, metrics_port = metrics_http.serve(metrics_listen, metrics_registry, namespace=namespace)
    await server.start()
    running = RunningServer(server, health_servicer, names, port, metrics, thread, metrics_port)
    running.health_server, running.health_port = health_server, health_port
    await running.set_serving(True)
    return running
