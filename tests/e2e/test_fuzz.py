"""Hostile input, generated (hypothesis), against a real cluster of its own: every malformed or
adversarial SubmitCanvas / GetResult / GetResults / WaitResult / worker stream is answered with a
status that names the problem (never UNKNOWN or INTERNAL), the services keep serving, and
afterwards a chord still runs correctly with nothing left half-written (no outbox or staged part)."""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import Iterator

import grpc
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from motet.v1 import (
    canvas_pb2,
    common_pb2,
    results_pb2,
    results_pb2_grpc,
    scheduler_pb2,
    scheduler_pb2_grpc,
    worker_pb2,
    worker_pb2_grpc,
)
from motet_server.devcluster import DevCluster
from motet_server.store.etcd import Etcd
from motet_server.store.keys import Keys
from tests.support.rpc_errors import code_of, reason

pytestmark = pytest.mark.slow

ACCEPTABLE = {
    grpc.StatusCode.OK,
    grpc.StatusCode.INVALID_ARGUMENT,
    grpc.StatusCode.RESOURCE_EXHAUSTED,
    grpc.StatusCode.ALREADY_EXISTS,
    grpc.StatusCode.NOT_FOUND,
    grpc.StatusCode.FAILED_PRECONDITION,
}
"""What a hostile request may get: a status naming the problem (or success)."""

IDS = [str(uuid.UUID(int=i)) for i in range(4)]  # a small pool, so ids collide


@pytest.fixture(scope="module")
def fuzz_cluster() -> Iterator[DevCluster]:
    with DevCluster(app="examples.guide.tasks", ports="free", workers=1, concurrency=4) as cluster:
        yield cluster


def _names() -> st.SearchStrategy[str]:
    return st.one_of(
        st.just(""),
        st.sampled_from(["fuzz.nope", "examples.guide.tasks.add"]),
        st.text(max_size=40),
        st.builds(lambda n: "x" * n, st.integers(5_000, 20_000)),
    )


def _payloads() -> st.SearchStrategy[common_pb2.Payload]:
    # An oversized payload is test_wire.py's (hypothesis would print a 1 MB example's repr).
    return st.builds(
        common_pb2.Payload,
        encoding=st.sampled_from(["", "json", "pickle", "bogus"]),
        data=st.one_of(
            st.just(b"[1, 2]"),
            st.just(b"{}"),
            st.binary(max_size=64),
            st.just(b"[" * 200),
            st.just(b'[{"__type__":"pickle","__value__":"gARLAS4="}]'),  # pickle, which this scheduler refuses
            st.just(b'[{"__type__":"no-such-type","__value__":1}]'),
        ),
    )


def _options() -> st.SearchStrategy[canvas_pb2.Options]:
    return st.builds(
        canvas_pb2.Options,
        task_id=st.one_of(st.just(""), st.sampled_from(IDS), st.text(max_size=20)),
        countdown=st.floats(allow_nan=True, allow_infinity=True, width=64),
        priority=st.integers(min_value=-(2**31), max_value=2**31 - 1),
        queue=st.one_of(st.just(""), st.just("fuzz-queue"), st.text(max_size=10)),
        max_retries=st.integers(min_value=-(2**31), max_value=2**31 - 1),
    )


def _signature() -> st.SearchStrategy[canvas_pb2.Canvas]:
    return st.builds(
        lambda name, args, kwargs, options: canvas_pb2.Canvas(
            signature=canvas_pb2.Signature(task=name, args=args, kwargs=kwargs, options=options)
        ),
        _names(),
        _payloads(),
        _payloads(),
        _options(),
    )


def _canvases() -> st.SearchStrategy[canvas_pb2.Canvas]:
    def extend(children: st.SearchStrategy[canvas_pb2.Canvas]) -> st.SearchStrategy[canvas_pb2.Canvas]:
        many = st.lists(children, max_size=4)
        return st.one_of(
            st.builds(lambda t, o: canvas_pb2.Canvas(chain=canvas_pb2.Chain(tasks=t, options=o)), many, _options()),
            st.builds(lambda t, o: canvas_pb2.Canvas(group=canvas_pb2.Group(tasks=t, options=o)), many, _options()),
            st.builds(
                lambda h, b: canvas_pb2.Canvas(chord=canvas_pb2.Chord(header=h, body=b)),
                many,
                st.one_of(st.none(), children),
            ),
        )

    return st.one_of(st.just(canvas_pb2.Canvas()), st.recursive(_signature(), extend, max_leaves=12))


def _nested(depth: int) -> canvas_pb2.Canvas:
    node = canvas_pb2.Canvas(signature=canvas_pb2.Signature(task="fuzz.nope"))
    for _ in range(depth):
        node = canvas_pb2.Canvas(chain=canvas_pb2.Chain(tasks=[node]))
    return node


