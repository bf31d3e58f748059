"""`candidate.events`: what the ATS and recruiters act on (output contract).

What the candidate did (a slot chosen, a reply nobody could read, a message to the recruiter from the
self-service page, an erasure of their data) and what we found about their data (a contact point that
cannot be used).
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, TypeAdapter

from schemas.common import CandidateId, ChangeSource, Channel, Language, NonNegativeInt64, PositiveInt64
from schemas.envelope import CloudEvent


class SlotChosen(BaseModel):
    """The candidate picked one of the offered interview slots by reply."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    candidate_id: CandidateId
    application_id: str | None = Field(None, description="The application, when the reply named it.")
    interview_id: str | None = Field(None, description="The interview whose slots were offered, when known.")
    option: PositiveInt64 = Field(description="1-based index of the chosen option.")
    start: AwareDatetime | None = Field(None, description="The chosen slot, when the offered slots were known.")
    channel: Channel = Field(description="The channel the reply came in on.")
    in_reply_to: str | None = Field(None, description="Notification id of the message replied to, when known.")


class ReplyNeedsRecruiter(BaseModel):
    """A reply we could not interpret; a human should read it (never guessed)."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    candidate_id: CandidateId
    channel: Channel = Field(description="The channel the reply came in on.")
    in_reply_to: str | None = Field(None, description="Notification id of the message replied to, when known.")
    application_id: str | None = Field(None, description="The application, when known.")
    reason: str = Field(max_length=200, description="Why a person should read it (never the reply text).")
    received_at: AwareDatetime = Field(description="When the reply arrived.")


ContactField = Literal["email", "phone", "whatsapp", "portal"]


class ContactInvalid(BaseModel):
    """A contact point of the candidate cannot be used; the value itself is never in this record.

    The rest of the ATS event that carried it was processed: the other channels are used. The ATS (or a
    recruiter) should ask the candidate for a working address or number.
    """

    model_config = ConfigDict(extra="ignore", frozen=True)

    candidate_id: CandidateId
    contact: ContactField = Field(description="Which contact point of the candidate (not its value).")
    channels: tuple[Channel, ...] = Field(description="Channels that can no longer reach the candidate through it.")
    reason: str = Field(min_length=1, max_length=200, description="Why, in plain words, without the value.")
    detected_by: ChangeSource = Field(
        description="ats_import: the ATS's data failed validation; delivery: a hard bounce or an invalid-number error."
    )
    preference_version: NonNegativeInt64 = Field(description="The preference version that marked it invalid.")
    detected_at: AwareDatetime = Field(description="When it was found (the version's updated_at).")


class PersonRequested(BaseModel):
    """The candidate asked, on the self-service page, for a person to get in touch; their words go to the recruiter.

    This is the one record on this topic that carries free text of the candidate: the recruiter must read it.
    The topic's retention bounds how long it stays; the notifier's worklist copy goes with an erasure.
    """

    model_config = ConfigDict(extra="ignore", frozen=True)

    candidate_id: CandidateId
    message: str = Field(min_length=1, max_length=1000, description="What the candidate wrote, as written.")
    language: Language = Field(description="The language of the page the candidate wrote on.")
    preference_version: NonNegativeInt64 = Field(description="The preference version in force when they wrote.")
    requested_at: AwareDatetime = Field(description="When they sent it.")


class DataErased(BaseModel):
    """The candidate erased their data from the self-service page; the ATS should erase its copy too.

    Everything the preference service held is gone (a tombstone is on preferences.changed); only a keyed
    hash of the candidate id is kept, so that later events about them are suppressed.
    """

    model_config = ConfigDict(extra="ignore", frozen=True)

    candidate_id: CandidateId
    requested_by: Literal["candidate"] = Field(description="Who asked: the candidate, on the self-service page.")
    erased_at: AwareDatetime = Field(description="When the erasure was done.")
    last_version: NonNegativeInt64 = Field(
        description="The last preference version before the erasure (the tombstone carries a higher one)."
    )
    kept: tuple[str, ...] = Field(description="What is kept, and why, in plain words (no personal data).")


class SlotChosenEvent(CloudEvent):
    """CloudEvent carrying a SlotChosen."""

    type: Literal["candidate.slot.chosen"] = Field("candidate.slot.chosen", description="Event type.")
    data: SlotChosen = Field(description="The payload.")


class ReplyNeedsRecruiterEvent(CloudEvent):
    """CloudEvent carrying a ReplyNeedsRecruiter."""

    type: Literal["candidate.reply.unparsed"] = Field("candidate.reply.unparsed", description="Event type.")
    data: ReplyNeedsRecruiter = Field(description="The payload.")


class ContactInvalidEvent(CloudEvent):
    """CloudEvent carrying a ContactInvalid; the id is derived from candidate, version and contact point."""

    type: Literal["candidate.contact.invalid"] = Field("candidate.contact.invalid", description="Event type.")
    data: ContactInvalid = Field(description="The payload.")


class PersonRequestedEvent(CloudEvent):
    """CloudEvent carrying a PersonRequested; the id is derived from the form, so a replayed form is one request."""

    type: Literal["candidate.person.requested"] = Field("candidate.person.requested", description="Event type.")
    data: PersonRequested = Field(description="The payload.")


class DataErasedEvent(CloudEvent):
    """CloudEvent carrying a DataErased."""

    type: Literal["candidate.data.erased"] = Field("candidate.data.erased", description="Event type.")
    data: DataErased = Field(description="The payload.")


CandidateEvent = Annotated[
    SlotChosenEvent | ReplyNeedsRecruiterEvent | ContactInvalidEvent | PersonRequestedEvent | DataErasedEvent,
    Field(discriminator="type"),
]
CANDIDATE_EVENT_ADAPTER: TypeAdapter[CandidateEvent] = TypeAdapter(CandidateEvent)
CANDIDATE_EVENT_TYPES = frozenset(
    {
        "candidate.slot.chosen",
        "candidate.reply.unparsed",
        "candidate.contact.invalid",
        "candidate.person.requested",
        "candidate.data.erased",
    }
)
