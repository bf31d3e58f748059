"""`candidate.inbound`: a reply from a candidate (SMS, WhatsApp, e-mail), for the preference service."""

from __future__ import annotations

from typing import Final, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, TypeAdapter

from schemas.common import CandidateId, Channel
from schemas.envelope import CloudEvent

INBOUND_TYPE: Final = "candidate.reply.received"


class InboundReply(BaseModel):
    """What the candidate wrote and where; the preference service parses the intent."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    candidate_id: CandidateId
    channel: Channel
    text: str = Field(max_length=2000, description="The reply text (trimmed; e-mail quotes removed).")
    received_at: AwareDatetime
    in_reply_to: str | None = Field(None, description="Notification id the reply answers, when known.")
    application_id: str | None = None
    interview_id: str | None = None
    slot_options: tuple[AwareDatetime, ...] = Field((), description="Slots offered in the message replied to.")
    provider_ref: str | None = Field(None, max_length=200)


class InboundReplyEvent(CloudEvent):
    """CloudEvent carrying an InboundReply."""

    type: Literal["candidate.reply.received"] = INBOUND_TYPE
    data: InboundReply


INBOUND_ADAPTER: TypeAdapter[InboundReplyEvent] = TypeAdapter(InboundReplyEvent)
INBOUND_TYPES = frozenset({INBOUND_TYPE})
