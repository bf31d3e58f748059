"""The notifier's subscribers: one consumer group per channel, one for states, one for candidate events.

A slow provider never blocks another channel; the recruiter timeline is a projection of
notifications.status.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import datetime

from faststream.kafka import KafkaBroker

from schemas.candidate_events import (
    CANDIDATE_EVENT_ADAPTER,
    CANDIDATE_EVENT_TYPES,
    CandidateEvent,
    PersonRequestedEvent,
    ReplyNeedsRecruiterEvent,
)
from schemas.common import Channel, NotificationStatus
from schemas.dispatch import DISPATCH_ADAPTER, DISPATCH_TYPES
from schemas.envelope import EventDecoder
from schemas.status import DISPATCHED_HEADER, STATUS_ADAPTER, STATUS_TYPES, NotificationStatusEvent
from schemas.topics import CANDIDATE_EVENTS, NOTIFICATIONS_STATUS, dispatch_topic
from services.common.consuming import subscribe_batch
from services.common.kafka import DeadLetters, Record, header
from services.notifier.delivery import Delivery
from services.notifier.reports import RECORDED_HEADER
from services.notifier.settings import NotifierSettings
from services.notifier.store import NotifierStore


def work_items(changes: Sequence[NotificationStatusEvent], now: datetime) -> list[dict[str, object]]:
    """Worklist items for states that need a human, and for choices the router could not honour."""
    items: list[dict[str, object]] = []
    for ev in changes:
        c = ev.data
        if c.choice_not_honoured is not None and c.status in (NotificationStatus.QUEUED, NotificationStatus.HELD):
            items.append(  # one per candidate and channel: the gap, not every message it touched
                {
                    "_id": f"choice_not_honoured:{c.candidate_id}:{c.choice_not_honoured.value}",
                    "kind": "choice_not_honoured",
                    "candidate_id": c.candidate_id,
                    "application_id": c.application_id,
                    "notification_id": c.notification_id,
                    "channel": c.choice_not_honoured.value,
                    "stage": c.stage.value,
                    "reason": c.reason,
                    "created_at": now,
                    "handled_at": None,
                }
            )
        if c.status is NotificationStatus.NEEDS_RECRUITER:
            items.append(
                {
                    "_id": f"needs_recruiter:{c.notification_id}",
                    "kind": "needs_recruiter",
                    "candidate_id": c.candidate_id,
                    "application_id": c.application_id,
                    "notification_id": c.notification_id,
                    "channel": c.channel.value if c.channel else None,
                    "stage": c.stage.value,
                    "reason": c.reason,
                    "created_at": now,
                    "handled_at": None,
                }
            )
    return items


def reply_work_items(events: Sequence[CandidateEvent], now: datetime) -> list[dict[str, object]]:
    """Worklist items for replies the preference service could not interpret."""
    return [
        {
            "_id": f"unparsed_reply:{ev.id}",
            "kind": "unparsed_reply",
            "candidate_id": ev.data.candidate_id,
            "application_id": ev.data.application_id,
            "notification_id": ev.data.in_reply_to,
            "channel": ev.data.channel.value,
            "stage": None,
            "reason": ev.data.reason,
            "received_at": ev.data.received_at,
            "created_at": now,
            "handled_at": None,
        }
        for ev in events
        if isinstance(ev, ReplyNeedsRecruiterEvent)
    ]


def person_work_items(events: Sequence[CandidateEvent], now: datetime) -> list[dict[str, object]]:
    """Worklist items for candidates who asked for a person on the self-service page (one per request id)."""
    return [
        {
            "_id": f"person_requested:{ev.id}",
            "kind": "person_requested",
            "candidate_id": ev.data.candidate_id,
            "application_id": None,
            "notification_id": None,
            "channel": None,
            "stage": None,
            "reason": "The candidate asked to talk to a person (self-service page).",
            "details": {"text": ev.data.message, "language": ev.data.language},
            "received_at": ev.data.requested_at,
            "created_at": now,
            "handled_at": None,
        }
        for ev in events
        if isinstance(ev, PersonRequestedEvent)
    ]


def _kept_with_outcomes(record: Record) -> bool:
    """States the outcome documents hold: the notifier's own, and `queued` states sent with a dispatch."""
    return header(record, RECORDED_HEADER) is not None or header(record, DISPATCHED_HEADER) is not None


def register_handlers(
    broker: KafkaBroker,
    settings: NotifierSettings,
    deliveries: Mapping[Channel, Delivery],
    store: NotifierStore,
    dead_letters: DeadLetters,
    clock: object,
    erased: Callable[[str], bool] = lambda _: False,
) -> None:
    """Subscribe the notifier to its dispatch topics and to notification states."""
    dispatch_decoder = EventDecoder(DISPATCH_ADAPTER, DISPATCH_TYPES, settings.max_event_bytes)
    for channel, delivery in deliveries.items():
        subscribe_batch(
            broker,
            [settings.kafka.topic(dispatch_topic(channel))],
            group_id=f"{settings.group_prefix}.{channel.value}",
            decoder=dispatch_decoder,
            dead_letters=dead_letters,
            session_timeout_ms=settings.kafka.session_timeout_ms,
            handle=delivery.on_dispatch,
            title=f"notifier:on_dispatch_{channel.value}",
            description=f"Deliver {channel.value} messages.",
        )

    async def on_status_events(batch: list[tuple[Record, NotificationStatusEvent]]) -> None:
        """Project every state change onto the timeline; hand what needs a human to the worklist.

        An erased candidate's timeline is not rebuilt: `suppressed` states and anything else about a
        candidate the view knows as erased stay on the topic (for the ATS) and out of the store.
        """
        batch = [
            (r, e)
            for r, e in batch
            if e.data.status is not NotificationStatus.SUPPRESSED and not erased(e.data.candidate_id)
        ]
        applied = await store.apply_statuses([e.data for _, e in batch])
        moved = {c.notification_id + c.status.value for c in applied}
        fresh = [e for _, e in batch if e.data.notification_id + e.data.status.value in moved]
        await store.add_work(work_items(fresh, clock()))  # type: ignore[operator]

    subscribe_batch(
        broker,
        [settings.kafka.topic(NOTIFICATIONS_STATUS)],
        group_id=f"{settings.group_prefix}.status",
        decoder=EventDecoder(STATUS_ADAPTER, STATUS_TYPES, settings.max_event_bytes),
        dead_letters=dead_letters,
        session_timeout_ms=settings.kafka.session_timeout_ms,
        handle=on_status_events,
        skip=_kept_with_outcomes,
        gather_ms=settings.kafka.projection_fetch_wait_ms,
        title="notifier:on_status_events",
        description="Recruiter timeline and worklist from notification states.",
    )

    async def on_candidate_events(batch: list[tuple[Record, CandidateEvent]]) -> None:
        """Replies nobody could interpret, and requests to talk to a person, go to the recruiter's worklist."""
        events = [e for _, e in batch]
        now = clock()  # type: ignore[operator]
        await store.add_work(reply_work_items(events, now) + person_work_items(events, now))

    subscribe_batch(
        broker,
        [settings.kafka.topic(CANDIDATE_EVENTS)],
        group_id=f"{settings.group_prefix}.candidate-events",
        decoder=EventDecoder(CANDIDATE_EVENT_ADAPTER, CANDIDATE_EVENT_TYPES, settings.max_event_bytes),
        dead_letters=dead_letters,
        session_timeout_ms=settings.kafka.session_timeout_ms,
        handle=on_candidate_events,
        title="notifier:on_candidate_events",
        description="Unparsed replies and requests to talk to a person onto the recruiter worklist.",
    )