_SETTINGS = settings(
    max_examples=int(os.environ.get("MOTET_FUZZ_EXAMPLES", "120")),
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow, HealthCheck.data_too_large],
    derandomize=True,
)


@_SETTINGS
@given(canvas=_canvases())
def test_any_canvas_gets_a_status_naming_the_problem(fuzz_cluster: DevCluster, canvas: canvas_pb2.Canvas) -> None:
    with grpc.insecure_channel(fuzz_cluster.scheduler) as ch:
        stub = scheduler_pb2_grpc.SchedulerServiceStub(ch)
        code = code_of(lambda: stub.SubmitCanvas(scheduler_pb2.SubmitCanvasRequest(canvas=canvas), timeout=30))
    assert code in ACCEPTABLE, f"{code} for {canvas}"


def test_absurd_nesting_and_a_million_member_group_are_refused(fuzz_cluster: DevCluster) -> None:
    with grpc.insecure_channel(fuzz_cluster.scheduler) as ch:
        stub = scheduler_pb2_grpc.SchedulerServiceStub(ch)
        # Deeper than Motet's 32 levels (protobuf itself stops decoding at 100 message levels).
        deep = code_of(lambda: stub.SubmitCanvas(scheduler_pb2.SubmitCanvasRequest(canvas=_nested(40)), timeout=60))
        assert deep == grpc.StatusCode.INVALID_ARGUMENT
        member = canvas_pb2.Canvas(signature=canvas_pb2.Signature(task="fuzz.nope"))
        huge = canvas_pb2.Canvas(group=canvas_pb2.Group(tasks=[member] * 1_000_000))
        wide = code_of(lambda: stub.SubmitCanvas(scheduler_pb2.SubmitCanvasRequest(canvas=huge), timeout=120))
        assert wide in (grpc.StatusCode.INVALID_ARGUMENT, grpc.StatusCode.RESOURCE_EXHAUSTED)


@_SETTINGS
@given(
    ids=st.lists(
        st.one_of(
            st.just(""),
            st.sampled_from(IDS),
            st.text(max_size=50),
            st.builds(lambda n: "y" * n, st.integers(10_000, 20_000)),
        ),
        max_size=5,
    )
)
def test_result_reads_with_any_ids_get_a_status_naming_the_problem(fuzz_cluster: DevCluster, ids: list[str]) -> None:
    with grpc.insecure_channel(fuzz_cluster.results) as ch:
        stub = results_pb2_grpc.ResultsServiceStub(ch)
        codes = [
            code_of(lambda: stub.GetResult(results_pb2.GetResultRequest(task_id=ids[0] if ids else ""), timeout=10)),
            code_of(lambda: stub.GetResults(results_pb2.GetResultsRequest(task_ids=ids), timeout=10)),
            code_of(lambda: list(stub.WaitResult(results_pb2.WaitResultRequest(task_ids=ids), timeout=0.25))),
        ]
    # A wait for ids that never finish ends at its deadline, which is the caller's, not an error.
    assert all(c in ACCEPTABLE | {grpc.StatusCode.DEADLINE_EXCEEDED} for c in codes), codes


@_SETTINGS
@given(
    frames=st.lists(
        st.one_of(
            st.builds(
                lambda n: worker_pb2.ConnectRequest(credit=worker_pb2.Credit(n=n)), st.integers(-(2**31), 2**31 - 1)
            ),
            st.builds(
                lambda t, d: worker_pb2.ConnectRequest(succeeded=worker_pb2.TaskSucceeded(task_id=t, delivery=d)),
                st.one_of(st.sampled_from(IDS), st.text(max_size=20)),
                st.integers(-5, 5),
            ),
            st.builds(
                lambda t, kind: worker_pb2.ConnectRequest(
                    failed=worker_pb2.TaskFailed(task_id=t, failure=common_pb2.TaskFailure(kind=kind))  # type: ignore[arg-type]
                ),
                st.one_of(st.sampled_from(IDS), st.text(max_size=20)),
                st.integers(min_value=-5, max_value=50),  # unknown enum values too
            ),
            st.builds(
                lambda t: worker_pb2.ConnectRequest(started=worker_pb2.TaskStarted(task_id=t)), st.text(max_size=20)
            ),
            st.just(worker_pb2.ConnectRequest(heartbeat=worker_pb2.Heartbeat())),
            st.just(worker_pb2.ConnectRequest()),
        ),
        max_size=8,
    ),
    hello_first=st.booleans(),
)
def test_a_worker_stream_of_garbage_frames_is_survived(
    fuzz_cluster: DevCluster, frames: list[worker_pb2.ConnectRequest], hello_first: bool
) -> None:
    hello = worker_pb2.ConnectRequest(
        hello=worker_pb2.WorkerHello(worker_id="fuzz", task_names=["fuzz.nope"], queues=["fuzz-only"])
    )
    sent = [hello, *frames] if hello_first else frames or [worker_pb2.ConnectRequest()]
    with grpc.insecure_channel(fuzz_cluster.scheduler) as ch:
        call = worker_pb2_grpc.WorkerServiceStub(ch).Connect(iter(sent), timeout=3)
        code = code_of(lambda: list(call))
    assert code in ACCEPTABLE | {grpc.StatusCode.DEADLINE_EXCEEDED}, code


