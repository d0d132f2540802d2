"""The values the store speaks in: keys as read (`KV`, `WatchEvent`), transaction parts
(`Compare`, `Op`) and what a transaction did (`TxnResult`).

Plain dataclasses with no gRPC in them: `store.etcd` converts them to and from etcd's
protobuf messages, so code that only builds or reads them (the STM, the scheduler's caches,
pure unit tests) never loads the etcd client.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

__all__ = [
    "KV",
    "MAX_TXN_OPS",
    "Compare",
    "CompareOp",
    "Op",
    "TxnResult",
    "WatchEvent",
    "prefix_end",
]

MAX_TXN_OPS = 120
"""Ops per transaction branch we allow ourselves. etcd's --max-txn-ops (default 128) limits the
compare list and each branch's op list separately (measured on 3.4.23: 128 compares + 128 puts
pass, 129 of either fails); 8 spare for a caller's own guard ops."""

CompareOp = Literal["==", "!=", "<", ">"]
"""The comparison operators etcd offers."""

_COMPARE_OPS = ("==", "!=", "<", ">")


@dataclass(frozen=True, slots=True)
class KV:
    """One key as etcd stores it."""

    key: bytes
    value: bytes
    create_revision: int
    mod_revision: int
    version: int
    lease: int


@dataclass(frozen=True, slots=True)
class WatchEvent:
    """A change seen by a watch. For a delete, ``kv.value`` is empty and ``kv.mod_revision`` is
    the revision of the deletion."""

    kind: Literal["put", "delete"]
    kv: KV


@dataclass(frozen=True, slots=True)
class Compare:
    """One predicate of a transaction's guard. Build it with the static constructors."""

    key: bytes
    target: Literal["mod", "create", "version", "value", "lease"]
    op: CompareOp
    operand: int | bytes

    def __post_init__(self) -> None:
        if self.op not in _COMPARE_OPS:
            raise ValueError(f"compare op must be one of {sorted(_COMPARE_OPS)}, not {self.op!r}")

    @staticmethod
    def mod(key: bytes, op: CompareOp, rev: int) -> Compare:
        """mod_revision of ``key`` (0 when absent) compared with ``rev``."""
        return Compare(key=key, target="mod", op=op, operand=rev)

    @staticmethod
    def create(key: bytes, op: CompareOp, rev: int) -> Compare:
        """create_revision of ``key`` (0 when absent: ``create(k, "==", 0)`` means never created)."""
        return Compare(key=key, target="create", op=op, operand=rev)

    @staticmethod
    def version(key: bytes, op: CompareOp, v: int) -> Compare:
        """version of ``key`` (number of puts since creation; 0 when absent)."""
        return Compare(key=key, target="version", op=op, operand=v)

    @staticmethod
    def value(key: bytes, op: CompareOp, value: bytes) -> Compare:
        """value of ``key`` (a compare on an absent key's value is false)."""
        return Compare(key=key, target="value", op=op, operand=value)

    @staticmethod
    def lease(key: bytes, op: CompareOp, lease_id: int) -> Compare:
        """lease id attached to ``key`` (0 when none or absent)."""
        return Compare(key=key, target="lease", op=op, operand=lease_id)


@dataclass(frozen=True, slots=True)
class Op:
    """One operation of a transaction branch. Build it with the static constructors.

    ``range_end`` empty means the single key; otherwise the range ``[key, range_end)``.
    """

    kind: Literal["put", "delete", "get"]
    key: bytes
    range_end: bytes = b""
    value: bytes = b""
    lease: int = 0

    @staticmethod
    def put(key: bytes, value: bytes, lease: int = 0) -> Op:
        """Put ``key = value`` (attached to ``lease`` unless 0)."""
        return Op(kind="put", key=key, value=value, lease=lease)

    @staticmethod
    def delete(key: bytes) -> Op:
        """Delete ``key``; its response is the number deleted (0 or 1)."""
        return Op(kind="delete", key=key)

    @staticmethod
    def delete_prefix(prefix: bytes) -> Op:
        """Delete every key starting with ``prefix``; its response is the number deleted."""
        return Op(kind="delete", key=prefix, range_end=prefix_end(prefix))

    @staticmethod
    def delete_range(key: bytes, range_end: bytes) -> Op:
        """Delete every key in ``[key, range_end)``."""
        return Op(kind="delete", key=key, range_end=range_end)

    @staticmethod
    def get(key: bytes) -> Op:
        """Read ``key``; its response is a list of 0 or 1 `KV`."""
        return Op(kind="get", key=key)

    @staticmethod
    def get_prefix(prefix: bytes) -> Op:
        """Read every key starting with ``prefix`` (sorted by key); its response is a list of `KV`."""
        return Op(kind="get", key=prefix, range_end=prefix_end(prefix))


@dataclass(slots=True)
class TxnResult:
    """What a transaction did.

    Attributes:
        succeeded: Whether every compare held (so the success branch ran).
        revision: The store revision after the transaction (its commit revision if it wrote).
        responses: One per op of the branch that ran: a ``list[KV]`` for a get, the number of
            keys deleted for a delete, 0 for a put.
    """

    succeeded: bool
    revision: int
    responses: list[Any] = field(default_factory=list)


def prefix_end(prefix: bytes) -> bytes:
    """The range end that makes ``[prefix, end)`` every key starting with ``prefix``."""
    end = bytearray(prefix)
    while end:
        if end[-1] < 0xFF:
            end[-1] += 1
            return bytes(end)
        end.pop()
    return b"\0"  # all 0xff (or empty): every key from prefix on
