"""A thin asyncio facade over etcd's v3 gRPC API (stubs generated from the vendored protos).

This is the only module that imports the generated etcd code. Callers get the plain values
of `store.kv` (`KV`, `WatchEvent`, `TxnResult`) and build transactions from its `Compare` and
`Op`, read back by name, never by position into a protobuf reply.

Errors: every gRPC failure becomes a `StoreError`; UNAVAILABLE / DEADLINE_EXCEEDED (and a
closed channel) become `StoreUnavailable`. Nothing here retries a request after it may have
reached etcd: a transaction whose outcome is unknown raises `StoreUnavailable`, and the caller
re-reads and re-runs its transition (the compares make that safe). Calls wait for the channel
to be ready up to the timeout, so a brief etcd restart costs latency, not an error.

Access (`EtcdAccess`, the services' ``--etcd-ca/--etcd-cert/--etcd-key`` and ``--etcd-user``
flags): TLS to etcd's client port, with a client certificate when etcd asks for one
(``--client-cert-auth``), and etcd's own authentication: the client authenticates as the user,
sends the token with every request, and authenticates again when etcd says the token is no
longer valid (its simple tokens lapse after ``--auth-token-ttl`` of idleness, 300 s by default).
A request refused for its token never reached the store, so it is sent again once.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from collections.abc import AsyncIterator, Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Self

import grpc

from motet.channels import read_file
from motet_server.etcd import kv_pb2, rpc_pb2, rpc_pb2_grpc
from motet_server.rpc.channels import open_channel
from motet_server.store.errors import StoreError, StoreUnavailable, WatchCompacted
from motet_server.store.kv import KV, MAX_TXN_OPS, Compare, Op, TxnResult, WatchEvent, prefix_end

__all__ = ["PAGE_KEYS", "Etcd", "EtcdAccess", "EtcdAccessError"]

_HEALTH_TIMEOUT = 1.0
"""A health probe must answer fast: it decides NOT_SERVING while etcd is unreachable."""

PAGE_KEYS = 1000
"""Keys per range request of `Etcd.get_prefix` (smaller when a page exceeds a message)."""

_CHANNEL_OPTIONS = [
    # Give up on an unanswered keepalive ping after 5 s rather than gRPC's default 20 s, so a
    # dead etcd connection is noticed (and pick_first moves to the next member) quickly. The
    # message ceiling (etcd's own limit is its --max-request-bytes) and the ping interval come
    # from open_channel.
    ("grpc.keepalive_timeout_ms", 5_000),
]


_COMPARE_RESULTS = {
    "==": rpc_pb2.Compare.EQUAL,
    "!=": rpc_pb2.Compare.NOT_EQUAL,
    "<": rpc_pb2.Compare.LESS,
    ">": rpc_pb2.Compare.GREATER,
}


def _compare_proto(compare: Compare) -> rpc_pb2.Compare:
    c = rpc_pb2.Compare(key=compare.key, result=_COMPARE_RESULTS[compare.op])
    if compare.target == "mod":
        c.target = rpc_pb2.Compare.MOD
        c.mod_revision = int(compare.operand)
    elif compare.target == "create":
        c.target = rpc_pb2.Compare.CREATE
        c.create_revision = int(compare.operand)
    elif compare.target == "version":
        c.target = rpc_pb2.Compare.VERSION
        c.version = int(compare.operand)
    elif compare.target == "value":
        c.target = rpc_pb2.Compare.VALUE
        c.value = compare.operand if isinstance(compare.operand, bytes) else bytes(compare.operand)
    else:
        c.target = rpc_pb2.Compare.LEASE
        c.lease = int(compare.operand)
    return c


def _op_proto(op: Op) -> rpc_pb2.RequestOp:
    if op.kind == "put":
        return rpc_pb2.RequestOp(request_put=rpc_pb2.PutRequest(key=op.key, value=op.value, lease=op.lease))
    if op.kind == "delete":
        return rpc_pb2.RequestOp(request_delete_range=rpc_pb2.DeleteRangeRequest(key=op.key, range_end=op.range_end))
    return rpc_pb2.RequestOp(request_range=rpc_pb2.RangeRequest(key=op.key, range_end=op.range_end))


def _kv(p: kv_pb2.KeyValue) -> KV:
    return KV(
        key=p.key,
        value=p.value,
        create_revision=p.create_revision,
        mod_revision=p.mod_revision,
        version=p.version,
        lease=p.lease,
    )


def _map_error(exc: grpc.aio.AioRpcError, what: str) -> StoreError:
    code = exc.code()
    detail = f"etcd {what} failed: {code.name}: {exc.details()}"
    if code in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED, grpc.StatusCode.CANCELLED):
        return StoreUnavailable(detail)
    if "too large" in (exc.details() or "") or "larger than max" in (exc.details() or ""):
        detail += " (raise etcd's --max-request-bytes, or write less per transaction)"
    return StoreError(detail)


def _parse_endpoints(endpoints: Sequence[str] | str) -> list[tuple[str, int]]:
    if isinstance(endpoints, str):
        endpoints = endpoints.split(",")
    out = []
    for raw in endpoints:
        ep = raw.strip()
        if not ep:
            continue
        ep = ep.split("://", 1)[-1].rstrip("/")
        host, sep, port = ep.rpartition(":")
        if not sep or not port.isdigit():
            raise ValueError(f"etcd endpoint must be host:port, not {raw!r}")
        out.append((host.strip("[]"), int(port)))
    if not out:
        raise ValueError("give at least one etcd endpoint (host:port)")
    return out


async def _target(endpoints: list[tuple[str, int]]) -> str:
    if len(endpoints) == 1:
        host, port = endpoints[0]
        return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
    # Several members: one channel over all their addresses with pick_first, so gRPC moves to
    # the next member when one goes away. The ipv4:/ipv6: schemes need literal addresses.
    loop = asyncio.get_running_loop()
    v4: list[str] = []
    v6: list[str] = []
    for host, port in endpoints:
        try:
            ip = ipaddress.ip_address(host)
            addrs = [str(ip)]
        except ValueError:
            infos = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM)
            addrs = [str(info[4][0]) for info in infos]
        for a in addrs:
            if ":" in a:
                v6.append(f"[{a}]:{port}")
            else:
                v4.append(f"{a}:{port}")
    if v4:
        return "ipv4:" + ",".join(dict.fromkeys(v4))
    return "ipv6:" + ",".join(dict.fromkeys(v6))


class EtcdAccessError(ValueError):
    """The etcd TLS or user flags cannot be used; the message says which and why."""


def _read(path: str, what: str) -> bytes:
    return read_file(path, what, EtcdAccessError)


@dataclass(frozen=True)
class EtcdAccess:
    """How the services reach etcd besides its addresses: TLS and an etcd user.

    Attributes:
        ca: PEM CA bundle of etcd's server certificates: connect over TLS (``https``).
        cert: PEM client certificate, for an etcd started with ``--client-cert-auth``.
        key: PEM private key of ``cert``.
        user: etcd user to authenticate as (etcd started with authentication enabled).
        password: That user's password.
    """

    ca: bytes | None = None
    cert: bytes | None = None
    key: bytes | None = None
    user: str | None = None
    password: str | None = None

    @classmethod
    def from_flags(
        cls,
        ca: str | None = None,
        cert: str | None = None,
        key: str | None = None,
        user: str | None = None,
        password_file: str | None = None,
    ) -> EtcdAccess:
        """The access the --etcd-ca / --etcd-cert / --etcd-key / --etcd-user /
        --etcd-password-file flags describe (files read now).

        Raises:
            EtcdAccessError: a certificate without its key (or the other way round), a client
                certificate without a CA, a user without a password file (or the reverse), or a
                file that cannot be read.
        """
        if bool(cert) != bool(key):
            raise EtcdAccessError("give both --etcd-cert and --etcd-key, or neither")
        if cert and not ca:
            raise EtcdAccessError("--etcd-cert needs --etcd-ca (the CA of etcd's server certificate)")
        if bool(user) != bool(password_file):
            raise EtcdAccessError("give both --etcd-user and --etcd-password-file, or neither")
        password = _read(password_file, "etcd password file").decode().strip() if password_file else None
        return cls(
            ca=_read(ca, "etcd CA bundle") if ca else None,
            cert=_read(cert, "etcd client certificate") if cert else None,
            key=_read(key, "etcd client key") if key else None,
            user=user or None,
            password=password,
        )

    def credentials(self) -> grpc.ChannelCredentials | None:
        """TLS channel credentials, or None for plaintext."""
        if self.ca is None:
            return None
        return grpc.ssl_channel_credentials(
            root_certificates=self.ca, private_key=self.key, certificate_chain=self.cert
        )


PLAIN = EtcdAccess()
"""Plaintext, no etcd user (a local etcd, the tests)."""


def _bad_token(exc: grpc.aio.AioRpcError) -> bool:
    # etcd's ErrGRPCInvalidAuthToken (and the older "auth old revision", a token minted before
    # a change of users or roles) mean: authenticate again; the request was not applied.
    details = exc.details() or ""
    return exc.code() == grpc.StatusCode.UNAUTHENTICATED or "auth old revision" in details


class Etcd:
    """An etcd client over one gRPC channel. Create it with `Etcd.connect`."""

    def __init__(
        self,
        channel: grpc.aio.Channel,
        *,
        endpoints: list[str],
        timeout: float,
        access: EtcdAccess = PLAIN,
        probe_key: bytes = b"\0",
    ) -> None:
        self._channel = channel
        self._kv = rpc_pb2_grpc.KVStub(channel)
        self._watch = rpc_pb2_grpc.WatchStub(channel)
        self._lease = rpc_pb2_grpc.LeaseStub(channel)
        self._auth = rpc_pb2_grpc.AuthStub(channel)
        self.endpoints = endpoints
        self.timeout = timeout
        self._access = access
        self._probe_key = probe_key
        self._metadata: tuple[tuple[str, str], ...] | None = None
        self._authenticating: asyncio.Lock | None = None

    @classmethod
    async def connect(
        cls,
        endpoints: Sequence[str] | str,
        *,
        timeout: float = 5.0,
        access: EtcdAccess = PLAIN,
        probe_key: bytes = b"\0",
        check: bool = True,
    ) -> Etcd:
        """Opens a channel to etcd.

        Args:
            endpoints: ``host:port`` strings (or one comma-separated string; an ``http://``
                prefix is ignored). With several, the first reachable member is used and
                gRPC fails over to the next.
            timeout: Deadline in seconds for each request (watches have none).
            access: TLS and the etcd user (`EtcdAccess`); plaintext without a user by default.
            probe_key: The key `revision` and `is_healthy` read (count only): one the etcd user
                may read, e.g. the namespace's root (``/motet/<namespace>/``).
            check: Make one read before returning, so a wrong address (or user) fails here.

        Returns:
            A connected client.

        Raises:
            StoreUnavailable: ``check`` is set and etcd did not answer within ``timeout``.
            StoreError: etcd refused the user or password, or the probe read.
        """
        eps = _parse_endpoints(endpoints)
        target = await _target(eps)
        channel = open_channel(target, credentials=access.credentials(), options=_CHANNEL_OPTIONS)
        client = cls(
            channel, endpoints=[f"{h}:{p}" for h, p in eps], timeout=timeout, access=access, probe_key=probe_key
        )
        try:
            if access.user:
                await client._authenticate(None)
            if check:
                await client.revision()
        except BaseException:
            await client.close()
            raise
        return client

    async def _authenticate(self, stale: tuple[tuple[str, str], ...] | None) -> None:
        """Gets a new token, unless another caller already replaced ``stale``."""
        if self._authenticating is None:
            self._authenticating = asyncio.Lock()
        async with self._authenticating:
            if self._metadata != stale:
                return
            request = rpc_pb2.AuthenticateRequest(name=self._access.user or "", password=self._access.password or "")
            try:
                resp = await self._auth.Authenticate(request, timeout=self.timeout, wait_for_ready=True)
            except grpc.aio.AioRpcError as exc:
                raise _map_error(exc, f"authenticate as {self._access.user!r}") from exc
            self._metadata = (("token", resp.token),)

    async def close(self) -> None:
        """Closes the channel (open watches end with `StoreUnavailable`)."""
        await self._channel.close(grace=None)

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def _unary(self, method: Any, request: Any, what: str, timeout: float | None = None) -> Any:
        for attempt in (1, 2):
            sent = self._metadata
            try:
                return await method(request, timeout=timeout or self.timeout, wait_for_ready=True, metadata=sent)
            except grpc.aio.AioRpcError as exc:
                if attempt == 1 and self._access.user and _bad_token(exc):
                    await self._authenticate(sent)  # refused before it was applied: send it again
                    continue
                raise _map_error(exc, what) from exc
        raise AssertionError("unreachable")  # the loop returns or raises

    async def _stream_failed(self, exc: grpc.aio.AioRpcError, sent: Any, what: str) -> StoreError:
        """The error for a broken stream; a stale token is renewed first and the stream's end
        reported as `StoreUnavailable`, which its caller answers by opening it again."""
        if self._access.user and _bad_token(exc):
            await self._authenticate(sent)
            return StoreUnavailable(f"etcd {what}: the auth token had lapsed; renewed")
        return _map_error(exc, what)

    # -- reads ---------------------------------------------------------------------------------

    async def get(self, key: bytes) -> KV | None:
        """The key, or None when absent."""
        resp = await self._unary(self._kv.Range, rpc_pb2.RangeRequest(key=key), "get")
        return _kv(resp.kvs[0]) if resp.kvs else None

    async def get_many(self, keys: Iterable[bytes]) -> dict[bytes, KV]:
        """The present keys among ``keys`` (absent ones are missing from the dict).

        One transaction of range ops per `MAX_TXN_OPS` keys (etcd's --max-txn-ops is 128 by
        default), so up to that many keys are read at one revision.
        """
        unique = list(dict.fromkeys(keys))
        out: dict[bytes, KV] = {}
        for i in range(0, len(unique), MAX_TXN_OPS):
            res = await self.txn((), [Op.get(k) for k in unique[i : i + MAX_TXN_OPS]])
            for kvs in res.responses:
                for kv in kvs:
                    out[kv.key] = kv
        return out

    async def get_prefix(
        self, prefix: bytes, *, limit: int = 0, revision: int = 0, keys_only: bool = False
    ) -> tuple[list[KV], int]:
        """Every key starting with ``prefix``, sorted by key, and the revision of the read.

        Read in pages of at most `PAGE_KEYS` keys, every page at the revision of the first, so
        the answer is one consistent snapshot however large the prefix (one unpaginated range
        would fail beyond the channel's 64 MiB receive limit). A page etcd cannot send in one
        message is asked for again at half the size.

        Args:
            prefix: The key prefix.
            limit: At most this many keys (0: all).
            keys_only: Leave every value empty (etcd sends none).
            revision: Read the store as of this revision (0: now). A compacted revision
                raises `StoreError` (also when compaction passes the read's revision between
                two pages: read again).

        Returns:
            ``(kvs, revision)``: watch from ``revision + 1`` to see every later change.
        """
        end = prefix_end(prefix)
        out: list[KV] = []
        key, page = prefix, PAGE_KEYS
        while True:
            want = min(page, limit - len(out)) if limit else page
            req = rpc_pb2.RangeRequest(key=key, range_end=end, limit=want, revision=revision, keys_only=keys_only)
            try:
                resp = await self._unary(self._kv.Range, req, "get_prefix")
            except StoreError as exc:
                if page > 1 and "larger than max" in str(exc):
                    page //= 2
                    continue
                raise
            revision = revision or int(resp.header.revision)
            out += [_kv(p) for p in resp.kvs]
            if not resp.more or not resp.kvs or (limit and len(out) >= limit):
                return out, revision
            key = resp.kvs[-1].key + b"\0"  # the next key after the last one read

    async def count_prefix(self, prefix: bytes) -> int:
        """How many keys start with ``prefix``."""
        req = rpc_pb2.RangeRequest(key=prefix, range_end=prefix_end(prefix), count_only=True)
        resp = await self._unary(self._kv.Range, req, "count_prefix")
        return int(resp.count)

    async def revision(self) -> int:
        """The store's current revision (a linearizable read)."""
        req = rpc_pb2.RangeRequest(key=self._probe_key, count_only=True)
        resp = await self._unary(self._kv.Range, req, "revision")
        return int(resp.header.revision)

    async def is_healthy(self) -> bool:
        """Whether etcd answers a linearizable read within a second (i.e. has a leader)."""
        try:
            await self._unary(
                self._kv.Range, rpc_pb2.RangeRequest(key=self._probe_key, count_only=True), "health", _HEALTH_TIMEOUT
            )
        except StoreError:
            return False
        return True

    # -- writes --------------------------------------------------------------------------------

    async def put(self, key: bytes, value: bytes, lease: int = 0) -> int:
        """Puts ``key = value`` unconditionally; returns the new revision."""
        resp = await self._unary(self._kv.Put, rpc_pb2.PutRequest(key=key, value=value, lease=lease), "put")
        return int(resp.header.revision)

    async def delete(self, key: bytes) -> int:
        """Deletes ``key``; returns how many keys were deleted (0 or 1)."""
        resp = await self._unary(self._kv.DeleteRange, rpc_pb2.DeleteRangeRequest(key=key), "delete")
        return int(resp.deleted)

    async def delete_prefix(self, prefix: bytes) -> int:
        """Deletes every key starting with ``prefix``; returns how many."""
        req = rpc_pb2.DeleteRangeRequest(key=prefix, range_end=prefix_end(prefix))
        resp = await self._unary(self._kv.DeleteRange, req, "delete_prefix")
        return int(resp.deleted)

    async def txn(self, compares: Iterable[Compare], success: Iterable[Op], failure: Iterable[Op] = ()) -> TxnResult:
        """Runs one transaction: if every compare holds, the ``success`` ops, else ``failure``.

        Never retried: on `StoreUnavailable` the transaction may or may not have been applied.

        Raises:
            StoreUnavailable: etcd was unreachable; the outcome is unknown.
            StoreError: etcd refused it (too many ops, too large, a key written twice …).
        """
        req = rpc_pb2.TxnRequest(
            compare=[_compare_proto(c) for c in compares],
            success=[_op_proto(o) for o in success],
            failure=[_op_proto(o) for o in failure],
        )
        resp = await self._unary(self._kv.Txn, req, "txn")
        responses: list[Any] = []
        for r in resp.responses:
            which = r.WhichOneof("response")
            if which == "response_range":
                responses.append([_kv(p) for p in r.response_range.kvs])
            elif which == "response_delete_range":
                responses.append(int(r.response_delete_range.deleted))
            else:
                responses.append(0)
        return TxnResult(succeeded=bool(resp.succeeded), revision=int(resp.header.revision), responses=responses)

    async def compact(self, revision: int, *, physical: bool = True) -> None:
        """Drops history before ``revision`` (watches from older revisions get `WatchCompacted`)."""
        await self._unary(self._kv.Compact, rpc_pb2.CompactionRequest(revision=revision, physical=physical), "compact")

    # -- leases --------------------------------------------------------------------------------

    async def lease_grant(self, ttl: int) -> int:
        """Grants a lease of ``ttl`` seconds; returns its id."""
        resp = await self._unary(self._lease.LeaseGrant, rpc_pb2.LeaseGrantRequest(TTL=ttl), "lease_grant")
        if resp.error:
            raise StoreError(f"etcd lease_grant failed: {resp.error}")
        return int(resp.ID)

    async def lease_revoke(self, lease_id: int) -> None:
        """Revokes a lease, deleting every key attached to it. A lease already gone is fine."""
        try:
            await self._unary(self._lease.LeaseRevoke, rpc_pb2.LeaseRevokeRequest(ID=lease_id), "lease_revoke")
        except StoreError as exc:
            if "lease not found" not in str(exc):
                raise

    async def lease_keepalive_once(self, lease_id: int) -> int:
        """Renews a lease once; returns its new TTL in seconds, or 0 when it no longer exists."""
        sent = self._metadata
        call = self._lease.LeaseKeepAlive(None, timeout=self.timeout, wait_for_ready=True, metadata=sent)
        try:
            await call.write(rpc_pb2.LeaseKeepAliveRequest(ID=lease_id))
            resp = await call.read()
        except grpc.aio.AioRpcError as exc:
            raise await self._stream_failed(exc, sent, "lease_keepalive") from exc
        finally:
            call.cancel()
        if not isinstance(resp, rpc_pb2.LeaseKeepAliveResponse):  # grpc.aio.EOF: the stream ended
            raise StoreUnavailable("etcd lease_keepalive failed: the stream ended without a reply")
        return max(int(resp.TTL), 0)

    async def lease_ttl(self, lease_id: int) -> int:
        """The lease's remaining TTL in seconds, or -1 when it no longer exists."""
        resp = await self._unary(self._lease.LeaseTimeToLive, rpc_pb2.LeaseTimeToLiveRequest(ID=lease_id), "lease_ttl")
        return int(resp.TTL)

    # -- watches -------------------------------------------------------------------------------

    async def watch_prefix(
        self, prefix: bytes, *, start_revision: int, progress_notify: bool = False
    ) -> AsyncIterator[list[WatchEvent]]:
        """Every change to keys starting with ``prefix`` from ``start_revision`` (inclusive) on.

        Yields the events of each etcd watch response (all events of one revision arrive
        together). Open it at the revision of the read it follows, plus one, so nothing is
        missed. Close it with ``aclosing(...)`` or by breaking out and letting it be collected;
        closing cancels the server-side watch.

        Raises:
            WatchCompacted: ``start_revision`` is older than etcd's compaction point.
            StoreUnavailable: the stream broke (etcd restarted or unreachable); watch again
                from the last seen revision + 1.
        """
        sent = self._metadata
        call = self._watch.Watch(None, wait_for_ready=True, metadata=sent)
        create = rpc_pb2.WatchCreateRequest(
            key=prefix,
            range_end=prefix_end(prefix),
            start_revision=start_revision,
            progress_notify=progress_notify,
        )
        try:
            await call.write(rpc_pb2.WatchRequest(create_request=create))
            while True:
                resp = await call.read()
                if not isinstance(resp, rpc_pb2.WatchResponse):  # grpc.aio.EOF: the stream ended
                    raise StoreUnavailable("etcd watch ended: the server closed the stream")
                if resp.compact_revision:
                    raise WatchCompacted(int(resp.compact_revision))
                if resp.canceled:
                    if self._access.user and "invalid auth token" in resp.cancel_reason:
                        # etcd checks the token when the watch is created and cancels it for a
                        # lapsed one: renew the token; the caller opens the watch again.
                        await self._authenticate(sent)
                        raise StoreUnavailable(f"etcd canceled the watch: {resp.cancel_reason}; token renewed")
                    raise StoreError(f"etcd canceled the watch: {resp.cancel_reason or 'no reason given'}")
                if resp.events:
                    yield [
                        WatchEvent(kind="delete" if ev.type == kv_pb2.Event.DELETE else "put", kv=_kv(ev.kv))
                        for ev in resp.events
                    ]
        except grpc.aio.AioRpcError as exc:
            raise await self._stream_failed(exc, sent, "watch") from exc
        finally:
            call.cancel()