UNARY = [
    ("scheduler", "/motet.v1.SchedulerService/" + m)
    for m in ("SubmitCanvas", "RevokeTask", "InspectWorkers", "AddToChord")
] + [
    ("results", "/motet.v1.ResultsService/" + m)
    for m in ("GetResult", "GetResults", "SaveGroup", "RestoreGroup", "ForgetResult")
]
GARBAGE = [b"\xff\xff\xff\xff", b"\x0a\x05ab", b"GET / HTTP/1.1\r\n\r\n"]
"""Bytes that are no protobuf message: a bad tag, a length past the end, another protocol."""


@pytest.mark.parametrize(("service", "method"), UNARY)
def test_bytes_that_are_not_protobuf_are_invalid_argument(fuzz_cluster: DevCluster, service: str, method: str) -> None:
    target = fuzz_cluster.scheduler if service == "scheduler" else fuzz_cluster.results
    with grpc.insecure_channel(target) as ch:
        call = ch.unary_unary(method)  # no serializers: the bytes go out as they are
        for raw in GARBAGE:
            with pytest.raises(grpc.RpcError) as caught:
                call(raw, timeout=10)
            assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT, (raw, caught.value)
            assert reason(caught.value) == "INVALID_REQUEST"
            assert method in (caught.value.details() or "")
        wait = ch.unary_stream("/motet.v1.ResultsService/WaitResult")
        if service == "results":
            with pytest.raises(grpc.RpcError) as caught:
                list(wait(GARBAGE[0], timeout=10))
            assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT


def test_a_worker_frame_that_is_not_protobuf_ends_the_stream_invalid_argument(fuzz_cluster: DevCluster) -> None:
    hello = worker_pb2.ConnectRequest(
        hello=worker_pb2.WorkerHello(worker_id="fuzz", task_names=["fuzz.nope"], queues=["fuzz-only"])
    ).SerializeToString()
    credit = worker_pb2.ConnectRequest(credit=worker_pb2.Credit(n=1)).SerializeToString()
    with grpc.insecure_channel(fuzz_cluster.scheduler) as ch:
        connect = ch.stream_stream("/motet.v1.WorkerService/Connect")
        with pytest.raises(grpc.RpcError) as caught:
            list(connect(iter([hello, credit, GARBAGE[0]]), timeout=10))
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT, caught.value
    assert reason(caught.value) == "INVALID_REQUEST"


def test_a_call_for_another_namespace_is_refused_and_names_both(fuzz_cluster: DevCluster) -> None:
    request = results_pb2.GetResultRequest(task_id=IDS[0])
    with grpc.insecure_channel(fuzz_cluster.results) as ch:
        stub = results_pb2_grpc.ResultsServiceStub(ch)
        assert stub.GetResult(request, metadata=[("motet-namespace", "default")], timeout=10).result.task_id == IDS[0]
        with pytest.raises(grpc.RpcError) as caught:
            stub.GetResult(request, metadata=[("motet-namespace", "billing")], timeout=10)
    assert caught.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert reason(caught.value) == "NAMESPACE_MISMATCH"
    assert "'default'" in (caught.value.details() or "") and "'billing'" in (caught.value.details() or "")


def test_after_the_fuzzing_a_chord_runs_and_nothing_is_half_written(
    fuzz_cluster: DevCluster, monkeypatch: pytest.MonkeyPatch
) -> None:
    from examples.guide.tasks import add, tsum
    from motet import chord

    monkeypatch.setenv("MOTET_SCHEDULER", fuzz_cluster.scheduler)
    monkeypatch.setenv("MOTET_RESULTS", fuzz_cluster.results)
    assert chord(add.s(i, i) for i in range(20))(tsum.s()).get(timeout=60) == 380

    async def half_written() -> tuple[int, int]:
        async with await Etcd.connect([fuzz_cluster.etcd]) as etcd:
            return await etcd.count_prefix(Keys().outbox_prefix()), await etcd.count_prefix(Keys().stage_prefix())

    assert asyncio.run(half_written()) == (0, 0)  # no outbox part, no staged part left
