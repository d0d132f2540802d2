"""Optimistic software transactional memory over etcd, after etcd's ``client/v3/concurrency/stm.go``.

A transition reads through an `STM` and buffers its writes; `STM.commit` sends ONE etcd
transaction whose compares say "every key I read is still what I read" and whose ops are the
buffered writes. If another writer got there first, the compares fail, nothing is written, and
`commit` returns False: the caller re-runs the transition on a fresh STM.

Compares (one per key read, recorded on the key's first read):

- present key: ``mod_revision == kv.mod_revision`` (nobody wrote it since);
- absent key: ``create_revision == 0`` (nobody created it since): the "never created" guard.

Writes to the same key coalesce (last wins); ``delete_prefix`` drops earlier buffered writes
under the prefix, and a later put under the prefix survives it (the delete is split around the
put, since etcd refuses a put inside a delete range of the same txn).

Large write sets: etcd refuses more than 128 ops in a branch (--max-txn-ops) and requests over
--max-request-bytes (1.5 MiB by default). When the writes do not fit, the first writes that fit
go into the transaction and the rest are spilled, in order, into `OutboxPart` records
(``outbox/<txid>/<part:06d>``, at most ~119 writes / 1 MiB each) put by that same transaction,
so they commit atomically with it. Each part is then applied by its own transaction (guard: the
part is still there and the previous part is gone; ops: its writes + deleting the part), so each
applies exactly once and in order. `apply_outbox` does that right after the commit and is what
any replica's reconciler runs to finish parts a crash left behind. The spilled remainder becomes
visible a moment later, so a write that others must see together with the commit (an
idempotency guard, a task record together with its claim) is put with ``head=True``: pinned
writes go first and always commit in the transaction itself (`commit` refuses a write set whose
pinned writes do not fit). A part's key carries a fresh uuid4 txid, so it is never written over;
a repeated write set is stopped by its pinned guard. `STM.fits` tells whether the write set commits without spilling,
and `STM.spilled` which keys a committed write set left to its outbox parts (their revision is
not the commit's). Those parts travel in the commit txn, so such a spill stays under 1 MiB
(`STAGE_BYTES`).

Larger write sets, or ones needing more parts than one txn can put, are staged: their parts
are written first, one txn each, as ``stage/<txid>/<part:06d>`` (the txid starts with the Unix
time), and the commit txn puts one pointer part (``OutboxPart.staged`` = how many) with a
compare that staged part 0 still exists. Staged parts apply only once their pointer exists, in
order, each exactly once (`apply_outbox`); parts whose write set never committed are swept by
`clean_stages` (the reconciler) once `STAGE_ORPHAN_SECONDS` old. A write set then has no size
limit but etcd's space (docs/invariants.md, invariant 2).
"""

from __future__ import annotations

import contextlib
import logging
import time
import uuid
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Literal

from motet_server.config import DEFAULT_NAMESPACE
from motet_server.rpc import metrics
from motet_server.store.errors import StoreError
from motet_server.store.etcd import Etcd
from motet_server.store.keys import Keys
from motet_server.store.kv import KV, MAX_TXN_OPS, Compare, Op, prefix_end
from motet_server.v1 import records_pb2

__all__ = ["MAX_TXN_OPS", "PART_BYTES", "PART_OPS", "STAGE_BYTES", "STM", "Savepoint", "apply_outbox", "clean_stages"]

log = logging.getLogger(__name__)

PART_OPS = MAX_TXN_OPS - 1
"""Ops in one outbox part: its applying txn also deletes the part."""

STAGE_BYTES = 1024 * 1024
"""Write sets larger than this (or needing more outbox parts than one txn can put) stage their
parts before the commit (`stage/<txid>/<part>`, one txn each) instead of carrying them in it:
the commit txn stays small, and a write set has no size limit but the store's."""

STAGE_ORPHAN_SECONDS = 600.0
"""Age after which staged parts with no committed pointer are garbage (`clean_stages`)."""

PART_BYTES = 1024 * 1024
"""Bytes of writes in the commit txn's own share and in one outbox part: the part's applying
txn stays under etcd's default --max-request-bytes (1.5 MiB)."""

