"""What crosses the wire: status codes with google.rpc details, health, reflection, metrics."""

from __future__ import annotations

import json

import grpc
import pytest
from google.rpc import error_details_pb2
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc
from grpc_status import rpc_status

from motet.v1 import canvas_pb2, common_pb2, results_pb2, results_pb2_grpc, scheduler_pb2, scheduler_pb2_grpc


def _details(err: grpc.RpcError) -> tuple[list[error_details_pb2.ErrorInfo], list[error_details_pb2.BadRequest]]:
    status = rpc_status.from_call(err)
    assert status is not None, "the error carries no google.rpc.Status"
    infos, bad = [], []
    for detail in status.details:
        if detail.Is(error_details_pb2.ErrorInfo.DESCRIPTOR):
            info = error_details_pb2.ErrorInfo()
            detail.Unpack(info)
            infos.append(info)
        elif detail.Is(error_details_pb2.BadRequest.DESCRIPTOR):
            req = error_details_pb2.BadRequest()
            detail.Unpack(req)
            bad.append(req)
    return infos, bad


def _scheduler(cluster: object) -> scheduler_pb2_grpc.SchedulerServiceStub:
    return scheduler_pb2_grpc.SchedulerServiceStub(grpc.insecure_channel(cluster.scheduler))


def test_a_malformed_canvas_is_invalid_argument_with_field_violations(cluster: object) -> None:
    chord_without_body = canvas_pb2.Canvas(
        chord=canvas_pb2.Chord(header=[canvas_pb2.Canvas(signature=canvas_pb2.Signature(task="add"))])
    )
    with pytest.raises(grpc.RpcError) as info:
        _scheduler(cluster).SubmitCanvas(scheduler_pb2.SubmitCanvasRequest(canvas=chord_without_body))
    assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    infos, bad = _details(info.value)
    assert [(i.reason, i.domain) for i in infos] == [("INVALID_CANVAS", "motet.dev")]
    assert [v.field for v in bad[0].field_violations] == ["canvas.chord.body"]


def test_an_oversized_payload_is_resource_exhausted(cluster: object) -> None:
    big = common_pb2.Payload(encoding="json", data=json.dumps(["x" * (1 << 20)]).encode())
    canvas = canvas_pb2.Canvas(signature=canvas_pb2.Signature(task="add", args=big))
    with pytest.raises(grpc.RpcError) as info:
        _scheduler(cluster).SubmitCanvas(scheduler_pb2.SubmitCanvasRequest(canvas=canvas))
    assert info.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert [i.reason for i in _details(info.value)[0]] == ["PAYLOAD_TOO_LARGE"]


def test_restoring_an_unknown_group_is_not_found(cluster: object) -> None:
    stub = results_pb2_grpc.ResultsServiceStub(grpc.insecure_channel(cluster.results))
    with pytest.raises(grpc.RpcError) as info:
        stub.RestoreGroup(results_pb2.RestoreGroupRequest(group_id="no-such-group"))
    assert info.value.code() == grpc.StatusCode.NOT_FOUND
    assert [(i.reason, i.domain) for i in _details(info.value)[0]] == [("NOT_FOUND", "motet.dev")]


def test_a_missing_request_field_is_invalid_request_naming_it(cluster: object) -> None:
    stub = results_pb2_grpc.ResultsServiceStub(grpc.insecure_channel(cluster.results))
    with pytest.raises(grpc.RpcError) as info:
        stub.GetResult(results_pb2.GetResultRequest())
    assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    infos, bad = _details(info.value)
    assert [i.reason for i in infos] == ["INVALID_REQUEST"]
    assert [v.field for v in bad[0].field_violations] == ["task_id"]


def test_an_unknown_id_is_pending_as_in_celery(cluster: object) -> None:
    stub = results_pb2_grpc.ResultsServiceStub(grpc.insecure_channel(cluster.results))
    reply = stub.GetResult(results_pb2.GetResultRequest(task_id="never-submitted"))
    assert reply.result.state == common_pb2.TASK_STATE_PENDING


