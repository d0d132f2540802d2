"""W3C trace context across a canvas, with OpenTelemetry when it is installed (off otherwise).

- A client sends the current span's ``traceparent`` with each submission
  (`SubmitCanvasRequest.traceparent`); the scheduler writes it into every task of the canvas.
- A worker runs each task inside a span ``run <task name>`` whose parent is that context, so
  the tasks of one canvas (in any language whose worker does the same) form one trace; canvases a
  task submits continue it. Attributes: ``motet.task_id``, ``motet.task``, ``motet.root_id``,
  ``motet.group_id``, ``motet.retries``; a task that raises records the exception. The worker
  reports its span's context with the value (`TaskSucceeded.traceparent`); a chord body gets its
  header members' as `RequestContext.links` and its span links to each.
- Nothing is exported unless the deployment chooses: install ``opentelemetry-sdk`` and set the
  standard ``OTEL_TRACES_EXPORTER`` (``console``, or ``otlp`` with
  ``opentelemetry-exporter-otlp``) for the worker to install a tracer provider
  (`motet_server.tracing`), or install one yourself. Without ``opentelemetry-api`` every function here does nothing.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

try:  # optional: tracing exists only where OpenTelemetry is installed
    from opentelemetry import propagate, trace

    _AVAILABLE = True
except ImportError:  # pragma: no cover - exercised where OpenTelemetry is absent
    _AVAILABLE = False

__all__ = ["current_traceparent", "task_span"]


def current_traceparent(*, recorded: bool = False) -> str:
    """The ``traceparent`` of the current span, or "" (no OpenTelemetry, or no span).

    With ``recorded``, only a span this process records (exports): a worker without a tracer
    provider still passes its parent's context on, but has no span of its own to link to.
    """
    if not _AVAILABLE:
        return ""
    if recorded and not trace.get_current_span().is_recording():
        return ""
    carrier: dict[str, str] = {}
    propagate.inject(carrier)
    return carrier.get("traceparent", "")


@contextlib.contextmanager
def task_span(task: str, traceparent: str, attributes: Mapping[str, Any], links: Sequence[str] = ()) -> Iterator[None]:
    """Runs the block inside the span of one task run (a no-op without OpenTelemetry), linked
    to the spans named by ``links`` (a chord body: its header members' runs)."""
    if not _AVAILABLE:
        yield
        return
    parent = propagate.extract({"traceparent": traceparent}) if traceparent else None
    linked = []
    for link in links:
        context = trace.get_current_span(propagate.extract({"traceparent": link})).get_span_context()
        if context.is_valid:
            linked.append(trace.Link(context, {"motet.link": "chord header member"}))
    tracer = trace.get_tracer("motet")
    with tracer.start_as_current_span(
        f"run {task}", context=parent, kind=trace.SpanKind.CONSUMER, attributes=dict(attributes), links=linked
    ):
        yield
