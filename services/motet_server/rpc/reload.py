"""A value read from a file and read again when the file changes (token files, JWKS files):
rotating credentials needs no restart and no signal, as with the TLS files (`rpc.tls`).

The file is stat'ed at most once per `CHECK_EVERY` seconds, on use; a change of its
modification time or size reloads it. A reload that fails (a half-written file, bad JSON)
keeps the value in use and logs one warning per change, so a botched edit never locks every
client out; fixing the file takes effect at the next check.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable
from typing import Generic, TypeVar

__all__ = ["CHECK_EVERY", "Reloading"]

log = logging.getLogger(__name__)

CHECK_EVERY = 1.0
"""Seconds between two looks at the file's modification time."""

T = TypeVar("T")


def _stamp(path: str) -> tuple[float, int] | None:
    try:
        st = os.stat(path)
    except OSError:
        return None
    return (st.st_mtime, st.st_size)


class Reloading(Generic[T]):
    """``load()``'s value, loaded again when ``path`` changes.

    Args:
        path: The file ``load`` reads.
        load: Reads it; raises (any ``Exception``) when it cannot be used. Called once here,
            so a bad file fails the start with the loader's own error.
        what: How the file is named in the warning ("token file").
    """

    def __init__(self, path: str, load: Callable[[], T], what: str) -> None:
        self.path = path
        self._load = load
        self._what = what
        self._lock = threading.Lock()
        self._stamp = _stamp(path)
        self._value = load()
        self._next_check = time.monotonic() + CHECK_EVERY
        self._failed_stamp: tuple[float, int] | None = None

    def get(self) -> T:
        """The current value (reloaded first when the file changed since the last look)."""
        now = time.monotonic()
        if now < self._next_check:
            return self._value
        with self._lock:
            if now < self._next_check:
                return self._value
            self._next_check = now + CHECK_EVERY
            stamp = _stamp(self.path)
            if stamp is None or stamp == self._stamp or stamp == self._failed_stamp:
                return self._value  # unchanged, or missing mid-rotation: keep what works
            try:
                value = self._load()
            except Exception as exc:  # noqa: BLE001 - any failure keeps the working value
                self._failed_stamp = stamp
                log.warning(
                    "%s %s changed but cannot be used, keeping the previous one: %s", self._what, self.path, exc
                )
                return self._value
            self._value, self._stamp, self._failed_stamp = value, stamp, None
            log.info("%s %s reloaded", self._what, self.path)
            return value
