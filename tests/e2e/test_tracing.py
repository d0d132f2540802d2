"""W3C trace context across a canvas (OpenTelemetry): a client's span goes with the submission,
the scheduler writes it into every task, and a worker started with OTEL_TRACES_EXPORTER=console
runs each task in a span that is its child: one trace per canvas, the task's ids as attributes,
a failure recorded on its span, and what a task sends continuing its span."""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import grpc
import pytest
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider

from examples.guide.tasks import add, fail, tsum
from motet import chord
from motet.v1 import canvas_pb2, scheduler_pb2, scheduler_pb2_grpc
from motet_server.devcluster import ServiceProcess
from tests.e2e.tasks import current_trace
from tests.support.processes import process_env

QUEUE = "traced"


@pytest.fixture(scope="module")
def traced_worker(cluster: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    log = tmp_path_factory.mktemp("tracing") / "worker.log"
    argv = [sys.executable, "-m", "motet", "worker", "--app", "tests.e2e.tasks", "--scheduler", cluster.scheduler,
            "--queues", QUEUE, "--concurrency", "2"]  # fmt: skip
    env = process_env(OTEL_TRACES_EXPORTER="console", OTEL_SERVICE_NAME="traced-worker", MOTET_RESULTS=cluster.results)
    proc = ServiceProcess("traced-worker", argv, log, env, "motet worker ready").start()
    try:
        yield log
    finally:
        proc.stop()


def _spans(log: Path) -> list[dict[str, Any]]:
    """The spans the console exporter printed (indented JSON objects, one after another)."""
    text, decoder, out = log.read_text(), json.JSONDecoder(), []
    at = text.find("{\n")
    while at != -1:
        try:
            obj, end = decoder.raw_decode(text, at)
        except ValueError:
            at = text.find("{\n", at + 1)
            continue
        if isinstance(obj, dict) and "context" in obj:
            out.append(obj)
        at = text.find("{\n", end)
    return out


def _spans_of(log: Path, trace_id: str, n: int) -> list[dict[str, Any]]:
    deadline = time.monotonic() + 20
    while True:
        found = [s for s in _spans(log) if s["context"]["trace_id"] == trace_id]
        if len(found) >= n or time.monotonic() > deadline:
            return found
        time.sleep(0.2)


def _client_span() -> Any:
    # A tracer of its own (not the global provider): the test process exports nothing.
    return TracerProvider().get_tracer("test-client").start_as_current_span("client submits")


def test_a_chord_is_one_trace_under_the_submitting_span(traced_worker: Path) -> None:
    with _client_span() as span:
        result = chord((add.s(i, i) for i in range(3)), tsum.s()).apply_async(queue=QUEUE)
        ctx = span.get_span_context()
    assert result.get(timeout=30) == 6
    trace_id, span_id = f"0x{ctx.trace_id:032x}", f"0x{ctx.span_id:016x}"
    spans = _spans_of(traced_worker, trace_id, 4)
    assert sorted(s["name"] for s in spans) == ["run examples.guide.tasks.add"] * 3 + ["run examples.guide.tasks.tsum"]
    assert all(s["parent_id"] == span_id for s in spans), "every task's span is a child of the client's"
    ids = {s["attributes"]["motet.task_id"] for s in spans}
    assert ids == {m.id for m in result.parent.results} | {result.id}
    assert {s["attributes"]["motet.root_id"] for s in spans} == {result.parent.results[0].id}
    assert all(s["status"]["status_code"] == "UNSET" for s in spans)
    # The body's span links to each header member's run.
    (body,) = [s for s in spans if s["attributes"]["motet.task_id"] == result.id]
    members = {s["context"]["span_id"] for s in spans if s is not body}
    assert {link["context"]["span_id"] for link in body["links"]} == members
    assert all(s["links"] == [] for s in spans if s is not body)
    assert all(s["resource"]["attributes"]["service.name"] == "traced-worker" for s in spans)


def test_a_failing_task_records_its_error_on_its_span(traced_worker: Path) -> None:
    with _client_span() as span:
        result = fail.apply_async(queue=QUEUE)
        ctx = span.get_span_context()
    with pytest.raises(RuntimeError):
        result.get(timeout=30)
    (failed,) = _spans_of(traced_worker, f"0x{ctx.trace_id:032x}", 1)
    assert failed["status"]["status_code"] == "ERROR"
    assert [e["name"] for e in failed["events"]] == ["exception"]
    assert failed["events"][0]["attributes"]["exception.type"] == "RuntimeError"


def test_what_a_task_sends_continues_its_span(traced_worker: Path) -> None:
    with _client_span() as span:
        result = current_trace.apply_async(queue=QUEUE)
        ctx = span.get_span_context()
    sent = result.get(timeout=30)
    (run,) = _spans_of(traced_worker, f"0x{ctx.trace_id:032x}", 1)
    # A canvas submitted from inside the task would carry the task's own span as its parent.
    version_trace_span, flags = sent.rsplit("-", 1)
    assert version_trace_span == f"00-{ctx.trace_id:032x}-{run['context']['span_id'][2:]}"
    assert int(flags, 16) & 1, "sampled"


def test_without_a_span_nothing_is_sent_and_a_bad_traceparent_is_refused(cluster: Any) -> None:
    assert add.apply_async((1, 1), queue=QUEUE).get(timeout=30) == 2  # no span: no context, still runs
    sig = canvas_pb2.Canvas(signature=canvas_pb2.Signature(task="examples.guide.tasks.add"))
    with grpc.insecure_channel(cluster.scheduler) as ch:
        with pytest.raises(grpc.RpcError) as caught:
            scheduler_pb2_grpc.SchedulerServiceStub(ch).SubmitCanvas(
                scheduler_pb2.SubmitCanvasRequest(canvas=sig, traceparent="not-a-trace"), timeout=10
            )
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "W3C" in (caught.value.details() or "")


def test_the_global_provider_is_untouched() -> None:
    # The client spans above came from a provider of their own; nothing was installed globally.
    assert not isinstance(trace.get_tracer_provider(), TracerProvider)
