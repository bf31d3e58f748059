"""Wiring a ViewReader into a service: the consumer, the loop, readiness."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

from aiokafka import AIOKafkaConsumer
from prometheus_client import Histogram

from schemas.preferences import PreferenceSnapshot
from schemas.topics import PREFERENCES_CHANGED
from services.common.kafka import aiokafka_kwargs
from services.common.settings import KafkaSettings


def view_consumer(kafka: KafkaSettings, client_id: str) -> AIOKafkaConsumer:
    """A consumer for directly assigned, never committed reads of preferences.changed."""
    return AIOKafkaConsumer(
        **aiokafka_kwargs(kafka),
        group_id=None,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        client_id=client_id,
        fetch_max_wait_ms=100,
        max_partition_fetch_bytes=4 * 1024 * 1024,
    )


def offsets_consumer(kafka: KafkaSettings, client_id: str) -> AIOKafkaConsumer:
    """A consumer that only asks for end offsets, on a connection of its own (see ViewReader)."""
    return AIOKafkaConsumer(**aiokafka_kwargs(kafka), group_id=None, enable_auto_commit=False, client_id=client_id)


def preferences_topic(kafka: KafkaSettings) -> str:
    """Physical name of preferences.changed."""
    return kafka.topic(PREFERENCES_CHANGED)


def propagation_observer(histogram: Histogram, service: str) -> Callable[[PreferenceSnapshot], None]:
    """Observe stored -> applied latency of live snapshots."""
    child = histogram.labels(service=service)

    def observe(snapshot: PreferenceSnapshot) -> None:
        child.observe(max(0.0, (datetime.now(UTC) - snapshot.updated_at).total_seconds()))

    return observe
