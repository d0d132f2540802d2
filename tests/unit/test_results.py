"""Result objects over a fake client: waiting, values in order, failures, graph (no network)."""

from __future__ import annotations

import io
from collections.abc import Iterator
from typing import Any

import pytest

from motet import App, AsyncResult, GroupResult, chord, group, payload
from motet.exceptions import ChordError, IncompleteStream, NotFound, RemoteError, TaskRevokedError
from motet.failures import failure_from_exception
from motet.result import ResultSet, result_from_tuple
from motet.v1 import common_pb2, results_pb2
from tests.unit.tasks import add, app, tsum

S = common_pb2


def ok(task_id: str, value: Any, **fields: Any) -> results_pb2.TaskResult:
    return results_pb2.TaskResult(task_id=task_id, state=S.TASK_STATE_SUCCESS, value=payload.encode(value), **fields)


def failed(task_id: str, exc: BaseException, **fields: Any) -> results_pb2.TaskResult:
    return results_pb2.TaskResult(
        task_id=task_id,
        state=S.TASK_STATE_FAILURE,
        failure=failure_from_exception(exc, task_id=task_id, tb="Traceback: boom"),
        **fields,
    )


class FakeServer:
    """Stands in for an App's client (motet.client.Client): results by id, the order WaitResult
    pushes them in, the calls made."""

    def __init__(self) -> None:
        self.results: dict[str, results_pb2.TaskResult] = {}
        self.order: list[str] | None = None
        self.wait_calls: list[list[str]] = []
        self.revoked: list[str] = []
        self.forgotten: list[str] = []
        self.groups: dict[str, results_pb2.GroupRef] = {}

    def get_result(self, task_id: str) -> results_pb2.TaskResult:
        return self.results.get(task_id, results_pb2.TaskResult(task_id=task_id, state=S.TASK_STATE_PENDING))

    def get_results(self, task_ids: list[str]) -> list[results_pb2.TaskResult]:
        return [self.get_result(task_id) for task_id in task_ids]

    def wait(self, ids: list[str], timeout: float | None) -> Iterator[results_pb2.TaskResult]:
        self.wait_calls.append(list(ids))
        for task_id in self.order or ids:
            if task_id in ids:
                yield self.results[task_id]

    def revoke(self, ids: list[str], terminate: bool = False) -> int:
        self.revoked += ids
        return len(ids)

    def forget(self, ids: list[str]) -> int:
        self.forgotten += ids
        return len(ids)

    def save_group(self, group: results_pb2.GroupRef) -> None:
        self.groups[group.group_id] = group

    def restore_group(self, group_id: str) -> results_pb2.GroupRef:
        return self.groups[group_id]


@pytest.fixture
def server(monkeypatch: pytest.MonkeyPatch) -> FakeServer:
    fake = FakeServer()
    monkeypatch.setattr(App, "client", property(lambda self: fake))
    return fake


def test_get_waits_on_the_stream_and_returns_the_value(server: FakeServer) -> None:
    server.results["a"] = ok("a", 4)
    r = AsyncResult("a", app=app)
    assert r.get(timeout=1) == 4 and server.wait_calls == [["a"]]
    assert r.get() == 4 and len(server.wait_calls) == 1  # a ready result is not waited for again
    assert (r.state, r.status, r.ready(), r.successful(), r.failed(), r.result, r.info) == (
        "SUCCESS",
        "SUCCESS",
        True,
        True,
        False,
        4,
        4,
    )
    assert repr(r) == "<AsyncResult: a>" and str(r) == "a" and r.task_id == "a"
    assert r == "a" and r == AsyncResult("a") and hash(r) == hash("a")


def test_a_failure_is_raised_as_its_class_with_the_remote_traceback(server: FakeServer) -> None:
    server.results["f"] = failed("f", ValueError("something something"))
    r = AsyncResult("f", app=app)
    with pytest.raises(ValueError, match="something something"):
        r.get()
    assert isinstance(r.get(propagate=False), ValueError)
    assert r.failed() and r.traceback == "Traceback: boom" and isinstance(r.result, ValueError)


def test_revoked_is_task_revoked_error(server: FakeServer) -> None:
    server.results["v"] = results_pb2.TaskResult(task_id="v", state=S.TASK_STATE_REVOKED)
    with pytest.raises(TaskRevokedError, match="v was revoked"):
        AsyncResult("v", app=app).get()


def test_an_unknown_remote_class_is_remote_error(server: FakeServer) -> None:
    res = failed("u", ValueError("declined"))
    res.failure.exc_type = "billing.CardDeclined"
    server.results["u"] = res
    with pytest.raises(RemoteError, match="billing.CardDeclined: declined"):
        AsyncResult("u", app=app).get()


def test_pending_states_read_from_the_server(server: FakeServer) -> None:
    r = AsyncResult("p", app=app)
    assert (r.state, r.ready(), r.result) == ("PENDING", False, None)
    server.results["p"] = results_pb2.TaskResult(task_id="p", state=S.TASK_STATE_STARTED)
    assert r.state == "STARTED"