_WRITE_OVERHEAD = 16  # bytes of protobuf framing per op, roughly
_UNLIMITED = 1 << 62


@dataclass(slots=True)
class _Write:
    kind: Literal["put", "delete", "delete_prefix"]
    key: bytes
    value: bytes = b""
    lease: int = 0
    head: bool = False
    """Must commit in the transaction itself, never in an outbox part."""

    @property
    def size(self) -> int:
        return len(self.key) + len(self.value) + _WRITE_OVERHEAD


@dataclass(frozen=True, slots=True)
class Savepoint:
    """What `STM.savepoint` remembers: how long the undo journal was, and the prefix count."""

    journal: int
    prefixes: int


_MISSING = object()  # in the undo journal: the key was not in the table before


_KIND_TO_PROTO = {
    "put": records_pb2.WRITE_KIND_PUT,
    "delete": records_pb2.WRITE_KIND_DELETE,
    "delete_prefix": records_pb2.WRITE_KIND_DELETE_PREFIX,
}
_PROTO_TO_KIND: dict[int, Literal["put", "delete", "delete_prefix"]] = {
    records_pb2.WRITE_KIND_PUT: "put",
    records_pb2.WRITE_KIND_DELETE: "delete",
    records_pb2.WRITE_KIND_DELETE_PREFIX: "delete_prefix",
}


def _ops(writes: list[_Write]) -> list[Op]:
    """The etcd ops for writes applied in order in ONE txn.

    etcd refuses a put inside a delete range of the same txn ("duplicate key"), so a delete
    prefix is split around the puts that follow it (earlier puts under it were already dropped
    when it was buffered).
    """
    ops: list[Op] = []
    for i, w in enumerate(writes):
        if w.kind == "put":
            ops.append(Op.put(w.key, w.value, w.lease))
        elif w.kind == "delete":
            ops.append(Op.delete(w.key))
        else:
            end = prefix_end(w.key)
            keep = sorted({x.key for x in writes[i + 1 :] if x.kind == "put" and x.key.startswith(w.key)})
            start = w.key
            for k in keep:
                if start < k:
                    ops.append(Op.delete_range(start, k))
                start = k + b"\0"
            ops.append(Op.delete_range(start, end))
    return ops


def _op_cost(prefixes: list[_Write], w: _Write) -> int:
    """Ops ``w`` adds to a chunk whose delete_prefix writes are ``prefixes`` (a put inside an
    earlier delete prefix splits that delete: one more op)."""
    if w.kind == "put":
        return 1 + sum(1 for x in prefixes if w.key.startswith(x.key))
    return 1


def _pinned_first(writes: list[_Write]) -> list[_Write]:
    """The writes with the pinned ones (``head``) first, each group in buffer order.

    A delete_prefix covering a pinned put moves up with it, so the put still follows the
    delete that it survives (the only order between different keys that matters: a put under
    a delete_prefix is always buffered after it, since the delete drops earlier ones).
    """
    pinned = [w for w in writes if w.head]
    if not pinned:
        return writes
    keys = [w.key for w in pinned if w.kind == "put"]
    first = {id(w) for w in writes if w.head or (w.kind == "delete_prefix" and any(k.startswith(w.key) for k in keys))}
    return [w for w in writes if id(w) in first] + [w for w in writes if id(w) not in first]


def _chunks(writes: list[_Write], first_ops: int, first_bytes: int) -> list[list[_Write]]:
    """Splits writes in order: the first chunk within (first_ops, first_bytes), then parts."""
    out: list[list[_Write]] = [[]]
    prefixes: list[_Write] = []  # the current chunk's delete_prefix writes
    ops, size = 0, 0
    limit_ops, limit_bytes = first_ops, first_bytes
    for w in writes:
        cost = _op_cost(prefixes, w)
        full = bool(out[-1]) and (ops + cost > limit_ops or size + w.size > limit_bytes)
        if full or limit_ops <= 0:
            out.append([])
            prefixes = []
            ops, size = 0, 0
            limit_ops, limit_bytes = PART_OPS, PART_BYTES
            cost = 1
        out[-1].append(w)
        if w.kind == "delete_prefix":
            prefixes.append(w)
        ops += cost
        size += w.size
    return out


