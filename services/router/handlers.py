"""The router's one subscriber: accepted ATS events and notifier states together, with a rebalance listener.

FastStream creates one consumer per subscriber. Both input topics go through ONE subscriber (one
consumer, one group membership), so range assignment hands an instance the same partition numbers
of both, and the listener rebuilds the preference view for exactly those numbers (co-partitioned)
before any record of them is handled: aiokafka fetches nothing until on_partitions_assigned returns.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

from aiokafka import ConsumerRebalanceListener, TopicPartition
from faststream.kafka import KafkaBroker

from schemas.ats import ATS_EVENT_ADAPTER, ATS_EVENT_TYPES, AtsEvent
from schemas.envelope import EventDecoder
from schemas.status import STATUS_ADAPTER, STATUS_HEADER, STATUS_TYPES, NotificationStatusEvent
from schemas.topics import ATS_ACCEPTED, NOTIFICATIONS_STATUS
from services.common.consuming import subscribe_batch
from services.common.kafka import DeadLetters, Record, header
from services.common.locks import WorkGate
from services.router.service import RouterService
from services.router.settings import RouterSettings

log = logging.getLogger(__name__)
# The states the router acts on; a status record without the header is decoded and checked.
_TRACKED_NAMES = frozenset({"failed", "bounced", "replied", None})


class RebuildOnAssign(ConsumerRebalanceListener):  # type: ignore[misc]
    """Waits for in-flight work on revoke; rebuilds state for newly assigned partitions before resuming."""

    def __init__(self, gate: WorkGate, on_assigned: Callable[[set[int]], Awaitable[None]]) -> None:
        self._gate = gate
        self._on_assigned = on_assigned

    async def on_partitions_revoked(self, revoked: list[TopicPartition]) -> None:
        """Close the gate: batches and timer releases already running finish on the old ownership."""
        await self._gate.close()

    async def on_partitions_assigned(self, assigned: list[TopicPartition]) -> None:
        """Rebuild the view for the partition numbers now owned, then let work run again."""
        await self._gate.close()
        try:
            await self._on_assigned({tp.partition for tp in assigned})
        finally:
            self._gate.reopen()


def register_handlers(
    broker: KafkaBroker,
    settings: RouterSettings,
    service: RouterService,
    dead_letters: DeadLetters,
    on_assigned: Callable[[set[int]], Awaitable[None]],
    owned: Callable[[], frozenset[int]],
) -> None:
    """Subscribe the router to ats.accepted + notifications.status in one consumer."""
    ats_topic = settings.kafka.topic(ATS_ACCEPTED)
    status_topic = settings.kafka.topic(NOTIFICATIONS_STATUS)
    decoders: dict[str, EventDecoder[Any]] = {
        ats_topic: EventDecoder(ATS_EVENT_ADAPTER, ATS_EVENT_TYPES, settings.max_event_bytes),
        status_topic: EventDecoder(STATUS_ADAPTER, STATUS_TYPES, settings.max_event_bytes),
    }

    async def on_inputs(batch: list[tuple[Record, Any]]) -> None:
        """ATS events become decisions; notifier states drive fallbacks and silence tracking."""
        async with service.gate.work():
            # Records fetched before a rebalance took their partition away belong to the new owner now.
            mine = owned()
            events: list[tuple[Record, AtsEvent]] = [
                (r, e) for r, e in batch if r.topic == ats_topic and r.partition in mine
            ]
            states: list[tuple[Record, NotificationStatusEvent]] = [
                (r, e) for r, e in batch if r.topic == status_topic and r.partition in mine
            ]
            if events:
                await dead_letters.send_all(await service.on_ats_events(events))
            if states:
                await service.on_status_events(states)

    subscribe_batch(
        broker,
        [ats_topic, status_topic],
        group_id=settings.group_id,
        decoder=decoders,
        dead_letters=dead_letters,
        session_timeout_ms=settings.kafka.session_timeout_ms,
        handle=on_inputs,
        listener=RebuildOnAssign(service.gate, on_assigned),
        skip=lambda r: r.topic == status_topic and header(r, STATUS_HEADER) not in _TRACKED_NAMES,
        title="router:on_inputs",
        description="Route ATS events; fall back on failures and bounces.",
    )
