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
    channel: Channel = Field(description="The channel the reply came in on.")
    text: str = Field(max_length=2000, description="The reply text (trimmed; e-mail quotes removed).")
    received_at: AwareDatetime = Field(description="When the provider received it.")
    in_reply_to: str | None = Field(None, description="Notification id the reply answers, when known.")
    application_id: str | None = Field(None, description="The application the replied-to message was about.")
    interview_id: str | None = Field(None, description="The interview the replied-to message was about.")
    slot_options: tuple[AwareDatetime, ...] = Field((), description="Slots offered in the message replied to.")
    provider_ref: str | None = Field(None, max_length=200, description="The provider's message id.")


class InboundReplyEvent(CloudEvent):
    """CloudEvent carrying an InboundReply."""

    type: Literal["candidate.reply.received"] = Field(INBOUND_TYPE, description="Event type.")
    data: InboundReply = Field(description="The reply.")


INBOUND_ADAPTER: TypeAdapter[InboundReplyEvent] = TypeAdapter(InboundReplyEvent)
INBOUND_TYPES = frozenset({INBOUND_TYPE})
