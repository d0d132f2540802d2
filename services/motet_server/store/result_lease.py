"""The lease results are written under, so they expire like Celery's `result_expires`.

One lease serves every result written in an hour; a new one is granted each hour, so a result
lives between `expires` and `expires + 1 h`. Renewing nothing keeps the cost at one grant an hour.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from motet_server import config
from motet_server.store.etcd import Etcd

__all__ = ["ResultLease"]

log = logging.getLogger(__name__)


class ResultLease:
    """Holds the current results lease and rotates it."""

    def __init__(self, etcd: Etcd, expires: int | None = None, rotate: float = 3600.0) -> None:
        self._etcd = etcd
        self.expires = expires or config.result_expires()
        self._rotate = min(rotate, max(self.expires / 4, 1.0))
        self.lease = 0
        self._task: asyncio.Task[None] | None = None

    def __call__(self) -> int:
        """The lease id to write results under now."""
        return self.lease

    async def start(self) -> None:
        """Grants the first lease and starts rotating."""
        self.lease = await self._etcd.lease_grant(self.expires)
        self._task = asyncio.create_task(self._loop())

    async def stop(self) -> None:
        """Stops rotating (granted leases run out on their own)."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _loop(self) -> None:
        while True:
            await asyncio.sleep(self._rotate)
            try:
                self.lease = await self._etcd.lease_grant(self.expires)
            except Exception:  # noqa: BLE001 - keep the old lease; it still has time left
                log.warning("could not grant a new results lease", exc_info=True)
