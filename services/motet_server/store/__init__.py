"""The only package that talks to etcd.

- `store.etcd`: the async client facade (`Etcd`), the only module that imports the etcd gRPC code;
- `store.kv`: the values it speaks in (`KV`, `Compare`, `Op`, `TxnResult`, `WatchEvent`, `prefix_end`);
- `store.keys`: the keyspace (`Keys`);
- `store.stm`: optimistic transactions with compares and the outbox for large write sets;
- `store.result_lease`: the rotating lease results are written under (`ResultLease`);
- `store.errors`: `StoreError`, `StoreUnavailable`, `WatchCompacted`;
- `store.etcd_process`: a private etcd server process (dev and tests).

Import from the modules; this package imports nothing so that importing `etcd_process` does
not load the etcd gRPC code.
"""

__all__: list[str] = []
