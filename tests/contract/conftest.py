"""Contract suite: the store layer against a real etcd (one per session)."""

from tests.support.fixtures import etcd_server, keys, store  # noqa: F401 - pytest finds fixtures by name
