"""`ats.events`: what the upstream ATS emits (input contract, version 1)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any, Literal, get_args

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, model_validator

from schemas.common import (
    CandidateId,
    Channel,
    E164Phone,
    EmailAddress,
    HttpLink,
    NonNegativeInt64,
    PurposeClass,
    StrictFlag,
    Timestamp,
    TimeZoneName,
)
from schemas.envelope import CloudEvent

CONTRACT_VERSION = 1


class _Input(BaseModel):
    # Tolerant reader: fields the ATS adds later are ignored, not rejected.
    model_config = ConfigDict(extra="ignore", frozen=True)


class CandidateContact(_Input):
    """The candidate as the ATS knows them."""

    id: CandidateId
    name: str = Field(min_length=1, max_length=200, description="Full name as the candidate gave it.")
    email: EmailAddress | None = Field(None, description="E-mail address, if known (see the type for the rules).")
    phone: E164Phone | None = Field(None, description="Mobile number in E.164, if known (see the type for the rules).")
    locale: str = Field("nl", max_length=35, description="BCP 47 locale, e.g. nl-NL or en.", examples=["nl-NL"])
    timezone: TimeZoneName = Field("Europe/Amsterdam", description="The candidate's IANA time zone.")
    opt_ins: tuple[Channel, ...] = Field(
        (), description="Channels the candidate opted into in the ATS (recorded as consent with source ats_import)."
    )


class ApplicationRef(_Input):
    """The application an event is about."""

    id: str = Field(min_length=1, max_length=128, description="The ATS's application id.")
    job_title: str = Field(min_length=1, max_length=200, description="Title of the vacancy.")
    stage: str = Field(min_length=1, max_length=100, description="The ATS's own stage name (mapped by the router).")
    consent_renewed_at: Timestamp | None = Field(
        None,
        description="When the candidate agreed (again) to the processing of their data for this application, "
        "e.g. by accepting the privacy statement when applying. On `ats.application.received` for a candidate "
        "whose data was erased, a time after the erasure lifts the suppression: the documented way back. "
        "Events that happened before it stay suppressed.",
    )


def _rule(keyword: str, pointers: list[str], words: str) -> Callable[[dict[str, Any]], None]:
    """A cross-field rule JSON Schema has no keyword for: a custom keyword plus the same rule in words.

    The keyword's value lists JSON Pointers relative to the object that carries it.
    """

    def extra(schema: dict[str, Any]) -> None:
        schema[keyword] = pointers
        schema["description"] = f"{schema.get('description', '').rstrip('.')}. Rule ({keyword}): {words}."

    return extra


class Interview(_Input):
    """An interview slot."""

    model_config = ConfigDict(
        json_schema_extra=_rule("x-greater-than", ["/end", "/start"], "end is a later instant than start")
    )

    id: str = Field(min_length=1, max_length=128, description="Stable id; reschedules keep it.")
    start: Timestamp = Field(description="Start (RFC 3339 with offset, years 1970-8999).")
    end: Timestamp = Field(description="End (RFC 3339 with offset, years 1970-8999).")
    location: str | None = Field(None, max_length=300, description="Address, if on site.")
    video_link: HttpLink | None = Field(None, description="Video call link, if remote.")
    sequence: NonNegativeInt64 = Field(
        0, description="Increases with every change of this interview (the ATS's counter; int64)."
    )
    options: tuple[Timestamp, ...] = Field(
        (), max_length=5, description="Alternative slots the candidate may pick from (scheduling by SMS)."
    )

    @model_validator(mode="after")
    def _end_after_start(self) -> Interview:
        if self.end <= self.start:
            raise ValueError("interview end must be after its start")
        return self


class Offer(_Input):
    """An offer extended to the candidate."""

    deadline: Timestamp | None = Field(None, description="Answer wanted by this time.")


class FreeMessage(_Input):
    """A recruiter's own message."""

    subject: str = Field(min_length=1, max_length=200, description="Subject line (e-mail) or first line.")
    body: str = Field(min_length=1, max_length=4000, description="Plain text body.")
    purpose_class: PurposeClass = Field(
        PurposeClass.APPLICATION, description="talent_pool for re-engagement (needs granted consent)."
    )


