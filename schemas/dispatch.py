"""`dispatch.<channel>`: the router's command to the notifier to deliver one message on one channel."""

from __future__ import annotations

from typing import Final, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, TypeAdapter

from schemas.common import (
    CandidateId,
    Channel,
    HttpLink,
    Language,
    NonNegativeInt64,
    PositiveInt64,
    PurposeClass,
    Stage,
    StrictFlag,
    TimeZoneName,
)

DELIVER_TYPE: Final = "command.deliver_message"

TemplateName = Literal[
    "application_received",
    "stage_update",
    "interview_invite",
    "interview_slot_options",
    "interview_rescheduled",
    "interview_cancelled",
    "interview_reminder",
    "offer_extended",
    "rejection",
    "hired",
    "free_message",
    "follow_up",
]


class MessageContext(BaseModel):
    """The variables a template needs, and nothing more."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    candidate_name: str | None = Field(None, max_length=200)
    job_title: str | None = Field(None, max_length=200)
    timezone: TimeZoneName = "Europe/Amsterdam"
    interview_id: str | None = None
    interview_start: AwareDatetime | None = None
    interview_end: AwareDatetime | None = None
    interview_location: str | None = Field(None, max_length=300)
    interview_video_link: HttpLink | None = None
    interview_sequence: NonNegativeInt64 = Field(0, description="iCalendar SEQUENCE of the invitation.")
    slot_options: tuple[AwareDatetime, ...] = ()
    offer_deadline: AwareDatetime | None = None
    subject: str | None = Field(None, max_length=200, description="Free message subject.")
    body: str | None = Field(None, max_length=4000, description="Free message body.")
    talent_pool_invite: StrictFlag = False
    follow_up_of: str | None = Field(None, description="Notification id this message follows up.")
    preferred_call_times: str | None = Field(None, max_length=200)


class DeliverMessage(BaseModel):
    """Deliver one message on one channel; the notification id is also the idempotency key."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    notification_id: str = Field(description="Deterministic: a redelivered event yields the same id.")
    ats_event_id: str
    candidate_id: CandidateId
    application_id: str | None = None
    channel: Channel
    attempt: PositiveInt64 = Field(1, description="1 for the first channel, 2 for the first fallback, ...")
    stage: Stage
    purpose_class: PurposeClass = PurposeClass.APPLICATION
    template: TemplateName
    language: Language
    mode: str | None = Field(None, description="calendar_link / sms_options / portal / direct_to_recruiter.")
    essential: StrictFlag = Field(False, description="Passes caps and pauses (never revocation).")
    reply_expected: StrictFlag = Field(False, description="Silence after this message triggers a follow-up.")
    voicemail: StrictFlag = Field(True, description="False: a call must not leave a voicemail.")
    to: str | None = Field(
        None, max_length=254, description="Address from the ATS event; the notifier prefers its preference view."
    )
    context: MessageContext
    reasons: tuple[str, ...] = Field((), description="Why this channel, in plain words, for the timeline.")
    event_time: AwareDatetime = Field(description="Time of the causing ATS event (end-to-end latency).")
    decided_at: AwareDatetime
    preference_version: NonNegativeInt64 = Field(description="Version of the snapshot the router decided with.")


class DeliverMessageCommand(BaseModel):
    """CloudEvent-shaped envelope of a DeliverMessage (ids correlate logs across services)."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    specversion: Literal["1.0"] = "1.0"
    id: str = Field(description="Equal to the notification id.")
    source: str = "urn:candidate-comms:router"
    type: Literal["command.deliver_message"] = DELIVER_TYPE
    time: AwareDatetime
    subject: CandidateId
    datacontenttype: Literal["application/json"] = "application/json"
    data: DeliverMessage


DISPATCH_ADAPTER: TypeAdapter[DeliverMessageCommand] = TypeAdapter(DeliverMessageCommand)
DISPATCH_TYPES = frozenset({DELIVER_TYPE})
