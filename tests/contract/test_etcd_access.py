"""The etcd facade against a real etcd serving TLS with client certificates and with
authentication on: the right CA, certificate and user work; plaintext, no client certificate, a
wrong password and a key outside the user's permission are refused; a lapsed token is renewed
without the caller noticing (reads, writes and watches)."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest

from motet_server.store.errors import StoreError, StoreUnavailable
from motet_server.store.etcd import Etcd, EtcdAccess, EtcdAccessError
from motet_server.store.etcd_process import EtcdProcess
from tests.support.certs import CA
from tests.support.etcd_auth import PASSWORD, PREFIX, enable_auth

pytestmark = pytest.mark.asyncio


@pytest.fixture(scope="module")
def secured_etcd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[EtcdProcess, CA, Path]]:
    folder = tmp_path_factory.mktemp("etcd-access")
    ca = CA(folder / "pki")
    server = ca.issue("etcd")
    client = ca.issue("motet-client", server=False)
    # A short token lifetime, so the renewal is exercised within the test.
    with EtcdProcess(
        data_dir=folder / "etcd", tls=(ca.path, server.cert, server.key), extra_args=["--auth-token-ttl", "2"]
    ) as proc:
        access = EtcdAccess.from_flags(str(ca.path), str(client.cert), str(client.key))
        asyncio.run(enable_auth(proc.endpoint, access))
        (folder / "password").write_text(PASSWORD + "\n")
        yield proc, ca, folder


def _access(
    secured: tuple[EtcdProcess, CA, Path], user: str | None = "motet", password: str = "password"
) -> EtcdAccess:
    _, ca, folder = secured
    client = folder / "pki" / "motet-client"
    return EtcdAccess.from_flags(
        str(ca.path),
        str(client.with_suffix(".pem")),
        str(client.with_suffix(".key")),
        user,
        str(folder / password) if user else None,
    )


async def test_tls_client_certificate_and_user_reach_the_prefix(secured_etcd: tuple[EtcdProcess, CA, Path]) -> None:
    proc = secured_etcd[0]
    async with await Etcd.connect(proc.endpoint, access=_access(secured_etcd), probe_key=PREFIX) as etcd:
        await etcd.put(PREFIX + b"k", b"v")
        got = await etcd.get(PREFIX + b"k")
        assert got is not None and got.value == b"v"
        assert await etcd.is_healthy()


async def test_plaintext_and_no_client_certificate_are_refused(secured_etcd: tuple[EtcdProcess, CA, Path]) -> None:
    proc, ca, _ = secured_etcd
    with pytest.raises(StoreUnavailable):
        await Etcd.connect(proc.endpoint, timeout=1.0, probe_key=PREFIX)
    with pytest.raises(StoreUnavailable):
        await Etcd.connect(proc.endpoint, timeout=1.0, access=EtcdAccess.from_flags(str(ca.path)), probe_key=PREFIX)


async def test_a_wrong_password_and_a_key_outside_the_permission_are_refused(
    secured_etcd: tuple[EtcdProcess, CA, Path], tmp_path: Path
) -> None:
    proc, _, folder = secured_etcd
    (folder / "wrong").write_text("not-it")
    with pytest.raises(StoreError, match="authenticate as 'motet'"):
        await Etcd.connect(proc.endpoint, access=_access(secured_etcd, password="wrong"), probe_key=PREFIX)
    async with await Etcd.connect(proc.endpoint, access=_access(secured_etcd), probe_key=PREFIX) as etcd:
        with pytest.raises(StoreError, match="permission denied"):
            await etcd.put(b"/motet/beta/k", b"v")
    # Authentication is on: without a user even the probe read is refused.
    with pytest.raises(StoreError):
        await Etcd.connect(proc.endpoint, access=_access(secured_etcd, user=None), probe_key=PREFIX)


async def test_a_lapsed_token_is_renewed_for_reads_writes_and_watches(
    secured_etcd: tuple[EtcdProcess, CA, Path],
) -> None:
    proc = secured_etcd[0]
    async with await Etcd.connect(proc.endpoint, access=_access(secured_etcd), probe_key=PREFIX) as etcd:
        first = etcd._metadata  # noqa: SLF001 - the token in use
        await asyncio.sleep(3.5)  # idle past --auth-token-ttl 2
        revision = await etcd.put(PREFIX + b"after", b"1")
        assert etcd._metadata != first, "the lapsed token was not replaced"  # noqa: SLF001
        await asyncio.sleep(3.5)
        seen: list[bytes] = []
        for _ in range(3):  # a watch opened on a lapsed token is refused once, then renewed
            try:
                async for events in etcd.watch_prefix(PREFIX, start_revision=revision):
                    seen += [e.kv.key for e in events]
                    break
                break
            except StoreUnavailable:
                continue
        assert seen == [PREFIX + b"after"]


async def test_half_given_flags_are_one_line() -> None:
    with pytest.raises(EtcdAccessError, match="--etcd-cert and --etcd-key"):
        EtcdAccess.from_flags("ca.pem", "cert.pem", None)
    with pytest.raises(EtcdAccessError, match="--etcd-ca"):
        EtcdAccess.from_flags(None, "cert.pem", "key.pem")
    with pytest.raises(EtcdAccessError, match="--etcd-password-file"):
        EtcdAccess.from_flags(user="motet")
    with pytest.raises(EtcdAccessError, match="cannot read the etcd CA bundle"):
        EtcdAccess.from_flags("/nonexistent/ca.pem")
