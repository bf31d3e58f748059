"""Handler wiring of the preference service with FastStream's TestKafkaBroker and in-memory fakes."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from faststream.kafka import TestKafkaBroker
from faststream.kafka.annotations import KafkaMessage
from prometheus_client import CollectorRegistry

from schemas.preferences import PreferenceSnapshot
from services.common.kafka import DLQ_ERROR_KIND, DeadLetters, Partitioner, make_broker
from services.common.settings import KafkaSettings
from services.preference.forwarding import Forwarder
from services.preference.handlers import register_handlers
from services.preference.metrics import PreferenceMetrics
from services.preference.reactions import Reactions
from services.preference.service import PreferenceService
from services.preference.settings import PreferenceSettings
from tests.fakes import FakePreferenceStore, FakeSnapshotPublisher
from tests.support import ats_event

NOW = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)


def build() -> tuple[Any, FakePreferenceStore, FakeSnapshotPublisher, list[dict[str, Any]]]:
    settings = PreferenceSettings(kafka=KafkaSettings(topic_prefix="h."))
    registry = CollectorRegistry()
    metrics = PreferenceMetrics(registry)
    broker = make_broker(settings.kafka, registry, "preference")
    store, publisher = FakePreferenceStore(), FakeSnapshotPublisher()
    service = PreferenceService(store, publisher, metrics, lambda: NOW, b"k")

    async def publish(event: Any) -> None:
        events.append(event)

    events: list[Any] = []
    reactions = Reactions(service, publish, metrics, lambda: NOW)
    forwarder = Forwarder(broker, settings.kafka, Partitioner(3))
    register_handlers(
        broker, settings, service, reactions, DeadLetters(broker, "preference", metrics.dead_letter), forwarder
    )
    dead: list[dict[str, Any]] = []

    @broker.subscriber("h.ats.events.dlq")
    async def capture(body: Any, message: KafkaMessage) -> None:
        dead.append(dict(message.headers))

    return broker, store, publisher, dead


async def test_first_ats_event_creates_the_profile_and_publishes_version_1() -> None:
    broker, store, publisher, _ = build()
    async with TestKafkaBroker(broker) as br:
        await br.publish(json.dumps(ats_event("ats.application.received", "c1")).encode(), "h.ats.events", key=b"c1")
    snap = await store.get("c1")
    assert isinstance(snap, PreferenceSnapshot) and snap.version == 1
    assert publisher.published == [snap]


async def test_later_events_update_contacts_but_not_choices() -> None:
    broker, store, _publisher, _ = build()
    async with TestKafkaBroker(broker) as br:
        await br.publish(json.dumps(ats_event("ats.application.received", "c1")).encode(), "h.ats.events", key=b"c1")
        await br.publish(
            json.dumps(ats_event("ats.stage.changed", "c1", email="new@example.org")).encode(),
            "h.ats.events",
            key=b"c1",
        )
        await br.publish(
            json.dumps(ats_event("ats.stage.changed", "c1", email="new@example.org")).encode(),
            "h.ats.events",
            key=b"c1",
        )
    snap = await store.get("c1")
    assert snap is not None and snap.version == 2  # the identical third event changed nothing
    assert snap.contacts.email is not None and snap.contacts.email.address == "new@example.org"


async def test_bad_input_goes_to_the_dead_letter_topic_and_the_next_event_is_handled() -> None:
    broker, store, _, dead = build()
    async with TestKafkaBroker(broker) as br:
        await br.publish(b"{oops", "h.ats.events", key=b"c1")
        await br.publish(json.dumps(ats_event("ats.application.received", "c2")).encode(), "h.ats.events", key=b"c2")
    assert [d[DLQ_ERROR_KIND] for d in dead] == ["malformed_json"]
    assert await store.get("c2") is not None