class STM:
    """One optimistic transaction: reads record compares, writes are buffered until `commit`.

    Args:
        etcd: The store.
        keys: The keyspace, for outbox keys when the write set spills. When None, the
            namespace of the first buffered write is used (``default`` if it is not a Motet key).
        max_ops: Ops per txn branch (and compares per txn) allowed.
    """

    def __init__(self, etcd: Etcd, keys: Keys | None = None, *, max_ops: int = MAX_TXN_OPS) -> None:
        self._etcd = etcd
        self._keys = keys
        self._max_ops = max_ops
        self._reads: dict[bytes, KV | None] = {}  # read by the transition: each is a compare
        self._cache: dict[bytes, KV | None] = {}  # fetched (prefetch / get_prefix), not yet read
        self._writes: dict[tuple[bool, bytes], _Write] = {}  # (is_prefix, key) -> write, in order
        self._prefixes = 0  # buffered delete_prefix writes (skip prefix scans when none)
        # (table, key, value before): kept only once a savepoint is taken, so `rollback` undoes
        # exactly what changed since, without copying the tables per savepoint (group commit
        # takes one per transition of a batch).
        self._journal: list[tuple[dict[Any, Any], Any, Any]] | None = None
        self._done = False
        self.revision = 0
        """The commit revision after a successful `commit`."""
        self.op = "other"
        """What the transaction does (the committer's transition name): the ``op`` metric label."""
        self.txid: str | None = None
        """The outbox write-set id when the commit spilled, else None."""
        self._spilled: frozenset[bytes] = frozenset()

    @property
    def writes(self) -> int:
        """How many writes are buffered (after coalescing)."""
        return len(self._writes)

    def puts(self, prefix: bytes) -> list[tuple[bytes, bytes]]:
        """The buffered puts of keys under ``prefix``, in write order (after a commit: what it wrote)."""
        return [(w.key, w.value) for w in self._writes.values() if w.kind == "put" and w.key.startswith(prefix)]

    def fits(self, extra_puts: int = 0) -> bool:
        """Whether the buffered writes (plus ``extra_puts`` more puts) commit without spilling."""
        writes = list(self._writes.values())
        if not writes:
            return extra_puts <= self._max_ops
        return len(_chunks(_pinned_first(writes), self._max_ops - extra_puts, _UNLIMITED)) == 1

    def spilled(self, key: bytes) -> bool:
        """After a commit: whether ``key``'s write went to an outbox part (so its mod_revision
        is not `revision` but that of the part's own txn, later)."""
        return key in self._spilled

    @property
    def write_bytes(self) -> int:
        """Bytes the buffered writes will take in the commit txn, roughly (keys, values, framing)."""
        return sum(w.size for w in self._writes.values())

    def savepoint(self) -> Savepoint:
        """A snapshot of the buffered writes and reads, for `rollback` (group commit uses it to
        take back the transition that made a batch too large)."""
        if self._journal is None:
            self._journal = []
        return Savepoint(len(self._journal), self._prefixes)

    def rollback(self, savepoint: Savepoint) -> None:
        """Forgets every read and write made since `savepoint` was taken (before `commit`)."""
        if self._done:
            raise RuntimeError("an STM that committed cannot roll back")
        journal = self._journal if self._journal is not None else []
        while len(journal) > savepoint.journal:
            table, key, before = journal.pop()
            if before is _MISSING:
                table.pop(key, None)
            else:
                table[key] = before
        self._prefixes = savepoint.prefixes

    @property
    def reads(self) -> int:
        """How many keys were read (= compares the commit will carry)."""
        return len(self._reads)

    def _set(self, table: dict[Any, Any], key: Any, value: Any) -> None:
        if self._journal is not None:
            self._journal.append((table, key, table.get(key, _MISSING)))
        table[key] = value

    def _pop(self, table: dict[Any, Any], key: Any) -> Any:
        if self._journal is not None and key in table:
            self._journal.append((table, key, table[key]))
        return table.pop(key, None)

    # -- reads ---------------------------------------------------------------------------------

    def seed(self, key: bytes, kv: KV | None) -> None:
        """Trusts a known snapshot of ``key`` (e.g. from a watch cache) instead of reading it.

        The compare is still recorded at first `get`, so a stale seed makes the commit fail,
        never write on stale data.
        """
        if key not in self._reads:
            self._set(self._cache, key, kv)

    async def prefetch(self, keys: Iterable[bytes]) -> None:
        """Fetches many keys in one round trip; later `get` calls are served from it."""
        missing = [k for k in dict.fromkeys(keys) if k not in self._reads and k not in self._cache]
        if not missing:
            return
        found = await self._etcd.get_many(missing)
        for k in missing:
            self._set(self._cache, k, found.get(k))

    def _buffered(self, key: bytes) -> tuple[bool, _Write | None]:
        """(decided by the buffer, the write deciding it: a put, or None for deleted)."""
        w = self._writes.get((False, key))
        if w is not None:
            return True, (w if w.kind == "put" else None)
        if self._prefixes and any(p and key.startswith(k) for (p, k) in self._writes):
            return True, None
        return False, None

    async def _read(self, key: bytes) -> KV | None:
        if key in self._reads:
            return self._reads[key]
        if key in self._cache:
            kv: KV | None = self._pop(self._cache, key)
        else:
            kv = await self._etcd.get(key)
        self._set(self._reads, key, kv)
        return kv

    async def get_kv(self, key: bytes) -> KV | None:
        """The key as this transaction sees it (buffered writes included).

        A buffered put is returned as a KV whose revisions are 0 (it is not stored yet).
        """
        decided, w = self._buffered(key)
        if decided:
            if w is None:
                return None
            return KV(key=key, value=w.value, create_revision=0, mod_revision=0, version=0, lease=w.lease)
        return await self._read(key)

    async def get(self, key: bytes) -> bytes | None:
        """The key's value as this transaction sees it, or None when absent.

        The first read of a key records its compare (unless a buffered write decides it).
        """
        kv = await self.get_kv(key)
        return None if kv is None else kv.value

    async def get_prefix(self, prefix: bytes) -> list[tuple[bytes, bytes]]:
        """Every ``(key, value)`` under ``prefix`` as this transaction sees it, sorted by key.

        Records NO compare: etcd cannot guard "no key was added to or removed from this range",
        so a caller must guard the range with a key it reads with `get` and that every writer of
        the range updates in the same txn (e.g. a join's slots are guarded by the join record's
        ``done`` count). Keys it returns are cached: a later `get` of one records its compare
        against the value returned here.
        """
        kvs, _ = await self._etcd.get_prefix(prefix)
        view: dict[bytes, bytes] = {}
        for kv in kvs:
            if kv.key not in self._reads:
                self._cache.setdefault(kv.key, kv)
            view[kv.key] = kv.value
        for (is_prefix, k), buffered in self._writes.items():
            if not is_prefix and buffered.kind == "put" and k.startswith(prefix):
                view[k] = buffered.value
        out = []
        for k in sorted(view):
            decided, w = self._buffered(k)
            if not decided:
                out.append((k, view[k]))
            elif w is not None:
                out.append((k, w.value))
        return out

    # -- writes --------------------------------------------------------------------------------

    def put(self, key: bytes, value: bytes, lease: int = 0, *, head: bool = False) -> None:
        """Buffers ``key = value`` (under ``lease`` unless 0).

        Args:
            key: The key.
            value: The value.
            lease: The lease to attach (0: none).
            head: Pin the write to the commit transaction itself (never an outbox part): for
                writes others must see atomically with the commit's compares. A pin sticks to
                the key for this STM.
        """
        # A new _Write replaces a buffered one (its place in the order stays): entries are never
        # changed in place, so the undo journal can keep the old one as it was.
        old = self._writes.get((False, key))
        pinned = head or (old is not None and old.head)
        self._set(self._writes, (False, key), _Write(kind="put", key=key, value=value, lease=lease, head=pinned))

    def delete(self, key: bytes) -> None:
        """Buffers deleting ``key`` (drops a buffered put of it)."""
        if self._prefixes and any(p and key.startswith(k) for (p, k) in self._writes):
            # An earlier buffered delete_prefix already deletes it (a later put was the only
            # thing that could bring it back, and this drops that put).
            self._pop(self._writes, (False, key))
            return
        old = self._writes.get((False, key))
        self._set(self._writes, (False, key), _Write(kind="delete", key=key, head=old is not None and old.head))

    def delete_prefix(self, prefix: bytes) -> None:
        """Buffers deleting every key under ``prefix`` (drops buffered writes under it)."""
        for entry in [e for e in self._writes if e[1].startswith(prefix)]:
            self._pop(self._writes, entry)
        self._prefixes = sum(1 for p, _ in self._writes if p)
        if any(p and prefix.startswith(k) for (p, k) in self._writes):
            return  # a broader buffered delete_prefix already covers it
        self._set(self._writes, (True, prefix), _Write(kind="delete_prefix", key=prefix))
        self._prefixes += 1

    # -- commit --------------------------------------------------------------------------------

    def _outbox_keys(self) -> Keys:
        if self._keys is not None:
            return self._keys
        first = next(iter(self._writes.values()))
        return Keys(Keys.namespace_of(first.key) or DEFAULT_NAMESPACE)

    async def commit(self, *, apply: bool = True) -> bool:
        """Sends the one transaction: every read's compare, every buffered write.

        Args:
            apply: Apply spilled outbox parts right away (False leaves them to
                `apply_outbox`; tests use it to simulate a crash after the commit).

        Returns:
            True when committed; False when a compare failed (nothing was written: re-run the
            transition on a fresh STM).

        Raises:
            StoreUnavailable: etcd was unreachable: the outcome is unknown (never retry blindly).
            StoreError: etcd refused the txn, or the reads exceed ``max_ops`` compares.
        """
        if self._done:
            raise RuntimeError("an STM commits once; use a fresh STM to re-run the transition")
        self._done = True
        # Why each compare: the transition decided its writes from what it read; if any of it
        # changed since, those writes could be wrong (a lost update or a double completion).
        compares = [
            Compare.mod(k, "==", kv.mod_revision) if kv is not None else Compare.create(k, "==", 0)
            for k, kv in self._reads.items()
        ]
        if len(compares) > self._max_ops:
            raise StoreError(
                f"a transaction read {len(compares)} keys but etcd allows {self._max_ops} compares "
                "per txn; commit fewer transitions together"
            )
        writes = list(self._writes.values())
        if not writes and not compares:
            return True
        head, parts, staged = self._plan(writes)
        ops = _ops(head)
        part_kvs: list[tuple[bytes, bytes]] = []
        keys = self._outbox_keys() if parts else None
        if keys is not None and staged:
            # Too large for one txn: the parts are written first, each in its own txn, under
            # stage/<txid>/ (the txid starts with the time, for the orphan sweep), and the
            # commit txn puts one pointer to them, with a compare that they are still there.
            if len(compares) >= self._max_ops:
                raise StoreError(
                    f"a transaction read {len(compares)} keys, and a staged write set needs one more "
                    f"compare than that; etcd allows {self._max_ops} per txn"
                )
            self.txid = f"{int(time.time())}t{uuid.uuid4().hex}"
            for n, chunk in enumerate(parts):
                msg = records_pb2.OutboxPart(writes=_proto_writes(chunk))
                await self._etcd.put(keys.stage(self.txid, n), msg.SerializeToString())
            compares.append(Compare.create(keys.stage(self.txid, 0), ">", 0))
            part_kvs.append((keys.outbox(self.txid, 0), records_pb2.OutboxPart(staged=len(parts)).SerializeToString()))
        elif keys is not None:
            self.txid = uuid.uuid4().hex
            for n, chunk in enumerate(parts):
                msg = records_pb2.OutboxPart(writes=_proto_writes(chunk))
                part_kvs.append((keys.outbox(self.txid, n), msg.SerializeToString()))
        # The spilled parts (or the pointer to the staged ones) commit atomically with the
        # head: either all of the write set is durable (some of it still queued) or none of it.
        ops += [Op.put(k, v) for k, v in part_kvs]
        # No compare per part: its key carries a fresh uuid4 txid, so it cannot exist yet, and a
        # repeated write set is stopped by the guard pinned in the head (e.g. submit/<root>).
        # A compare each would also cap a spill at etcd's 128 compares (a 10,000-task group).
        sent = time.perf_counter()
        result = await self._etcd.txn(compares, ops)
        metrics.etcd_txn_seconds.labels(op=self.op).observe(time.perf_counter() - sent)
        if not result.succeeded:
            if staged and keys is not None and self.txid is not None:  # not committed: its staged parts are garbage
                with contextlib.suppress(StoreError):
                    await self._etcd.delete_prefix(keys.stage_txid_prefix(self.txid))
            return False
        metrics.etcd_txn_ops.observe(len(ops))
        self.revision = result.revision
        self._spilled = frozenset(w.key for chunk in parts for w in chunk)
        if parts and apply:
            try:
                await apply_outbox(self._etcd, self._outbox_keys(), txid=self.txid)
            except StoreError:
                # Committed: the reconciler (any replica) finishes the parts.
                log.warning("outbox %s committed but not yet applied", self.txid, exc_info=True)
        return True

    def _plan(self, writes: list[_Write]) -> tuple[list[_Write], list[list[_Write]], bool]:
        """(writes in the commit txn, spilled parts in order, whether the parts are staged)."""
        # A spill carries every byte of the write set in the commit txn (parts included), so
        # only its op count limits its own share; bytes limit each part (applied in its own
        # txn). Beyond STAGE_BYTES, or more parts than one txn can put, the parts are staged.
        writes = _pinned_first(writes)
        chunks = _chunks(writes, self._max_ops, _UNLIMITED)
        if len(chunks) == 1:
            return chunks[0], [], False
        split = self._split(writes, len(chunks) - 1) if sum(w.size for w in writes) <= STAGE_BYTES else None
        staged = split is None
        if split is None:
            chunks = _chunks(writes, self._max_ops - 1, PART_BYTES)  # one op left for the pointer
            split = chunks[0], chunks[1:]
        head, parts = split
        if any(w.head for chunk in parts for w in chunk):
            pinned = sum(1 for w in writes if w.head)
            raise StoreError(
                f"a write set of {len(writes)} writes pins {pinned} to its transaction, but only "
                f"{len(head)} fit beside its {len(parts)} outbox parts; split the work into several transitions"
            )
        return head, parts, staged

    def _split(self, writes: list[_Write], n_parts: int) -> tuple[list[_Write], list[list[_Write]]] | None:
        """(head, parts) for a spill in the commit txn, or None when one txn cannot carry the parts."""
        # The commit txn also carries one put per part: shrink its share until it all fits.
        while True:
            if n_parts >= self._max_ops:
                return None
            chunks = _chunks(writes, self._max_ops - n_parts, _UNLIMITED)
            if len(chunks) - 1 <= n_parts:
                return chunks[0], chunks[1:]
            n_parts = len(chunks) - 1


