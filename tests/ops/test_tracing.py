"""OpenTelemetry tracing through FastStream's middleware: off by default, one setting turns it on."""

from __future__ import annotations

from faststream.kafka import TestKafkaBroker
from faststream.kafka.opentelemetry import KafkaTelemetryMiddleware
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from prometheus_client import CollectorRegistry

from services.common.kafka import make_broker
from services.common.settings import KafkaSettings
from services.common.tracing import add_trace_ids, tracer_provider


def test_tracing_is_off_unless_the_setting_turns_it_on(monkeypatch: object) -> None:
    assert KafkaSettings().tracing is False
    off = make_broker(KafkaSettings(), CollectorRegistry(), "router")
    assert not any(isinstance(m, KafkaTelemetryMiddleware) for m in off.middlewares)
    on = make_broker(KafkaSettings(tracing=True), CollectorRegistry(), "router")
    assert isinstance(on.middlewares[0], KafkaTelemetryMiddleware)


def test_without_a_configured_provider_spans_go_to_stdout() -> None:
    provider = tracer_provider("router")
    assert isinstance(provider, TracerProvider)
    assert provider.resource.attributes["service.name"] == "router"
    provider.shutdown()


async def test_a_published_and_consumed_record_is_one_trace_and_logs_name_it() -> None:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    broker = make_broker(KafkaSettings(tracing=True), CollectorRegistry(), "router", tracing=provider)
    seen: list[dict[str, object]] = []

    @broker.subscriber("dispatch.email", group_id="notifier.email")
    async def on_dispatch(body: str) -> None:
        seen.append(dict(add_trace_ids(None, "info", {})))

    async with TestKafkaBroker(broker) as br:
        await br.publish(b"x", "dispatch.email", key=b"cand-1", correlation_id="n-1")
    spans = exporter.get_finished_spans()
    names = {s.name for s in spans}
    assert any("publish" in n for n in names) and any("process" in n for n in names), names
    assert len({s.context.trace_id for s in spans}) == 1, "the consumer continues the producer's trace"
    assert seen and seen[0]["trace_id"] == format(spans[0].context.trace_id, "032x")
    provider.shutdown()
