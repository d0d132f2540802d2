"""Contract suite: the store layer against a real etcd (one per session)."""

from tests.support.fixtures import default_limits_etcd, etcd_server, keys, small_store, store  # noqa: F401 - pytest finds fixtures by name