@pytest.mark.parametrize(
    "endpoint,service", [("scheduler", "motet.v1.SchedulerService"), ("results", "motet.v1.ResultsService")]
)
def test_health_and_reflection(cluster: object, endpoint: str, service: str) -> None:
    channel = grpc.insecure_channel(getattr(cluster, endpoint))
    health = health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(service=service))
    assert health.status == health_pb2.HealthCheckResponse.SERVING
    stub = reflection_pb2_grpc.ServerReflectionStub(channel)
    replies = list(stub.ServerReflectionInfo(iter([reflection_pb2.ServerReflectionRequest(list_services="")])))
    names = {s.name for s in replies[0].list_services_response.service}
    assert service in names


def test_submitting_the_same_canvas_twice_runs_it_once(cluster: object) -> None:
    from examples.guide.tasks import add

    sig = add.s(20, 22)
    result = sig.freeze()
    request = scheduler_pb2.SubmitCanvasRequest(canvas=sig.to_proto())
    first = _scheduler(cluster).SubmitCanvas(request)
    second = _scheduler(cluster).SubmitCanvas(request)
    assert (first.created, second.created) == (True, False)
    assert first.result_id == second.result_id == result.id
    assert result.get(timeout=30) == 42


def _scrape(endpoint: str) -> dict[str, float]:
    import urllib.request

    from prometheus_client.parser import text_string_to_metric_families

    text = urllib.request.urlopen(f"http://{endpoint}/metrics", timeout=10).read().decode()
    out: dict[str, float] = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:  # summed over the labels (queue, task, op, namespace ...)
            out[s.name] = out.get(s.name, 0.0) + s.value
    return out


def test_prometheus_metrics_are_served(cluster: object) -> None:
    from examples.guide.tasks import add, tsum

    if not getattr(cluster, "scheduler_metrics", ""):
        pytest.skip("an existing cluster (MOTET_TEST_CLUSTER) does not say where its metrics are")
    from motet import chord

    before = _scrape(cluster.scheduler_metrics)
    add.delay(1, 2).get(timeout=30)
    # A chord wide enough that its submission spills past one etcd txn into outbox parts.
    assert chord(add.s(i, i) for i in range(300))(tsum.s()).get(timeout=60) == 300 * 299
    scheduler = _scrape(cluster.scheduler_metrics)
    assert scheduler["motet_tasks_submitted_total"] >= 1
    assert scheduler["motet_workers_connected"] >= 1
    assert any(name.startswith("motet_etcd_txn_total") for name in scheduler)
    # Each metric moves when its event happens.
    for name in (
        "motet_chord_joins_total",
        "motet_outbox_parts_applied_total",
        "motet_task_run_seconds_count",
        "motet_etcd_txn_ops_count",
        "motet_etcd_txn_seconds_count",
    ):
        assert scheduler[name] > before.get(name, 0.0), name
    results = _scrape(cluster.results_metrics)
    assert "motet_wait_streams" in results


def test_no_service_at_the_endpoint_is_a_clear_error_not_a_hang() -> None:
    import time

    import motet.state
    from motet import App
    from motet.exceptions import ServiceUnavailable
    from motet_server.ports import free_port

    previous = motet.state._current  # a new App becomes the current one, as in Celery
    try:
        app = App("nowhere", scheduler=f"127.0.0.1:{free_port()}", results=f"127.0.0.1:{free_port()}")
        task = app.task(lambda x: x, name="nowhere.identity")
        started = time.monotonic()
        with pytest.raises(ServiceUnavailable, match="motet dev --app"):
            task.delay(1)
        with pytest.raises(ServiceUnavailable):
            app.AsyncResult("some-id").get(timeout=30)
        assert time.monotonic() - started < 20
    finally:
        motet.state._current = previous