def _proto_writes(chunk: list[_Write]) -> list[records_pb2.Write]:
    return [records_pb2.Write(key=w.key, value=w.value, lease=w.lease, kind=_KIND_TO_PROTO[w.kind]) for w in chunk]


def _part_writes(part: records_pb2.OutboxPart) -> list[_Write]:
    return [_Write(kind=_PROTO_TO_KIND[w.kind], key=w.key, value=w.value, lease=w.lease) for w in part.writes]


async def _apply_part(etcd: Etcd, guards: list[Compare], writes: list[_Write], deletes: list[bytes]) -> bool:
    """One part's txn: its writes and `deletes` (the part itself), under `guards`."""
    tail = [Op.delete(key) for key in deletes]
    try:
        result = await etcd.txn(guards, [*_ops(writes), *tail])
    except StoreError as exc:
        if "lease not found" not in str(exc):
            raise
        # A put's lease expired since the commit (e.g. a worker session): etcd would have
        # deleted that key at expiry anyway, so the put is dropped rather than letting the part
        # block the outbox forever. Same guards: still applies at most once.
        dead = {w.lease for w in writes if w.lease and await etcd.lease_ttl(w.lease) < 0}
        writes = [w for w in writes if w.lease not in dead]
        result = await etcd.txn(guards, [*_ops(writes), *tail])
    if result.succeeded:
        metrics.outbox_parts_applied_total.inc()
    return result.succeeded


