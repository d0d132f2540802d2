"""gRPC status codes become MotetError subclasses; WaitResult streams are reopened (no network)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import grpc
import pytest
from google.protobuf import any_pb2
from google.rpc import code_pb2, error_details_pb2, status_pb2

from motet import client, payload
from motet.exceptions import CanvasError, EncodeError, MotetError, NotFound, ServiceUnavailable, TimeoutError
from motet.settings import ClientSettings
from motet.v1 import common_pb2, results_pb2, scheduler_pb2


def _client(stub: Any = None, scheduler: Any = None) -> client.Client:
    c = client.Client(ClientSettings(scheduler="h:1", results="h:2", namespace="ns"))
    if stub is not None:
        c._results = stub
    c._await_here = scheduler is not None  # else one id would first be asked of h:1
    if scheduler is not None:
        c._scheduler = scheduler
    return c


class FakeRpcError(grpc.RpcError):
    def __init__(self, code: grpc.StatusCode, details: str, trailing: tuple[tuple[str, bytes], ...] = ()) -> None:
        self._code, self._details, self._trailing = code, details, trailing

    def code(self) -> grpc.StatusCode:
        return self._code

    def details(self) -> str:
        return self._details

    def trailing_metadata(self) -> tuple[tuple[str, bytes], ...]:
        return self._trailing


def _with_details(code: grpc.StatusCode, google_code: int, details: str, reason: str, *extra: Any) -> FakeRpcError:
    packed = []
    for message in (error_details_pb2.ErrorInfo(reason=reason, domain="motet.dev"), *extra):
        any_ = any_pb2.Any()
        any_.Pack(message)
        packed.append(any_)
    status = status_pb2.Status(code=google_code, message=details, details=packed)
    return FakeRpcError(code, details, (("grpc-status-details-bin", status.SerializeToString()),))


def _bad_request(details: str) -> FakeRpcError:
    bad = error_details_pb2.BadRequest(
        field_violations=[
            error_details_pb2.BadRequest.FieldViolation(field="canvas.chord.body", description="a chord needs a body"),
        ]
    )
    return _with_details(grpc.StatusCode.INVALID_ARGUMENT, code_pb2.INVALID_ARGUMENT, details, "INVALID_CANVAS", bad)


@pytest.mark.parametrize(
    "err,kind,message",
    [
        (
            FakeRpcError(grpc.StatusCode.UNAVAILABLE, "connection refused"),
            ServiceUnavailable,
            r"no Motet service answers at h:1 .*motet dev --app MODULE",
        ),
        (FakeRpcError(grpc.StatusCode.NOT_FOUND, "group g was never saved"), NotFound, "group g was never saved"),
        (
            _bad_request("malformed canvas"),
            CanvasError,
            r"malformed canvas \[canvas.chord.body: a chord needs a body\]",
        ),
        (FakeRpcError(grpc.StatusCode.INVALID_ARGUMENT, "bad"), CanvasError, "doing it: bad$"),
        (FakeRpcError(grpc.StatusCode.RESOURCE_EXHAUSTED, "payload too large"), EncodeError, "payload too large"),
        (FakeRpcError(grpc.StatusCode.DEADLINE_EXCEEDED, ""), TimeoutError, "no answer in time"),
        (FakeRpcError(grpc.StatusCode.INTERNAL, "oops"), MotetError, "INTERNAL: oops"),
    ],
)
def test_status_codes_map_to_motet_errors(err: FakeRpcError, kind: type[Exception], message: str) -> None:
    mapped = client.error_from_rpc(err, "h:1", "doing it")
    assert type(mapped) is kind
    assert re.search(message, str(mapped)), str(mapped)


def test_the_error_reason_is_kept_and_a_canvas_too_large_is_a_canvas_error() -> None:
    assert client.error_from_rpc(_bad_request("bad"), "h:1", "x").reason == "INVALID_CANVAS"
    too_large = _with_details(
        grpc.StatusCode.RESOURCE_EXHAUSTED, code_pb2.RESOURCE_EXHAUSTED, "too many records", "CANVAS_TOO_LARGE"
    )
    mapped = client.error_from_rpc(too_large, "h:1", "submitting")
    assert type(mapped) is CanvasError and mapped.reason == "CANVAS_TOO_LARGE"
    assert "split it into several submissions" in str(mapped)
    payload_too_large = _with_details(
        grpc.StatusCode.RESOURCE_EXHAUSTED, code_pb2.RESOURCE_EXHAUSTED, "1 MiB", "PAYLOAD_TOO_LARGE"
    )
    assert type(client.error_from_rpc(payload_too_large, "h:1", "x")) is EncodeError
    assert client.error_from_rpc(FakeRpcError(grpc.StatusCode.INTERNAL, "oops"), "h:1", "x").reason is None


class FakeStub:
    def __init__(self, streams: list[Any]) -> None:
        self.streams = streams
        self.requests: list[list[str]] = []

    def WaitResult(  # noqa: N802 - the stub's method name
        self, request: results_pb2.WaitResultRequest, timeout: float | None = None, metadata: Any = ()
    ) -> Iterator[Any]:
        self.requests.append(list(request.task_ids))
        step = self.streams.pop(0)
        if isinstance(step, Exception):
            raise step
        return iter(step)

    def GetResults(  # noqa: N802 - the stub's method name
        self, request: results_pb2.GetResultsRequest, timeout: float | None = None, metadata: Any = ()
    ) -> results_pb2.GetResultsResponse:
        # What a timed-out wait asks to say why: ids never seen (PENDING, no task name).
        return results_pb2.GetResultsResponse(
            results=[results_pb2.TaskResult(task_id=i, state=common_pb2.TASK_STATE_PENDING) for i in request.task_ids]
        )


def _reply(task_id: str, value: Any) -> results_pb2.WaitResultResponse:
    return results_pb2.WaitResultResponse(
        result=results_pb2.TaskResult(task_id=task_id, state=common_pb2.TASK_STATE_SUCCESS, value=payload.encode(value))
    )


@pytest.fixture
def no_sleep(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(client.time, "sleep", lambda _: None)


def test_a_broken_wait_stream_is_reopened_for_the_missing_ids(no_sleep: None) -> None:
    stub = FakeStub(
        [[_reply("a", 1)], FakeRpcError(grpc.StatusCode.UNAVAILABLE, "restart"), [_reply("b", 2), _reply("x", 0)]]
    )
    got = [r.task_id for r in _client(stub).wait(["a", "b"], timeout=10)]
    assert got == ["a", "b"]
    assert stub.requests == [["a", "b"], ["b"], ["b"]]


def test_a_wait_deadline_is_a_timeout_error() -> None:
    stub = FakeStub([FakeRpcError(grpc.StatusCode.DEADLINE_EXCEEDED, "deadline")])
    with pytest.raises(
        TimeoutError, match=r"timed out after 0.5 s waiting for 2 result\(s\): of 2 looked at, 2 PENDING$"
    ):
        list(_client(stub).wait(["a", "b"], timeout=0.5))


def test_an_unreachable_results_service_is_service_unavailable(no_sleep: None) -> None:
    stub = FakeStub([FakeRpcError(grpc.StatusCode.UNAVAILABLE, "refused")] * 10)
    with pytest.raises(ServiceUnavailable, match="waiting for results"):
        list(_client(stub).wait(["a"], timeout=None))


def test_unary_calls_retry_unavailable_then_give_up(no_sleep: None) -> None:
    calls: list[Any] = []

    def call(request: Any, timeout: float, metadata: Any) -> Any:
        calls.append(metadata)
        raise FakeRpcError(grpc.StatusCode.UNAVAILABLE, "refused")

    with pytest.raises(ServiceUnavailable, match="submitting"):
        _client()._unary("h:1", "submitting", call, object(), 1.0)
    assert len(calls) == 4 and calls[0] == (("motet-namespace", "ns"),)


class FakeScheduler:
    """AwaitResult answers in order: a reply, or an error to raise."""

    def __init__(self, answers: list[Any]) -> None:
        self.answers = answers
        self.calls = 0

    def AwaitResult(  # noqa: N802 - the stub's method name
        self, request: scheduler_pb2.AwaitResultRequest, timeout: float | None = None, metadata: Any = ()
    ) -> scheduler_pb2.AwaitResultResponse:
        self.calls += 1
        answer = self.answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return answer


def test_one_result_held_by_the_scheduler_is_answered_there() -> None:
    held = scheduler_pb2.AwaitResultResponse(held=True, result=_reply("a", 7).result)
    results = FakeStub([])  # never asked
    assert [r.task_id for r in _client(results, FakeScheduler([held])).wait(["a"], timeout=5)] == ["a"]
    assert results.requests == []


@pytest.mark.parametrize(
    "answer",
    [
        scheduler_pb2.AwaitResultResponse(held=False),
        FakeRpcError(grpc.StatusCode.UNAVAILABLE, "restarting"),
        FakeRpcError(grpc.StatusCode.UNIMPLEMENTED, "an older scheduler"),
    ],
)
def test_one_result_the_scheduler_does_not_hold_is_waited_for_at_the_results_service(answer: Any) -> None:
    results = FakeStub([[_reply("a", 7)], [_reply("b", 8)]])
    scheduler = FakeScheduler([answer, scheduler_pb2.AwaitResultResponse(held=False)])
    c = _client(results, scheduler)
    assert [r.task_id for r in c.wait(["a"], timeout=5)] == ["a"]
    assert results.requests == [["a"]]
    list(c.wait(["b"], timeout=5))
    # An older scheduler (UNIMPLEMENTED) is not asked again.
    unimplemented = isinstance(answer, FakeRpcError) and answer.code() == grpc.StatusCode.UNIMPLEMENTED
    assert scheduler.calls == (1 if unimplemented else 2)


def test_a_wait_at_the_scheduler_past_its_deadline_is_a_timeout_error() -> None:
    scheduler = FakeScheduler([FakeRpcError(grpc.StatusCode.DEADLINE_EXCEEDED, "deadline")])
    with pytest.raises(TimeoutError, match=r"timed out after 0.5 s waiting for 1 result\(s\)"):
        list(_client(FakeStub([]), scheduler).wait(["a"], timeout=0.5))


def test_a_wait_for_more_ids_than_one_stream_takes_is_split_into_streams() -> None:
    ids = [f"t{i}" for i in range(25_000)]
    chunks = [ids[:10_000], ids[10_000:20_000], ids[20_000:]]
    results = FakeStub([[_reply(i, 1) for i in chunk] for chunk in chunks])
    assert [r.task_id for r in _client(results).wait(ids, timeout=60)] == ids
    assert results.requests == chunks
