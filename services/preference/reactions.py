"""How the preference service reacts to replies and delivery outcomes (batch use cases)."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Protocol

from schemas.candidate_events import (
    CandidateEvent,
    ReplyNeedsRecruiter,
    ReplyNeedsRecruiterEvent,
    SlotChosen,
    SlotChosenEvent,
)
from schemas.inbound import InboundReply
from schemas.status import StatusChange
from services.preference.domain import mark_contact_invalid
from services.preference.learning import SIGNAL, apply_intents, learn
from services.preference.metrics import PreferenceMetrics
from services.preference.replies import Kind, parse
from services.preference.service import PreferenceService, UnknownCandidateError

log = logging.getLogger(__name__)
SOURCE = "urn:candidate-comms:preference"


class CandidateEventSink(Protocol):
    """Publishes to candidate.events (slot choices, replies a recruiter must read)."""

    async def __call__(self, event: CandidateEvent) -> None: ...


class Reactions:
    """Replies -> intents -> one new version each; outcomes -> affinity and contact validity."""

    def __init__(
        self,
        service: PreferenceService,
        publish: CandidateEventSink,
        metrics: PreferenceMetrics,
        clock: Callable[[], datetime],
    ) -> None:
        self._service = service
        self._publish = publish
        self._metrics = metrics
        self._clock = clock

    async def handle_replies(self, replies: Sequence[InboundReply]) -> None:
        """Apply each reply in order (per candidate, the partition keeps them ordered)."""
        for reply in replies:
            await self._reply(reply)

    async def _reply(self, reply: InboundReply) -> None:
        now = self._clock()
        try:
            tz = (await self._service.get(reply.candidate_id)).timezone
        except UnknownCandidateError:
            tz = "Europe/Amsterdam"
        intents = parse(reply.text, reply.slot_options, tz)
        kinds = {i.kind for i in intents}
        self._metrics.reply_intents.labels(intent=",".join(sorted(k.value for k in kinds))).inc()
        if Kind.SLOT in kinds:
            option = intents[0].option or 1
            start = reply.slot_options[option - 1] if option <= len(reply.slot_options) else None
            await self._publish(
                SlotChosenEvent(
                    id=str(uuid.uuid4()),
                    source=SOURCE,
                    time=now,
                    subject=reply.candidate_id,
                    data=SlotChosen(
                        candidate_id=reply.candidate_id,
                        application_id=reply.application_id,
                        interview_id=reply.interview_id,
                        option=option,
                        start=start,
                        channel=reply.channel,
                        in_reply_to=reply.in_reply_to,
                    ),
                )
            )
            return
        if Kind.UNPARSED in kinds:
            await self._publish(
                ReplyNeedsRecruiterEvent(
                    id=str(uuid.uuid4()),
                    source=SOURCE,
                    time=now,
                    subject=reply.candidate_id,
                    data=ReplyNeedsRecruiter(
                        candidate_id=reply.candidate_id,
                        channel=reply.channel,
                        in_reply_to=reply.in_reply_to,
                        application_id=reply.application_id,
                        reason="reply not understood; a recruiter should read it",
                        received_at=reply.received_at,
                    ),
                )
            )
            return
        await self._apply(
            reply.candidate_id, lambda cur: apply_intents(cur, intents, reply.channel, reply.text, self._clock())
        )

    async def handle_outcomes(self, changes: Sequence[StatusChange]) -> None:
        """Learn from replies, reads and silence; mark addresses that do not exist."""
        for c in changes:
            if c.channel is None:
                continue
            channel = c.channel
            if c.contact_invalid:
                await self._apply(
                    c.candidate_id,
                    lambda cur, ch=channel, why=c.reason: mark_contact_invalid(cur, ch, why, self._clock()),
                )
            elif c.status in SIGNAL:
                await self._apply(
                    c.candidate_id, lambda cur, ch=channel, st=c.status: learn(cur, ch, st, self._clock())
                )

    async def _apply(self, candidate_id: str, change: Callable[..., object]) -> None:
        try:
            await self._service.change(candidate_id, change)  # type: ignore[arg-type]
        except UnknownCandidateError:
            log.info("outcome for an unknown or erased candidate ignored")
