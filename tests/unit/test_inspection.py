"""What InspectWorkers answers, from session and claim records (pure: no store)."""

from __future__ import annotations

from motet.v1 import canvas_pb2, worker_pb2
from motet_server.scheduler import inspection
from motet_server.store.keys import Keys
from motet_server.store.kv import KV
from motet_server.v1 import records_pb2
from tests.support.canvases import payload

KEYS = Keys("test")


def _session(lease: int, worker_id: str, concurrency: int, **counts: int) -> KV:
    hello = worker_pb2.WorkerHello(
        worker_id=worker_id, task_names=["b", "a"], concurrency=concurrency, hostname="h", pid=7
    )
    value = inspection.session_record(hello, 1000.0, counts)
    return KV(key=KEYS.session(lease), value=value, create_revision=1, mod_revision=1, version=1, lease=lease)


def _claim(task_id: str, session: int, revision: int, started: bool = False) -> KV:
    value = records_pb2.ClaimRecord(session_id=session, delivery=1, started=started).SerializeToString()
    key = KEYS.claim(task_id)
    return KV(key=key, value=value, create_revision=revision, mod_revision=revision, version=1, lease=session)


def _task(task_id: str) -> records_pb2.TaskRecord:
    return records_pb2.TaskRecord(
        id=task_id, task="a", args=payload([1]), options=canvas_pb2.Options(queue="q", priority=3), root_id="r"
    )


def _infos(**kwargs: object) -> list:
    sessions = [_session(20, "w2@host", 2), _session(10, "host.1", 1, a=4)]
    claims = [_claim("t3", 10, 3), _claim("t1", 10, 1), _claim("t2", 10, 2), _claim("gone", 10, 4)]
    claims += [_claim("s1", 20, 5), _claim("s2", 20, 6, started=True), _claim("s3", 20, 7), _claim("s4", 20, 8)]
    tasks = {i: _task(i) for i in ("t1", "t2", "t3", "s1", "s2", "s3", "s4")}
    return inspection.worker_infos(sessions, claims, tasks, claim_prefix=KEYS.claim_prefix(), **kwargs)  # type: ignore[arg-type]


def test_workers_are_named_celery_style_and_ordered_by_name() -> None:
    assert [i.name for i in _infos()] == ["celery@host.1", "w2@host"]
    one, two = _infos()
    assert (one.worker_id, one.hostname, one.pid, one.session_id, one.concurrency) == ("host.1", "h", 7, 10, 1)
    assert list(one.task_names) == ["a", "b"] and list(one.queues) == ["celery"]
    assert dict(one.completed) == {"a": 4} and one.connected_at.seconds == 1000


def test_the_oldest_claims_up_to_the_concurrency_are_active_the_rest_reserved() -> None:
    one, two = _infos()
    assert [t.task_id for t in one.active] == ["t1"]  # a claim whose task completed is left out
    assert [t.task_id for t in one.reserved] == ["t2", "t3"]
    # A task the worker reported started is active first; the concurrency is filled by age.
    assert [t.task_id for t in two.active] == ["s2", "s1"]
    assert [t.task_id for t in two.reserved] == ["s3", "s4"]
    held = one.active[0]
    assert (held.task, held.queue, held.priority, held.root_id, held.delivery) == ("a", "q", 3, "r", 1)


def test_this_replica_s_sending_order_and_counts_win_and_destinations_filter() -> None:
    one, _ = _infos(live_order={10: ["t3", "t2", "t1"]}, live_counts={10: {"a": 9}})
    assert [t.task_id for t in [*one.active, *one.reserved]] == ["t3", "t2", "t1"]
    assert dict(one.completed) == {"a": 9}
    assert [i.name for i in _infos(destination=["w2@host"])] == ["w2@host"]
    assert _infos(destination=["celery@nobody"]) == []