def test_group_get_uses_one_stream_and_keeps_member_order(server: FakeServer) -> None:
    for i, tid in enumerate(["m0", "m1", "m2", "n0"]):
        server.results[tid] = ok(tid, i * 10)
    server.order = ["n0", "m2", "m0", "m1"]  # pushed in completion order
    g = GroupResult(
        "g",
        [AsyncResult("m0"), AsyncResult("m1"), GroupResult("inner", [AsyncResult("n0")]), AsyncResult("m2")],
        app=app,
    )
    assert g.get(timeout=5) == [0, 10, [30], 20]
    assert server.wait_calls == [["m0", "m1", "n0", "m2"]]
    assert (g.ready(), g.successful(), g.failed(), g.waiting(), g.completed_count(), len(g)) == (
        True,
        True,
        False,
        False,
        4,
        4,
    )
    assert g.join() == [0, 10, [30], 20] and len(server.wait_calls) == 1
    assert g[0].id == "m0" and list(g) == g.results == g.children


def test_group_get_raises_the_first_failure_to_arrive_without_waiting_for_the_rest(server: FakeServer) -> None:
    server.results["ok"] = ok("ok", 1)
    server.results["bad"] = failed("bad", KeyError("k"))
    server.order = ["bad"]  # "ok" never arrives
    g = GroupResult("g", [AsyncResult("ok"), AsyncResult("bad")], app=app)
    with pytest.raises(KeyError):
        g.get()


def test_group_get_without_propagate_returns_exceptions_in_place(server: FakeServer) -> None:
    server.results["ok"] = ok("ok", 1)
    server.results["bad"] = failed("bad", KeyError("k"))
    values = GroupResult("g", [AsyncResult("ok"), AsyncResult("bad")], app=app).get(propagate=False)
    assert values[0] == 1 and isinstance(values[1], KeyError)


def test_parent_is_known_from_freeze_else_read_from_the_server(server: FakeServer) -> None:
    res = (add.si(1, 1) | add.si(2, 2)).freeze()
    assert res.parent is not None and server.wait_calls == []
    server.results["child"] = ok("child", 1, parent_id="dad")
    fresh = AsyncResult("child", app=app)
    assert fresh.parent == AsyncResult("dad")
    assert AsyncResult("orphan", app=app).parent is None


def test_children_collect_and_graph_follow_celery(server: FakeServer) -> None:
    server.results["root"] = ok(
        "root",
        4,
        children=[
            results_pb2.ResultRef(task_id="c1"),
            results_pb2.ResultRef(
                group=results_pb2.GroupRef(group_id="g", members=[results_pb2.ResultRef(task_id="g0")])
            ),
        ],
    )
    server.results["c1"] = ok("c1", 64)
    server.results["g0"] = ok("g0", 8)
    root = AsyncResult("root", app=app)
    kids = root.children
    assert kids[0] == AsyncResult("c1") and isinstance(kids[1], GroupResult)
    assert [(r.id, v) for r, v in root.collect()] == [("root", 4), ("c1", 64), ("g", [8]), ("g0", 8)]
    graph = root.graph
    assert list(graph) == kids[:0] + [root, kids[0], kids[1], kids[1].results[0]]
    assert repr(graph).splitlines()[0] == "root(3)"
    out = io.StringIO()
    graph.to_dot(out)
    assert out.getvalue().startswith("digraph dependencies {") and '"root" -> "c1";' in out.getvalue()


def test_graph_stops_at_an_unfinished_result_and_collect_waits_for_it(server: FakeServer) -> None:
    server.results["root"] = ok("root", 4, children=[results_pb2.ResultRef(task_id="later")])
    root = AsyncResult("root", app=app)
    with pytest.raises(IncompleteStream):
        _ = root.graph  # Celery: the graph of an unfinished result raises
    assert [(r.id, v) for r, v in root.collect(intermediate=True)] == [("root", 4), ("later", None)]
    assert len(root.build_graph(intermediate=True)) == 2
    assert AsyncResult("later", app=app).children is None  # not known before it is ready
    server.results["later"] = ok("later", 8)
    # Celery's collect() gets each node before walking on: it waits rather than raise.
    assert [(r.id, v) for r, v in root.collect()] == [("root", 4), ("later", 8)]
    assert root.get_leaf() == 8 and server.wait_calls[-1] == ["later"]


def test_revoke_and_forget(server: FakeServer) -> None:
    AsyncResult("a", app=app).revoke(terminate=True)
    GroupResult("g", [AsyncResult("b"), GroupResult("h", [AsyncResult("c")])], app=app).revoke()
    assert server.revoked == ["a", "b", "c"]
    GroupResult("g", [AsyncResult("b")], app=app).forget()
    assert server.forgotten == ["b", "g"]


