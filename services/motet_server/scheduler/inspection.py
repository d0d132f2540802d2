"""What the connected workers are doing (`InspectWorkers`, Celery's `app.control.inspect()`). Pure.

Every worker session writes a `session/<lease>` record under its lease when it connects, and
every task handed to it is a `claim/<id>` record under the same lease, so the store knows every
connected worker of the cluster and what it holds, whichever scheduler replica it talks to.
This module turns those records (read by the servicer) into `motet.v1.WorkerInfo` messages:

- a worker's name is Celery's node name: its worker id if that contains "@", else
  ``celery@<worker id>``;
- active: the tasks it reported started, then its oldest other claims up to its concurrency,
  since a worker runs what it holds in the order it received it; reserved: the rest, oldest
  first. The order is the sending order where this replica sent them, else the claims' create
  revision (the order they were handed over; ties broken by id).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

from google.protobuf import timestamp_pb2

from motet.v1 import scheduler_pb2, worker_pb2
from motet_server.config import DEFAULT_QUEUE
from motet_server.store.kv import KV
from motet_server.v1 import records_pb2

__all__ = ["node_name", "session_record", "worker_infos"]


def node_name(worker_id: str) -> str:
    """The Celery-style node name of a worker (``celery@host.pid``, or its id if it has an "@")."""
    return worker_id if "@" in worker_id else f"celery@{worker_id}"


def worker_infos(
    sessions: Iterable[KV],
    claims: Iterable[KV],
    tasks: Mapping[str, records_pb2.TaskRecord],
    *,
    claim_prefix: bytes,
    live_counts: Mapping[int, Mapping[str, int]] | None = None,
    live_order: Mapping[int, Sequence[str]] | None = None,
    destination: Sequence[str] = (),
) -> list[scheduler_pb2.WorkerInfo]:
    """The connected workers, ordered by name.

    Args:
        sessions: The `session/` records (their lease is the session id).
        claims: The `claim/` records.
        tasks: Task records by id (a claim whose task is not among them is left out: it just
            completed).
        claim_prefix: The claim key prefix (claim keys end with the task id).
        live_counts: Report counts of the sessions this replica serves, fresher than the
            store's copy.
        live_order: The task ids this replica sent to each of its sessions, in sending order
            (claims committed in one transaction share a revision; this tells them apart).
        destination: Worker names to describe (empty: all).
    """
    held: dict[int, list[tuple[int, str, records_pb2.ClaimRecord]]] = {}
    for kv in claims:
        claim = records_pb2.ClaimRecord.FromString(kv.value)
        task_id = kv.key[len(claim_prefix) :].decode()
        held.setdefault(claim.session_id, []).append((kv.create_revision, task_id, claim))
    wanted = set(destination)
    out: list[scheduler_pb2.WorkerInfo] = []
    for kv in sessions:
        record = records_pb2.SessionRecord.FromString(kv.value)
        hello = record.hello
        name = node_name(hello.worker_id)
        if wanted and name not in wanted:
            continue
        info = scheduler_pb2.WorkerInfo(
            name=name,
            worker_id=hello.worker_id,
            hostname=hello.hostname,
            pid=hello.pid,
            session_id=kv.lease,
            queues=list(hello.queues) or [DEFAULT_QUEUE],
            task_names=sorted(hello.task_names),
            concurrency=hello.concurrency,
            connected_at=_timestamp(record.connected_at),
        )
        counts = (live_counts or {}).get(kv.lease, record.completed)
        for task_name, n in counts.items():
            info.completed[task_name] = n
        claimed = held.get(kv.lease, [])
        sent = {task_id: i for i, task_id in enumerate((live_order or {}).get(kv.lease, ()))}
        claimed.sort(key=lambda c: (sent.get(c[1], len(sent)), c[0], c[1]))
        _sort_held(info, claimed, tasks)
        out.append(info)
    out.sort(key=lambda i: (i.name, i.session_id))
    return out


def _sort_held(
    info: scheduler_pb2.WorkerInfo,
    claims: list[tuple[int, str, records_pb2.ClaimRecord]],
    tasks: Mapping[str, records_pb2.TaskRecord],
) -> None:
    entries = [(claim, tasks[task_id]) for _, task_id, claim in claims if task_id in tasks]
    started = [e for e in entries if e[0].started]
    waiting = [e for e in entries if not e[0].started]
    room = max(info.concurrency - len(started), 0) if info.concurrency > 0 else len(waiting)
    info.active.extend(_held(c, r) for c, r in [*started, *waiting[:room]])
    info.reserved.extend(_held(c, r) for c, r in waiting[room:])


def _held(claim: records_pb2.ClaimRecord, rec: records_pb2.TaskRecord) -> scheduler_pb2.HeldTask:
    opts = rec.options
    return scheduler_pb2.HeldTask(
        task_id=rec.id,
        task=rec.task,
        args=rec.args,
        kwargs=rec.kwargs,
        delivery=claim.delivery,
        queue=opts.queue or DEFAULT_QUEUE,
        priority=opts.priority,
        root_id=rec.root_id,
        parent_id=rec.parent_id,
        started=claim.started,
    )


def _timestamp(seconds: float) -> timestamp_pb2.Timestamp:
    ts = timestamp_pb2.Timestamp()
    ts.FromNanoseconds(int(seconds * 1e9))
    return ts


def session_record(hello: worker_pb2.WorkerHello, connected_at: float, completed: Mapping[str, int]) -> bytes:
    """The `session/<lease>` value of a connected worker."""
    record = records_pb2.SessionRecord(hello=hello, connected_at=connected_at)
    for task_name, n in completed.items():
        record.completed[task_name] = n
    return record.SerializeToString()