class AtsData(_Input):
    """Common payload: the candidate and the application."""

    candidate: CandidateContact = Field(description="The candidate as the ATS knows them now.")
    application: ApplicationRef = Field(description="The application the event is about.")


class StageChangedData(AtsData):
    """Payload of ats.stage.changed."""

    previous_stage: str | None = Field(None, max_length=100, description="The ATS stage before the change.")


class InterviewData(AtsData):
    """Payload of the interview events."""

    interview: Interview = Field(description="The interview, as it is after this event.")


class OfferData(AtsData):
    """Payload of ats.offer.extended."""

    offer: Offer = Field(default_factory=Offer, description="The offer's terms the messages mention.")


class RejectedData(AtsData):
    """Payload of ats.candidate.rejected."""

    talent_pool_invite: StrictFlag = Field(False, description="Invite the candidate to stay in the talent pool.")


class MessageRequestedData(AtsData):
    """Payload of ats.message.requested."""

    message: FreeMessage = Field(description="The recruiter's message.")


class _AtsEvent(CloudEvent):
    model_config = ConfigDict(
        json_schema_extra=_rule("x-equals", ["/subject", "/data/candidate/id"], "subject equals data.candidate.id")
    )

    data: AtsData = Field(description="The candidate and the application.")

    @model_validator(mode="after")
    def _subject_is_candidate(self) -> _AtsEvent:
        if self.subject != self.data.candidate.id:
            raise ValueError("subject must equal data.candidate.id")
        return self


class ApplicationReceived(_AtsEvent):
    """A candidate applied."""

    type: Literal["ats.application.received"] = Field(description="Event type.")


class StageChanged(_AtsEvent):
    """The application moved to another ATS stage."""

    type: Literal["ats.stage.changed"] = Field(description="Event type.")
    data: StageChangedData = Field(description="Payload of this event type.")


class InterviewScheduled(_AtsEvent):
    """An interview was planned (or slot options offered)."""

    type: Literal["ats.interview.scheduled"] = Field(description="Event type.")
    data: InterviewData = Field(description="Payload of this event type.")


class InterviewRescheduled(_AtsEvent):
    """An interview moved."""

    type: Literal["ats.interview.rescheduled"] = Field(description="Event type.")
    data: InterviewData = Field(description="Payload of this event type.")


class InterviewCancelled(_AtsEvent):
    """An interview was called off."""

    type: Literal["ats.interview.cancelled"] = Field(description="Event type.")
    data: InterviewData = Field(description="Payload of this event type.")


class OfferExtended(_AtsEvent):
    """The candidate received an offer."""

    type: Literal["ats.offer.extended"] = Field(description="Event type.")
    data: OfferData = Field(description="Payload of this event type.")


class CandidateRejected(_AtsEvent):
    """The application ended without a hire."""

    type: Literal["ats.candidate.rejected"] = Field(description="Event type.")
    data: RejectedData = Field(description="Payload of this event type.")


class CandidateHired(_AtsEvent):
    """The candidate was hired."""

    type: Literal["ats.candidate.hired"] = Field(description="Event type.")


class MessageRequested(_AtsEvent):
    """A recruiter asked to send a free message."""

    type: Literal["ats.message.requested"] = Field(description="Event type.")
    data: MessageRequestedData = Field(description="Payload of this event type.")


AtsEvent = Annotated[
    ApplicationReceived
    | StageChanged
    | InterviewScheduled
    | InterviewRescheduled
    | InterviewCancelled
    | OfferExtended
    | CandidateRejected
    | CandidateHired
    | MessageRequested,
    Field(discriminator="type"),
]
ATS_EVENT_ADAPTER: TypeAdapter[AtsEvent] = TypeAdapter(AtsEvent)
ATS_EVENT_TYPES: frozenset[str] = frozenset(
    get_args(cls.model_fields["type"].annotation)[0] for cls in get_args(get_args(AtsEvent)[0])
)
