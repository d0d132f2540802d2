"""`motet.tracing` without a tracer provider: the incoming context is passed on (what a task
sends continues the trace), but there is no span of this process's own to link to."""

from __future__ import annotations

from motet import tracing

PARENT = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"


def test_without_a_provider_the_parent_is_passed_on_but_not_reported_as_a_span() -> None:
    with tracing.task_span("t", PARENT, {"motet.task_id": "x"}):
        assert tracing.current_traceparent() == PARENT
        assert tracing.current_traceparent(recorded=True) == ""


def test_outside_any_span_there_is_no_context() -> None:
    assert tracing.current_traceparent() == ""
    with tracing.task_span("t", "", {}):
        assert tracing.current_traceparent() == ""
