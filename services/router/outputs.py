"""What the router publishes: dispatch commands per channel and its own notification states."""

from __future__ import annotations

from datetime import datetime

from faststream.kafka import KafkaBroker

from schemas.ats import AtsEvent
from schemas.common import NotificationStatus, Stage
from schemas.dispatch import DeliverMessage, DeliverMessageCommand
from schemas.ids import notification_id
from schemas.status import DISPATCHED_HEADER, STATUS_HEADER, NotificationStatusEvent, StatusChange, reason_text
from schemas.topics import NOTIFICATIONS_STATUS, dispatch_topic
from services.common.kafka import Partitioner
from services.common.publishing import CandidateWave
from services.common.settings import KafkaSettings
from services.router.policy import Planned
from services.router.store import Routed

SOURCE = "urn:candidate-comms:router"


# What a planned message and its dispatch command both hold, under the same names.
_CARRIED = (
    "notification_id",
    "ats_event_id",
    "candidate_id",
    "application_id",
    "attempt",
    "stage",
    "purpose_class",
    "template",
    "language",
    "mode",
    "essential",
    "reply_expected",
    "voicemail",
    "context",
    "reasons",
    "event_time",
)


def deliver_command(r: Routed, now: datetime) -> DeliverMessageCommand:
    """The notifier's command for a queued message."""
    p = r.planned
    assert p.channel is not None, "only messages with a channel are dispatched"
    msg = DeliverMessage(
        **{f: getattr(p, f) for f in _CARRIED},
        purpose_key=p.purpose_key,
        channel=p.channel,
        to=r.to,
        decided_at=now,
        preference_version=r.preference_version,
        tried=r.tried,
        follow_ups=r.follow_ups,
    )
    return DeliverMessageCommand(id=p.notification_id, time=now, subject=p.candidate_id, data=msg)


def routed_from_command(cmd: DeliverMessageCommand, partition: int) -> Routed:
    """A dispatched message as the router decided it, from its command (the topic is the decision log).

    What a command leaves out is what only waiting messages need (holds, reply windows: those are stored).
    """
    m = cmd.data
    planned = Planned(
        **{f: getattr(m, f) for f in _CARRIED},
        # A command from before the key was carried: the event's main message, whose key is its template.
        purpose_key=m.purpose_key or m.template,
        interview_id=m.context.interview_id,
        channel=m.channel,
        state=NotificationStatus.QUEUED,
        due_at=None,
        hold_kind=None,
    )
    return Routed(
        planned=planned,
        partition=partition,
        to=m.to,
        preference_version=m.preference_version,
        created_at=m.decided_at,
        tried=m.tried,
        follow_ups=m.follow_ups,
    )


def status_event(
    r: Routed, status: NotificationStatus, now: datetime, reason: str | None = None
) -> NotificationStatusEvent:
    """A router-owned state change of a message."""
    p = r.planned
    change = StatusChange(
        notification_id=p.notification_id,
        ats_event_id=p.ats_event_id,
        candidate_id=p.candidate_id,
        application_id=p.application_id,
        status=status,
        channel=p.channel,
        stage=p.stage,
        attempt=p.attempt,
        reason=reason if reason is not None else reason_text(p.reasons),
        occurred_at=now,
        event_time=p.event_time,
        release_at=p.due_at if status is NotificationStatus.HELD else None,
        choice_not_honoured=p.not_honoured,
    )
    return NotificationStatusEvent(
        id=f"{p.notification_id}:{status.value}", source=SOURCE, time=now, subject=p.candidate_id, data=change
    )


SUPPRESSED_REASON = (
    "suppressed: the candidate's data was erased on request; nothing is sent or recorded for them "
    "(a new application with renewed consent lifts this)"
)


def suppressed_event(event: AtsEvent, stage: Stage, now: datetime) -> NotificationStatusEvent:
    """`suppressed` for an ATS event of an erased candidate: no decision, no message, only the reason."""
    nid = notification_id(event.id, "suppressed", 1)
    change = StatusChange(
        notification_id=nid,
        ats_event_id=event.id,
        candidate_id=event.subject,
        application_id=event.data.application.id,
        status=NotificationStatus.SUPPRESSED,
        stage=stage,
        reason=SUPPRESSED_REASON,
        occurred_at=now,
        event_time=event.time,
    )
    return NotificationStatusEvent(id=f"{nid}:suppressed", source=SOURCE, time=now, subject=event.subject, data=change)


UNROUTED_REASON = (
    "needs a recruiter: the message {status} on {channel} and its command is no longer on the dispatch topic "
    "(older than the topic keeps it), so no other channel can be chosen for it"
)


def unrouted_event(c: StatusChange, now: datetime) -> NotificationStatusEvent:
    """`needs_recruiter` for a failed message the router cannot decide again (its command is gone)."""
    reason = UNROUTED_REASON.format(status=c.status.value, channel=c.channel.value if c.channel else "-")
    status = NotificationStatus.NEEDS_RECRUITER
    change = c.model_copy(
        update={"status": status, "reason": reason, "occurred_at": now, "provider": None, "provider_ref": None}
    )
    return NotificationStatusEvent(
        id=f"{c.notification_id}:{status.value}", source=SOURCE, time=now, subject=c.candidate_id, data=change
    )


class Wave(CandidateWave):
    """The router's publications answering one batch (see CandidateWave)."""

    async def dispatch(self, r: Routed, now: datetime) -> None:
        """Command the notifier to deliver a queued message."""
        cmd = deliver_command(r, now)
        assert r.planned.channel is not None
        await self.send(
            cmd.model_dump_json().encode(), dispatch_topic(r.planned.channel), r.planned.candidate_id, cmd.id
        )

    async def status(
        self, r: Routed, status: NotificationStatus, now: datetime, reason: str | None = None, dispatched: bool = False
    ) -> None:
        """Publish a router-owned state of a message (`dispatched`: its command went out in this wave)."""
        ev = status_event(r, status, now, reason)
        headers = {STATUS_HEADER: status.value}
        if dispatched and status is NotificationStatus.QUEUED and r.planned.not_honoured is None:
            headers[DISPATCHED_HEADER] = "1"  # the notifier keeps it with the outcome (no worklist item to make)
        await self.send(ev.model_dump_json().encode(), NOTIFICATIONS_STATUS, r.planned.candidate_id, ev.id, headers)

    async def suppressed(self, event: AtsEvent, stage: Stage, now: datetime) -> None:
        """Tell the ATS that an erased candidate's event led to nothing."""
        ev = suppressed_event(event, stage, now)
        headers = {STATUS_HEADER: ev.data.status.value}
        await self.send(ev.model_dump_json().encode(), NOTIFICATIONS_STATUS, event.subject, ev.id, headers)

    async def unrouted(self, c: StatusChange, now: datetime) -> None:
        """Hand a failed message the router cannot decide again to a recruiter."""
        ev = unrouted_event(c, now)
        headers = {STATUS_HEADER: ev.data.status.value}
        await self.send(ev.model_dump_json().encode(), NOTIFICATIONS_STATUS, c.candidate_id, ev.id, headers)


class Outputs:
    """Starts waves of publications on the service's broker."""

    def __init__(self, broker: KafkaBroker, kafka: KafkaSettings, partitioner: Partitioner) -> None:
        self._broker = broker
        self._kafka = kafka
        self._partitioner = partitioner

    def wave(self) -> Wave:
        """A new, empty wave."""
        return Wave(self._broker, self._kafka, self._partitioner)