async def _apply_staged(etcd: Etcd, keys: Keys, txid: str, pointer: KV, count: int) -> tuple[int, bool]:
    """Applies a committed write set's staged parts in order; returns (applied, finished).

    Each part's txn is guarded on the pointer (the write set committed), on the part still
    being there (exactly once) and on the previous part being gone (in order); the last one
    deletes the pointer too.
    """
    applied = 0
    for n in range(count):
        key = keys.stage(txid, n)
        kv = await etcd.get(key)
        if kv is None:
            continue  # applied already
        guards = [Compare.mod(pointer.key, "==", pointer.mod_revision), Compare.mod(key, "==", kv.mod_revision)]
        if n > 0:
            guards.append(Compare.create(keys.stage(txid, n - 1), "==", 0))
        deletes = [key, pointer.key] if n == count - 1 else [key]
        if not await _apply_part(etcd, guards, _part_writes(records_pb2.OutboxPart.FromString(kv.value)), deletes):
            return applied, False  # a racing caller is mid-way: leave the rest to it / the next pass
        applied += 1
    return applied, True


async def clean_stages(etcd: Etcd, keys: Keys, *, older_than: float = STAGE_ORPHAN_SECONDS) -> int:
    """Deletes staged parts whose write set never committed (its writer died, or its commit
    failed and its own cleanup did not get through), once older than `older_than` seconds.

    Each write set's parts go in one txn guarded on its pointer being absent; its commit
    compares that part 0 is still there, so a slow writer's commit fails rather than point at
    deleted parts. Returns how many write sets were removed.
    """
    kvs, _ = await etcd.get_prefix(keys.stage_prefix(), keys_only=True)
    removed = 0
    now = time.time()
    for txid in sorted({keys.parse_stage(kv.key)[0] for kv in kvs}):
        born, _, _ = txid.partition("t")
        if born.isdigit() and now - int(born) < older_than:
            continue
        pointer_absent = Compare.create(keys.outbox(txid, 0), "==", 0)
        result = await etcd.txn([pointer_absent], [Op.delete_prefix(keys.stage_txid_prefix(txid))])
        removed += int(result.succeeded)
    return removed


