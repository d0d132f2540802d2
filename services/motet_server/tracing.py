"""The worker's span exporter, chosen by the deployment with OpenTelemetry's standard variables
(see `motet.tracing` for what is traced)."""

from __future__ import annotations

import os

__all__ = ["configure_from_env"]


def configure_from_env() -> bool:
    """Installs a tracer provider when ``OTEL_TRACES_EXPORTER`` asks for one (``console`` or
    ``otlp``) and opentelemetry-sdk is installed; returns whether it did."""
    exporter_name = os.environ.get("OTEL_TRACES_EXPORTER", "").strip().lower()
    if exporter_name in ("", "none"):
        return False
    try:  # optional, and only loaded when asked for
        from opentelemetry import trace
        from opentelemetry.sdk.resources import Resource
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import BatchSpanProcessor, ConsoleSpanExporter, SimpleSpanProcessor
    except ImportError:
        return False
    resource = Resource.create({"service.name": os.environ.get("OTEL_SERVICE_NAME", "motet-worker")})
    provider = TracerProvider(resource=resource)
    if exporter_name == "console":
        provider.add_span_processor(SimpleSpanProcessor(ConsoleSpanExporter()))
    elif exporter_name == "otlp":
        try:
            from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import (  # type: ignore[import-not-found,unused-ignore]
                OTLPSpanExporter,
            )
        except ImportError:
            return False
        provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
    else:
        return False
    trace.set_tracer_provider(provider)
    return True
