"""What the notifier publishes: its own notification states and candidates' replies."""

from __future__ import annotations

from datetime import datetime

from faststream.kafka import KafkaBroker

from schemas.common import NotificationStatus
from schemas.dispatch import DeliverMessage
from schemas.inbound import InboundReply, InboundReplyEvent
from schemas.status import DISPATCH_REF_HEADER, FALLBACK_STATES, STATUS_HEADER, NotificationStatusEvent, StatusChange
from schemas.topics import CANDIDATE_INBOUND, NOTIFICATIONS_STATUS
from services.common.kafka import Partitioner
from services.common.publishing import CandidateWave
from services.common.settings import KafkaSettings

SOURCE = "urn:candidate-comms:notifier"
# On a state the notifier's outcomes collection holds already: its own timeline projection skips it.
RECORDED_HEADER = "notifier.recorded"


class ReportWave(CandidateWave):
    """The notifier's publications answering one batch (see CandidateWave)."""

    async def change(self, change: StatusChange, recorded: bool = False, dispatch_ref: str | None = None) -> None:
        """Publish one notifier-owned state change (`recorded`: its outcome document holds it already).

        A failure or bounce names where the message's command is (`dispatch_ref`): the router's fallback reads it.
        """
        ev = NotificationStatusEvent(
            id=f"{change.notification_id}:{change.status.value}",
            source=SOURCE,
            time=change.occurred_at,
            subject=change.candidate_id,
            data=change,
        )
        headers = {STATUS_HEADER: change.status.value} | ({RECORDED_HEADER: "outcome"} if recorded else {})
        if dispatch_ref and change.status in FALLBACK_STATES:
            headers[DISPATCH_REF_HEADER] = dispatch_ref
        await self.send(ev.model_dump_json().encode(), NOTIFICATIONS_STATUS, change.candidate_id, ev.id, headers)

    async def state(
        self,
        msg: DeliverMessage,
        status: NotificationStatus,
        reason: str,
        provider: str | None,
        provider_ref: str | None,
        now: datetime,
        recorded: bool = False,
        dispatch_ref: str | None = None,
    ) -> None:
        """Publish the state a dispatched message reached."""
        await self.change(
            StatusChange(
                notification_id=msg.notification_id,
                ats_event_id=msg.ats_event_id,
                candidate_id=msg.candidate_id,
                application_id=msg.application_id,
                status=status,
                channel=msg.channel,
                stage=msg.stage,
                attempt=msg.attempt,
                reason=reason[:500],
                provider=provider,
                provider_ref=provider_ref,
                occurred_at=now,
                event_time=msg.event_time,
            ),
            recorded,
            dispatch_ref,
        )

    async def reply(self, reply: InboundReply, event_id: str) -> None:
        """Hand a candidate's reply to the preference service."""
        ev = InboundReplyEvent(
            id=event_id, source=SOURCE, time=reply.received_at, subject=reply.candidate_id, data=reply
        )
        await self.send(ev.model_dump_json().encode(), CANDIDATE_INBOUND, reply.candidate_id, ev.id)


class Reports:
    """Starts report waves."""

    def __init__(self, broker: KafkaBroker, kafka: KafkaSettings, partitioner: Partitioner) -> None:
        self._broker = broker
        self._kafka = kafka
        self._partitioner = partitioner

    def wave(self) -> ReportWave:
        """A new, empty wave."""
        return ReportWave(self._broker, self._kafka, self._partitioner)
