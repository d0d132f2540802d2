"""Fixtures for suites that need a real etcd. Import them in a suite's conftest.py::

    from tests.support.fixtures import etcd_server, keys, store  # noqa: F401 - pytest finds fixtures by name

- ``etcd_server``: ONE private etcd per test session (temp data dir, free ports), shared by
  every suite that imports it; ``MOTET_TEST_ETCD=host:port`` uses an existing etcd instead.
- ``store``: a connected `Etcd` client per test.
- ``keys``: a `Keys` with a namespace unique to the test, so tests never see each other's keys.
- ``small_store``: a client of a second private etcd (one per module) that keeps etcd's default
  --max-request-bytes (1.5 MiB) instead of Motet's 10 MiB, for tests of what it refuses.
"""

from __future__ import annotations

import atexit
import os
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass

import pytest
import pytest_asyncio

from motet_server.store.etcd import Etcd
from motet_server.store.etcd_process import EtcdProcess
from motet_server.store.keys import Keys

__all__ = [
    "ETCD_DEFAULT_MAX_REQUEST_BYTES",
    "EtcdServer",
    "default_limits_etcd",
    "etcd_server",
    "keys",
    "shared_etcd",
    "small_store",
    "store",
]

ETCD_DEFAULT_MAX_REQUEST_BYTES = 1536 * 1024
"""etcd 3.4's default --max-request-bytes."""


@dataclass(frozen=True)
class EtcdServer:
    """The session's etcd. ``process`` is None when it is an external one (MOTET_TEST_ETCD)."""

    endpoint: str
    process: EtcdProcess | None


_shared: EtcdServer | None = None


def shared_etcd() -> EtcdServer:
    """The session's etcd, started on first use and stopped at interpreter exit."""
    global _shared
    if _shared is None:
        external = os.environ.get("MOTET_TEST_ETCD")
        if external:
            _shared = EtcdServer(external, None)
        else:
            proc = EtcdProcess().start()
            atexit.register(proc.stop)
            _shared = EtcdServer(proc.endpoint, proc)
    return _shared


@pytest.fixture(scope="session")
def etcd_server() -> EtcdServer:
    """The session's etcd (endpoint + process)."""
    return shared_etcd()


@pytest_asyncio.fixture
async def store(etcd_server: EtcdServer) -> AsyncIterator[Etcd]:
    """A client connected to the session's etcd, closed after the test."""
    client = await Etcd.connect(etcd_server.endpoint)
    try:
        yield client
    finally:
        await client.close()


@pytest.fixture
def keys() -> Keys:
    """A keyspace namespace unique to this test."""
    return Keys(f"test-{uuid.uuid4().hex[:12]}")


@pytest.fixture(scope="module")
def default_limits_etcd() -> Iterator[EtcdProcess]:
    """An etcd with its default request limit (Motet's EtcdProcess raises it to 10 MiB)."""
    with EtcdProcess(extra_args=["--max-request-bytes", str(ETCD_DEFAULT_MAX_REQUEST_BYTES)]) as proc:
        yield proc


@pytest_asyncio.fixture
async def small_store(default_limits_etcd: EtcdProcess) -> AsyncIterator[Etcd]:
    """A client of `default_limits_etcd`, closed after the test."""
    client = await Etcd.connect(default_limits_etcd.endpoint)
    try:
        yield client
    finally:
        await client.close()
