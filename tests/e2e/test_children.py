"""Tasks sent from inside a task are its children (Celery 5.7): they record the
running task as their parent and share its root id, the parent's stored result lists them in
`children` (readable from a fresh process), and `collect()` walks them breadth first."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest

from examples.guide.tasks import add, identity
from motet import AsyncResult, GroupResult
from tests.e2e.tasks import spawn, spawn_group_then_fail

T = 30


def test_tasks_sent_inside_a_task_are_its_children(cluster: object) -> None:
    res = spawn.delay(3)
    ids = res.get(timeout=T)
    assert [AsyncResult(i).get(timeout=T) for i in ids] == [0, 2, 4]
    fresh = AsyncResult(res.id)
    assert [c.id for c in fresh.children] == ids
    for child_id in ids:
        meta = AsyncResult(child_id)._fetch()
        assert (meta.parent_id, meta.root_id) == (res.id, res.id)
        assert AsyncResult(child_id).parent == res.id
    # collect() follows them breadth first: the parent, then each child with its value.
    assert [(r.id, v) for r, v in fresh.collect()] == [(res.id, ids), *zip(ids, [0, 2, 4], strict=True)]


def test_grandchildren_share_the_root_and_the_chain_step_comes_after_what_the_task_sent(cluster: object) -> None:
    res = (spawn.s(1, nested=True) | identity.s())()
    sent = res.parent.get(timeout=T)
    assert res.get(timeout=T) == sent
    top = AsyncResult(res.parent.id)
    # What the task sent comes first, then the next step of its chain (Celery's order).
    assert [c.id for c in top.children] == [*sent, res.id]
    inner = AsyncResult(sent[1])
    (grandchild_id,) = inner.get(timeout=T)
    assert AsyncResult(grandchild_id).get(timeout=T) == 0
    grandchild = AsyncResult(grandchild_id)._fetch()
    assert (grandchild.parent_id, grandchild.root_id) == (inner.id, top.id)
    walked = [r.id for r, _ in top.collect()]
    assert walked == [top.id, sent[0], sent[1], res.id, grandchild_id]  # breadth first


def test_a_failed_task_still_lists_what_it_sent(cluster: object) -> None:
    res = spawn_group_then_fail.delay()
    with pytest.raises(ValueError, match="failed after sending"):
        res.get(timeout=T)
    (child,) = AsyncResult(res.id).children
    assert isinstance(child, GroupResult) and child.get(timeout=T) == [2, 4]
    assert {AsyncResult(r.id)._fetch().parent_id for r in child.results} == {res.id}


def test_children_read_from_a_fresh_process(cluster: object) -> None:
    res = spawn.delay(2)
    ids = res.get(timeout=T)
    code = textwrap.dedent(
        f"""
        from motet import App
        app = App("fresh")
        r = app.AsyncResult({res.id!r})
        print(",".join(c.id for c in r.children))
        """
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True)
    assert out.stdout.strip().split(",") == ids


def test_a_task_sent_outside_any_task_has_no_parent(cluster: object) -> None:
    res = add.delay(1, 1)
    assert res.get(timeout=T) == 2
    assert AsyncResult(res.id)._fetch().parent_id == "" and AsyncResult(res.id).children == []


def test_any_client_can_send_a_canvas_as_a_child_even_of_a_finished_task(cluster: object) -> None:
    import grpc

    from motet.v1 import scheduler_pb2, scheduler_pb2_grpc
    from tests.support.canvases import sig

    parent = add.delay(1, 1)
    assert parent.get(timeout=T) == 2
    stub = scheduler_pb2_grpc.SchedulerServiceStub(grpc.insecure_channel(cluster.scheduler))
    canvas = sig(add.name, 20, 22)
    reply = stub.SubmitCanvas(scheduler_pb2.SubmitCanvasRequest(canvas=canvas, parent_id=parent.id))
    assert AsyncResult(reply.result_id).get(timeout=T) == 42
    assert [c.id for c in AsyncResult(parent.id).children] == [reply.result_id]
    meta = AsyncResult(reply.result_id)._fetch()
    assert (meta.parent_id, meta.root_id) == (parent.id, parent.id)
    # Submitting the same canvas again changes nothing, the parent's children included.
    again = stub.SubmitCanvas(scheduler_pb2.SubmitCanvasRequest(canvas=canvas, parent_id=parent.id))
    assert not again.created
    assert len(AsyncResult(parent.id).children) == 1
