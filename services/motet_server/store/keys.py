"""The etcd keyspace: every key Motet reads or writes is built here.

All keys live under ``/motet/<namespace>/`` (see docs/architecture.md, "Keyspace"):

```
task/<id>                      TaskRecord            claim/<id>       ClaimRecord (worker lease)
result/<id>                    ResultRecord          revoked/<id>     RevokeRecord
join/<gid>                     JoinRecord            submit/<root>    SubmitRecord
join/<gid>/slot/<index:08d>    motet.v1.Payload      group/<gid>      GroupRecord
outbox/<txid>/<part:06d>       OutboxPart            session/<lease>  SessionRecord (worker lease)
chain/<id>                     ChainSegment (more steps of a long chain)
stage/<txid>/<part:06d>        OutboxPart (a huge write set's parts, written before its commit)
```

Beware: ``join/<gid>`` is itself a prefix of ``join/<gid>/slot/…`` and of ``join/<gid>x``
(another join whose id starts with ``gid``). Never delete ``join/<gid>`` as a prefix: delete
the exact key `Keys.join` plus the range `Keys.join_prefix` (``join/<gid>/``).
Namespaces, join ids and outbox txids must not contain ``/`` (`Keys` refuses them); task ids
may (they end their key).
"""

from __future__ import annotations

from motet_server.config import DEFAULT_NAMESPACE

__all__ = ["ROOT", "Keys"]

ROOT = b"/motet/"
"""Every Motet key starts with this."""


def _id(value: str) -> bytes:
    if not value:
        raise ValueError("an id must not be empty")
    return value.encode()


def _segment(value: str) -> bytes:
    # Namespaces, join ids and outbox txids are followed by more key segments: a '/' in them
    # would make one key look like another's child.
    if not value or "/" in value:
        raise ValueError(f"this id must be non-empty and contain no '/': {value!r}")
    return value.encode()


