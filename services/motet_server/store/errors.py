"""Errors raised by the store package.

```
StoreError                 etcd refused or failed a request (bad request, too large, …)
├── StoreUnavailable       etcd could not be reached in time; a Txn's outcome is UNKNOWN
└── WatchCompacted         a watch asked for history etcd has already compacted
```

These are server-internal: services translate them into gRPC statuses (`rpc/errors.py`).
"""

from __future__ import annotations

__all__ = ["StoreError", "StoreUnavailable", "WatchCompacted"]


class StoreError(Exception):
    """etcd failed a request; the message says which and why."""


class StoreUnavailable(StoreError):
    """etcd could not be reached (UNAVAILABLE / DEADLINE_EXCEEDED / channel closed).

    For a transaction this means the outcome is unknown: it may or may not have been applied.
    Never retry a transaction blindly; re-read and re-run the transition (its compares make a
    re-run safe), or leave it to the reconciler.
    """


class WatchCompacted(StoreError):
    """The watch's start revision is older than etcd's compaction point.

    Re-read the state (a range returns the current revision) and watch again from
    ``revision + 1``; never re-watch from ``compact_revision`` expecting the lost events.
    """

    def __init__(self, compact_revision: int) -> None:
        super().__init__(
            f"the watch start revision was compacted (history starts at revision {compact_revision}); "
            "re-read the keys and watch again from the read's revision + 1"
        )
        self.compact_revision = compact_revision
