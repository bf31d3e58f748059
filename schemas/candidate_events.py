"""`candidate.events`: what the candidate did that the ATS and recruiters act on (output contract)."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, TypeAdapter

from schemas.common import CandidateId, Channel
from schemas.envelope import CloudEvent


class SlotChosen(BaseModel):
    """The candidate picked one of the offered interview slots by reply."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    candidate_id: CandidateId
    application_id: str | None = None
    interview_id: str | None = None
    option: int = Field(ge=1, description="1-based index of the chosen option.")
    start: AwareDatetime | None = Field(None, description="The chosen slot, when the offered slots were known.")
    channel: Channel
    in_reply_to: str | None = None


class ReplyNeedsRecruiter(BaseModel):
    """A reply we could not interpret; a human should read it (never guessed)."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    candidate_id: CandidateId
    channel: Channel
    in_reply_to: str | None = None
    application_id: str | None = None
    reason: str = Field(max_length=200)
    received_at: AwareDatetime


class SlotChosenEvent(CloudEvent):
    """CloudEvent carrying a SlotChosen."""

    type: Literal["candidate.slot.chosen"] = "candidate.slot.chosen"
    data: SlotChosen


class ReplyNeedsRecruiterEvent(CloudEvent):
    """CloudEvent carrying a ReplyNeedsRecruiter."""

    type: Literal["candidate.reply.unparsed"] = "candidate.reply.unparsed"
    data: ReplyNeedsRecruiter


CandidateEvent = Annotated[SlotChosenEvent | ReplyNeedsRecruiterEvent, Field(discriminator="type")]
CANDIDATE_EVENT_ADAPTER: TypeAdapter[CandidateEvent] = TypeAdapter(CandidateEvent)
CANDIDATE_EVENT_TYPES = frozenset({"candidate.slot.chosen", "candidate.reply.unparsed"})