class Keys:
    """Key builder for one namespace (several Motet clusters can share one etcd)."""

    def __init__(self, namespace: str = DEFAULT_NAMESPACE) -> None:
        self.namespace = namespace
        self.root = ROOT + _segment(namespace) + b"/"

    def __repr__(self) -> str:
        return f"Keys({self.namespace!r})"

    @staticmethod
    def namespace_of(key: bytes) -> str | None:
        """The namespace a Motet key belongs to, or None when it is not a Motet key."""
        if not key.startswith(ROOT):
            return None
        ns, sep, _ = key[len(ROOT) :].partition(b"/")
        return ns.decode() if sep and ns else None

    @staticmethod
    def id_from(key: bytes, prefix: bytes) -> str:
        """The id part of ``key`` after ``prefix`` (e.g. ``id_from(keys.task(x), keys.task_prefix()) == x``)."""
        if not key.startswith(prefix):
            raise ValueError(f"{key!r} does not start with {prefix!r}")
        return key[len(prefix) :].decode()

    # tasks and claims
    def task(self, task_id: str) -> bytes:
        """The TaskRecord of a waiting / running task."""
        return self.root + b"task/" + _id(task_id)

    def task_prefix(self) -> bytes:
        """Every task record."""
        return self.root + b"task/"

    def claim(self, task_id: str) -> bytes:
        """The ClaimRecord of a task handed to a worker (under the worker session's lease)."""
        return self.root + b"claim/" + _id(task_id)

    def claim_prefix(self) -> bytes:
        """Every claim."""
        return self.root + b"claim/"

    # worker sessions
    def session(self, session_id: int) -> bytes:
        """The SessionRecord of a connected worker (under the session's lease)."""
        if session_id <= 0:
            raise ValueError(f"a session id is a lease id, > 0, not {session_id}")
        return self.root + b"session/" + b"%d" % session_id

    def session_prefix(self) -> bytes:
        """Every connected worker session."""
        return self.root + b"session/"

    # results
    def result(self, task_id: str) -> bytes:
        """The ResultRecord of a ready task."""
        return self.root + b"result/" + _id(task_id)

    def result_prefix(self) -> bytes:
        """Every result."""
        return self.root + b"result/"

    # joins
    def join(self, gid: str) -> bytes:
        """The JoinRecord of a group / chord header (exact key; not a prefix, see module doc)."""
        return self.root + b"join/" + _segment(gid)

    def join_prefix(self, gid: str) -> bytes:
        """``join/<gid>/``: everything under a join (its slots), NOT the join record itself.

        To remove a join entirely: delete `join` (exact) and delete_prefix `join_prefix`.
        """
        return self.join(gid) + b"/"

    def join_slot(self, gid: str, index: int) -> bytes:
        """The slot holding member ``index``'s result (zero-padded so slots sort in header order)."""
        if index < 0:
            raise ValueError(f"a slot index must be >= 0, not {index}")
        return self.join(gid) + b"/slot/" + b"%08d" % index

    def join_slot_prefix(self, gid: str) -> bytes:
        """Every slot of a join, sorted by index when read as a prefix."""
        return self.join(gid) + b"/slot/"

    @staticmethod
    def slot_index(key: bytes) -> int:
        """The member index of a `join_slot` key."""
        return int(key.rsplit(b"/", 1)[1])

    def joins_prefix(self) -> bytes:
        """Every join record and slot (of every join)."""
        return self.root + b"join/"

    # outbox
    def outbox(self, txid: str, part: int) -> bytes:
        """Part ``part`` of a spilled write set (zero-padded so parts sort in order)."""
        return self.outbox_txid_prefix(txid) + b"%06d" % part

    def outbox_txid_prefix(self, txid: str) -> bytes:
        """Every part of one spilled write set."""
        return self.root + b"outbox/" + _segment(txid) + b"/"

    def outbox_prefix(self) -> bytes:
        """Every outbox part of every write set."""
        return self.root + b"outbox/"

    def stage(self, txid: str, part: int) -> bytes:
        """Part ``part`` of a write set too large for its commit txn, written before it."""
        return self.stage_txid_prefix(txid) + b"%06d" % part

    def stage_txid_prefix(self, txid: str) -> bytes:
        """Every staged part of one write set."""
        return self.root + b"stage/" + _segment(txid) + b"/"

    def stage_prefix(self) -> bytes:
        """Every staged part of every write set."""
        return self.root + b"stage/"

    def parse_stage(self, key: bytes) -> tuple[str, int]:
        """``(txid, part)`` of a `stage` key."""
        return self._parse_part(key, self.stage_prefix())

    def parse_outbox(self, key: bytes) -> tuple[str, int]:
        """``(txid, part)`` of an `outbox` key."""
        return self._parse_part(key, self.outbox_prefix())

    def _parse_part(self, key: bytes, prefix: bytes) -> tuple[str, int]:
        txid, _, part = self.id_from(key, prefix).partition("/")
        return txid, int(part)

    # chains
    def chain(self, segment_id: str) -> bytes:
        """A ChainSegment: steps of a long chain after those its current step's record carries."""
        return self.root + b"chain/" + _id(segment_id)

    def chain_prefix(self) -> bytes:
        """Every chain segment."""
        return self.root + b"chain/"

    # revocations, submissions, saved groups
    def revoked(self, task_id: str) -> bytes:
        """The RevokeRecord of a revoked id (may precede the task's creation)."""
        return self.root + b"revoked/" + _id(task_id)

    def revoked_prefix(self) -> bytes:
        """Every revocation."""
        return self.root + b"revoked/"

    def submit(self, root_id: str) -> bytes:
        """The SubmitRecord guarding SubmitCanvas idempotency for a root id."""
        return self.root + b"submit/" + _id(root_id)

    def submit_prefix(self) -> bytes:
        """Every submission record."""
        return self.root + b"submit/"

    def group(self, gid: str) -> bytes:
        """A saved GroupRecord (GroupResult.save)."""
        return self.root + b"group/" + _id(gid)

    def group_prefix(self) -> bytes:
        """Every saved group."""
        return self.root + b"group/"