def test_a_wait_timeout_is_a_deadline_even_with_the_results_service_down() -> None:
    import time

    import motet.state
    from motet import App
    from motet.exceptions import TimeoutError as MotetTimeout
    from motet_server.ports import free_port

    previous = motet.state._current
    try:
        app = App("nowhere", scheduler=f"127.0.0.1:{free_port()}", results=f"127.0.0.1:{free_port()}")
        started = time.monotonic()
        # The wait retries an unreachable results service, but never past its timeout (it
        # took 4.5 s for timeout=1 when the pauses between tries ignored the deadline).
        with pytest.raises(MotetTimeout, match="results service at .* is unavailable"):
            app.AsyncResult("some-id").get(timeout=1)
        assert time.monotonic() - started < 2.5
    finally:
        motet.state._current = previous


def test_a_wait_for_a_task_no_worker_serves_says_so(cluster: object) -> None:
    import re
    import time
    import urllib.request

    from motet import current_app
    from motet.exceptions import TimeoutError as MotetTimeout
    from tests.e2e.tasks import add

    nobody = current_app().send_task("proj.nope", (1,))
    with pytest.raises(MotetTimeout, match="no connected worker serves proj.nope on queue celery"):
        nobody.get(timeout=1)
    elsewhere = add.apply_async((1, 1), queue="nobody-listens")
    with pytest.raises(
        MotetTimeout, match=r"no connected worker serves .*add on queue nobody-listens \(workers serve it on celery"
    ):
        elsewhere.get(timeout=1)
    # A wait on work a worker holds says what state it is in instead.
    slow = add.s(1, 1).set(countdown=60).apply_async()
    with pytest.raises(MotetTimeout, match=r"waiting for 1 result\(s\): of 1 looked at, 1 (PENDING|RECEIVED)$"):
        slow.get(timeout=0.5)
    slow.revoke()
    # The scheduler says so too, once, in its log (it checks every 5 s).
    log = cluster.log_path("scheduler")  # type: ignore[attr-defined]
    wanted = "no connected worker serves task proj.nope on queue celery"
    deadline = time.monotonic() + 20
    while wanted not in log.read_text() and time.monotonic() < deadline:
        time.sleep(0.5)
    assert log.read_text().count(wanted) == 1, f"the scheduler did not log {wanted!r} once"
    # ... and counts the tasks that wait so (the two above) in motet_tasks_unserved.
    # The pass that logged proj.nope may have run before the second task was sent: the next
    # one (5 s later) counts both.
    url = f"http://{cluster.scheduler_metrics}/metrics"  # type: ignore[attr-defined]
    pattern = r"^motet_tasks_unserved(?:\{[^}]*\})? ([2-9]|\d\d+)\.0$"
    deadline = time.monotonic() + 15
    while True:
        with urllib.request.urlopen(url, timeout=10) as reply:
            text = reply.read().decode()
        if re.search(pattern, text, flags=re.M):
            break
        assert time.monotonic() < deadline, "motet_tasks_unserved < 2"
        time.sleep(0.5)
    nobody.revoke()
    elsewhere.revoke()


def test_get_results_answers_each_id_in_order_and_refuses_an_empty_request(cluster: object) -> None:
    from tests.e2e.tasks import add

    done = add.delay(20, 22)
    assert done.get(timeout=30) == 42
    results = results_pb2_grpc.ResultsServiceStub(grpc.insecure_channel(cluster.results))  # type: ignore[attr-defined]
    ids = ["never-seen", done.id, "never-seen"]
    reply = results.GetResults(results_pb2.GetResultsRequest(task_ids=ids), timeout=10)
    assert [r.task_id for r in reply.results] == ids
    states = [r.state for r in reply.results]
    assert states == [common_pb2.TASK_STATE_PENDING, common_pb2.TASK_STATE_SUCCESS, common_pb2.TASK_STATE_PENDING]
    assert json.loads(reply.results[1].value.data) == 42
    with pytest.raises(grpc.RpcError) as info:
        results.GetResults(results_pb2.GetResultsRequest(), timeout=10)
    assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert [i.reason for i in _details(info.value)[0]] == ["INVALID_REQUEST"]


