"""OpenTelemetry tracing of Kafka consume and publish (FastStream's middleware); off unless KAFKA_TRACING=true.

The spans go to the process's tracer provider when one is configured (e.g. by `opentelemetry-instrument`
with an OTLP exporter); otherwise to an SDK provider that writes one JSON line per span to stdout. The
trace context travels in the records' headers (W3C `traceparent`), so a trace follows an event from the
router through the notifier; log lines written inside a span carry its trace id.
"""

from __future__ import annotations

from collections.abc import MutableMapping
from typing import Any

from opentelemetry import trace
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace import TracerProvider as SdkTracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, ConsoleSpanExporter


def _one_line(span: ReadableSpan) -> str:
    return str(span.to_json(indent=None)) + "\n"


def tracer_provider(service: str) -> trace.TracerProvider:
    """The configured tracer provider, or one that writes spans to stdout (no network needed)."""
    current = trace.get_tracer_provider()
    if isinstance(current, SdkTracerProvider):
        return current
    provider = SdkTracerProvider(resource=Resource.create({"service.name": service}))
    provider.add_span_processor(BatchSpanProcessor(ConsoleSpanExporter(formatter=_one_line)))
    return provider


def add_trace_ids(_: Any, __: str, event: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    """Log processor: the current span's trace and span id, when a span is recording."""
    ctx = trace.get_current_span().get_span_context()
    if ctx.is_valid:
        event.setdefault("trace_id", format(ctx.trace_id, "032x"))
        event.setdefault("span_id", format(ctx.span_id, "016x"))
    return event
