"""Thin subscribers of the preference service: decode, hand to the service, dead-letter bad input."""

from __future__ import annotations

from faststream.kafka import KafkaBroker

from schemas.ats import ATS_EVENT_ADAPTER, ATS_EVENT_TYPES, AtsEvent
from schemas.envelope import EventDecoder
from schemas.topics import ATS_EVENTS
from services.common.consuming import subscribe_batch
from services.common.kafka import DeadLetters, Record
from services.preference.service import PreferenceService
from services.preference.settings import PreferenceSettings


def register_handlers(
    broker: KafkaBroker, settings: PreferenceSettings, service: PreferenceService, dead_letters: DeadLetters
) -> None:
    """Subscribe the preference service to its input topics."""
    ats_decoder = EventDecoder(ATS_EVENT_ADAPTER, ATS_EVENT_TYPES, settings.max_event_bytes)

    async def on_ats_events(batch: list[tuple[Record, AtsEvent]]) -> None:
        """The first event of a candidate creates their profile; later ones refresh contact data."""
        ordered = sorted((event for _, event in batch), key=lambda e: e.time)
        await service.import_from_ats(e.data.candidate for e in ordered)

    subscribe_batch(
        broker,
        [settings.kafka.topic(ATS_EVENTS)],
        group_id=settings.group_id,
        decoder=ats_decoder,
        dead_letters=dead_letters,
        handle=on_ats_events,
        title="preference:on_ats_events",
        description="Create or refresh candidate profiles from ATS contact data.",
    )