async def apply_outbox(etcd: Etcd, keys: Keys, *, txid: str | None = None) -> int:
    """Applies pending outbox parts, in order, each exactly once.

    Safe to run from several replicas at once and to repeat: a part is applied by a txn that
    also deletes it, guarded on the part still being there.

    Args:
        etcd: The store.
        keys: The keyspace whose outbox to drain.
        txid: Only this write set (right after its commit); None for every one (the reconciler).

    Returns:
        How many parts this call applied (others may have been applied by racing callers).
    """
    prefix = keys.outbox_txid_prefix(txid) if txid else keys.outbox_prefix()
    kvs, _ = await etcd.get_prefix(prefix)
    by_txid: dict[str, list[tuple[int, KV]]] = defaultdict(list)
    for kv in kvs:
        t, n = keys.parse_outbox(kv.key)
        by_txid[t].append((n, kv))
    applied = 0
    for t, parts in by_txid.items():
        for n, kv in sorted(parts, key=lambda p: p[0]):
            part = records_pb2.OutboxPart.FromString(kv.value)
            if part.staged:
                done, finished = await _apply_staged(etcd, keys, t, kv, part.staged)
                applied += done
                if not finished:
                    break
                continue
            # Why: the part is still pending (nobody applied it yet) -- this is what makes each
            # part apply exactly once among racing reconcilers.
            guards = [Compare.mod(kv.key, "==", kv.mod_revision)]
            if n > 0:
                # Why: parts apply in order; part n-1 is deleted by the txn that applied it.
                guards.append(Compare.create(keys.outbox(t, n - 1), "==", 0))
            if await _apply_part(etcd, guards, _part_writes(part), [kv.key]):
                applied += 1
                continue
            # A racing caller applied it (then move on), or the previous part is still pending,
            # which only a racing caller mid-way can cause: leave the rest to it / the next pass.
            if await etcd.get(kv.key) is not None:
                break
    return applied