def test_save_and_restore_through_the_app(server: FakeServer) -> None:
    res = app.GroupResult("g1", [app.AsyncResult("x"), app.GroupResult("g2", [app.AsyncResult("y")])])
    assert isinstance(res, GroupResult) and res.results[0].app is app
    res.save()
    back = app.GroupResult.restore("g1")
    assert isinstance(back, GroupResult) and back.app is app
    assert back.id == "g1" and back.results[0] == "x" and back.results[1].results[0] == "y"
    assert GroupResult.restore("g1", app=app).id == "g1"


def test_a_chord_result_from_freeze(server: FakeServer) -> None:
    from motet import chord

    res = chord([add.s(1, 1), add.s(2, 2)], tsum.s()).freeze()
    header = res.parent
    assert isinstance(header, GroupResult)
    for r, v in zip(header.results, (2, 4), strict=True):
        server.results[r.id] = ok(r.id, v)
    server.results[res.id] = ok(res.id, 6)
    assert header.get() == [2, 4] and res.get() == 6


def test_invert_and_send_task_submit_and_wait(server: FakeServer, monkeypatch: pytest.MonkeyPatch) -> None:
    submitted: list[Any] = []

    def submit(canvas: Any) -> None:
        submitted.append(canvas)
        task_id = canvas.signature.options.task_id
        server.results[task_id] = ok(task_id, 4)

    monkeypatch.setattr(server, "submit", submit, raising=False)
    assert ~add.s(2, 2) == 4
    res = app.send_task("billing.charge", args=[42], queue="billing")
    assert isinstance(res, AsyncResult) and res.app is app
    assert submitted[-1].signature.task == "billing.charge" and submitted[-1].signature.options.queue == "billing"
    assert add.AsyncResult(res.id).get() == 4


def test_a_chord_get_follows_parents_to_the_failed_member_while_its_result_is_the_chord_error(
    server: FakeServer,
) -> None:
    res = chord([add.s(1, 1), add.s(2, 2)], tsum.s()).freeze()
    header = res.parent
    assert isinstance(header, GroupResult)
    first, second = header.results
    server.results[first.id] = ok(first.id, 2)
    server.results[second.id] = failed(second.id, ValueError("boom"))
    body_failure = failed(res.id, ChordError(f"Dependency {second.id} raised ValueError('boom')"))
    body_failure.failure.kind = S.FAILURE_KIND_UPSTREAM
    server.results[res.id] = body_failure
    with pytest.raises(ValueError, match="boom"):
        res.get()  # Celery 5.7: the header is checked first and the original exception raised
    with pytest.raises(ChordError, match=f"Dependency {second.id} raised"):
        res.get(follow_parents=False)
    assert isinstance(res.get(propagate=False), ChordError) and isinstance(res.result, ChordError)


def test_a_chain_get_raises_the_earliest_failed_step(server: FakeServer) -> None:
    res = (add.s(1, 1) | add.s(1) | add.s(1)).freeze()
    second, first = res.parent, res.parent.parent
    server.results[first.id] = ok(first.id, 2)
    server.results[second.id] = failed(second.id, KeyError("second"))
    server.results[res.id] = failed(res.id, KeyError("second"))
    with pytest.raises(KeyError, match="second"):
        res.get()
    assert first.get() == 2


def test_result_tuples_round_trip_with_parents_and_members(server: FakeServer) -> None:
    res = (add.s(1, 1) | group(add.s(1), add.s(2))).freeze()
    rebuilt = result_from_tuple(res.as_tuple(), app=app)
    assert isinstance(rebuilt, GroupResult) and rebuilt == res
    assert [r.id for r in rebuilt.results] == [r.id for r in res.results]
    assert rebuilt.parent == res.parent and rebuilt.parent.parent is None
    single = AsyncResult("x", app=app, parent=AsyncResult("p", app=app))
    assert single.as_tuple() == (("x", (("p", None), None)), None)
    assert result_from_tuple(single.as_tuple(), app=app).parent == "p"


def test_result_sets_are_built_directly_or_with_add(server: FakeServer) -> None:
    a, b = AsyncResult("a", app=app), AsyncResult("b", app=app)
    server.results["a"], server.results["b"] = ok("a", 1), ok("b", 2)
    rs = ResultSet([a], app=app)
    rs.add(b)
    rs.add(b)  # once
    assert len(rs) == 2 and rs[1] == b and rs.get() == [1, 2] and rs.completed_count() == 2
    rs.discard("a")
    rs.discard("nope")
    assert rs.results == [b]
    with pytest.raises(KeyError):
        rs.remove("nope")
    rs.clear()
    assert rs.results == [] and rs.get() == []


def test_restoring_an_unknown_group_is_none_and_unknown_ids_do_not_exist(server: FakeServer) -> None:
    def missing(group_id: str) -> results_pb2.GroupRef:
        raise NotFound(f"no saved group with id {group_id!r}")

    server.restore_group = missing
    assert GroupResult.restore("nope", app=app) is None
    assert AsyncResult("never", app=app).exists() is False and AsyncResult("never", app=app).state == "PENDING"
    server.results["done"] = ok("done", 1)
    assert AsyncResult("done", app=app).exists() is True
