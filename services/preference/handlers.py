"""Thin subscribers of the preference service: decode, hand to the service, dead-letter bad input."""

from __future__ import annotations

from typing import Any

from faststream.kafka import KafkaBroker

from schemas.ats import ATS_EVENT_ADAPTER, ATS_EVENT_TYPES, AtsEvent
from schemas.envelope import EventDecoder
from schemas.inbound import INBOUND_ADAPTER, INBOUND_TYPES, InboundReplyEvent
from schemas.status import STATUS_ADAPTER, STATUS_HEADER, STATUS_TYPES, NotificationStatusEvent
from schemas.topics import ATS_EVENTS, CANDIDATE_INBOUND, NOTIFICATIONS_STATUS
from services.common.consuming import subscribe_batch
from services.common.kafka import DeadLetters, Record, header
from services.preference.forwarding import Forwarder
from services.preference.reactions import Reactions
from services.preference.service import PreferenceService
from services.preference.settings import PreferenceSettings

# Outcomes that teach something (affinity) or invalidate an address; others are skipped undecoded.
_LEARN_FROM = frozenset({"replied", "read", "needs_recruiter", "bounced", "failed", None})


def _uninteresting(record: Record) -> bool:
    return header(record, STATUS_HEADER) not in _LEARN_FROM


def register_handlers(
    broker: KafkaBroker,
    settings: PreferenceSettings,
    service: PreferenceService,
    reactions: Reactions,
    dead_letters: DeadLetters,
    forwarder: Forwarder,
) -> None:
    """Subscribe the preference service to its input topics (one consumer group per topic)."""
    limit = settings.max_event_bytes

    async def on_ats_events(batch: list[tuple[Record, AtsEvent]]) -> None:
        """Create or refresh the profile, publish it, then forward each event to the router on its partition."""
        ordered = sorted(batch, key=lambda item: item[1].time)  # any partition, any client: event time orders
        admission = await service.import_from_ats([event for _, event in ordered])
        await forwarder.forward(ordered, admission)

    async def on_inbound_replies(batch: list[tuple[Record, InboundReplyEvent]]) -> None:
        """Replies: STOP/START, channel statements, slot choices; anything else goes to a recruiter."""
        await reactions.handle_replies([event.data for _, event in batch])

    async def on_status_events(batch: list[tuple[Record, NotificationStatusEvent]]) -> None:
        """Engagement and delivery outcomes: learned affinity, invalid contact points."""
        await reactions.handle_outcomes([event.data for _, event in batch])

    inputs: tuple[tuple[str, EventDecoder[Any], Any, str], ...] = (
        (ATS_EVENTS, EventDecoder(ATS_EVENT_ADAPTER, ATS_EVENT_TYPES, limit), on_ats_events, settings.group_id),
        (
            CANDIDATE_INBOUND,
            EventDecoder(INBOUND_ADAPTER, INBOUND_TYPES, limit),
            on_inbound_replies,
            f"{settings.group_id}.replies",
        ),
        (
            NOTIFICATIONS_STATUS,
            EventDecoder(STATUS_ADAPTER, STATUS_TYPES, limit),
            on_status_events,
            f"{settings.group_id}.engagement",
        ),
    )
    for topic, decoder, handle, group in inputs:
        subscribe_batch(
            broker,
            [settings.kafka.topic(topic)],
            group_id=group,
            decoder=decoder,
            dead_letters=dead_letters,
            session_timeout_ms=settings.kafka.session_timeout_ms,
            handle=handle,
            skip=_uninteresting if topic == NOTIFICATIONS_STATUS else None,
            # States feed engagement learning only (high volume, off the hot path); a reply may be a STOP.
            gather_ms=settings.kafka.projection_fetch_wait_ms if topic == NOTIFICATIONS_STATUS else 0,
            title=f"preference:{handle.__name__}",
            description=handle.__doc__,
        )