def test_a_canvas_larger_than_one_etcd_transaction_is_still_one_submission(cluster: object) -> None:
    # 10,000 records are far past what one etcd txn carries (128 ops, and over 1 MiB): the write
    # set's parts are staged before the commit, and the whole group is stored by one SubmitCanvas.
    import uuid

    ids = [str(uuid.uuid4()) for _ in range(10_000)]
    members = [
        canvas_pb2.Canvas(signature=canvas_pb2.Signature(task="nobody.serves", options=canvas_pb2.Options(task_id=i)))
        for i in ids
    ]
    huge = canvas_pb2.Canvas(group=canvas_pb2.Group(tasks=members))
    reply = _scheduler(cluster).SubmitCanvas(scheduler_pb2.SubmitCanvasRequest(canvas=huge), timeout=120)
    assert reply.created
    results = results_pb2_grpc.ResultsServiceStub(grpc.insecure_channel(cluster.results))  # type: ignore[attr-defined]

    def states() -> list[tuple[int, str]]:
        out = []
        for start in range(0, len(ids), 5_000):
            request = results_pb2.GetResultsRequest(task_ids=ids[start : start + 5_000])
            out += [(r.state, r.task) for r in results.GetResults(request, timeout=60).results]
        return out

    # Every member is stored (PENDING with its task record's name: a worker would get it).
    assert set(states()) == {(common_pb2.TASK_STATE_PENDING, "nobody.serves")}
    revoked = _scheduler(cluster).RevokeTask(scheduler_pb2.RevokeTaskRequest(task_ids=ids), timeout=120)
    assert revoked.revoked == len(ids)
    assert {state for state, _ in states()} == {common_pb2.TASK_STATE_REVOKED}


def test_a_polyglot_client_gets_nested_groups_spliced_by_the_scheduler(cluster: object) -> None:
    # Built as raw protobuf, no SDK freeze: the scheduler's expansion splices the inner group
    # into the chord header (Celery 5.7), in submission order.
    from examples.guide.tasks import identity
    from motet import AsyncResult
    from tests.support.canvases import chord, group, sig

    inner = group(sig(identity.name, 1), sig(identity.name, 2))
    canvas = chord([sig(identity.name, 0), inner, sig(identity.name, 3)], sig(identity.name))
    reply = _scheduler(cluster).SubmitCanvas(scheduler_pb2.SubmitCanvasRequest(canvas=canvas))
    assert AsyncResult(reply.result_id).get(timeout=30) == [0, 1, 2, 3]


def test_a_task_id_in_use_by_another_canvas_is_already_exists_naming_it(cluster: object) -> None:
    from examples.guide.tasks import add
    from motet import AsyncResult
    from tests.support.canvases import chain, sig

    first = add.s(1, 1)
    taken = first.freeze().id
    assert _scheduler(cluster).SubmitCanvas(scheduler_pb2.SubmitCanvasRequest(canvas=first.to_proto())).created
    assert AsyncResult(taken).get(timeout=30) == 2
    # Another canvas (a new root id) whose second step reuses the finished task's id.
    clash = chain(sig(add.name, 2, 2), sig(add.name, 3, task_id=taken))
    with pytest.raises(grpc.RpcError) as info:
        _scheduler(cluster).SubmitCanvas(scheduler_pb2.SubmitCanvasRequest(canvas=clash))
    assert info.value.code() == grpc.StatusCode.ALREADY_EXISTS
    assert taken in info.value.details()
    (error,) = _details(info.value)[0]
    assert (error.reason, error.metadata["task_id"]) == ("TASK_ID_IN_USE", taken)
    assert AsyncResult(taken).get(timeout=30) == 2  # the stored result was not overwritten
