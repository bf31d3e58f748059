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

    candidate_name: str | None = Field(None, max_length=200, description="How to address the candidate.")
    job_title: str | None = Field(None, max_length=200, description="Title of the vacancy.")
    timezone: TimeZoneName = Field("Europe/Amsterdam", description="The candidate's zone for the times shown.")
    interview_id: str | None = Field(None, description="The interview's stable id (the iCalendar UID).")
    interview_start: AwareDatetime | None = Field(None, description="Interview start.")
    interview_end: AwareDatetime | None = Field(None, description="Interview end.")
    interview_location: str | None = Field(None, max_length=300, description="Address, if on site.")
    interview_video_link: HttpLink | None = Field(None, description="Video call link, if remote.")
    interview_sequence: NonNegativeInt64 = Field(0, description="iCalendar SEQUENCE of the invitation.")
    slot_options: tuple[AwareDatetime, ...] = Field((), description="Slots the candidate may pick from by reply.")
    offer_deadline: AwareDatetime | None = Field(None, description="Answer wanted by this time.")
    subject: str | None = Field(None, max_length=200, description="Free message subject.")
    body: str | None = Field(None, max_length=4000, description="Free message body.")
    talent_pool_invite: StrictFlag = Field(False, description="Invite the candidate to stay in the talent pool.")
    follow_up_of: str | None = Field(None, description="Notification id this message follows up.")
    preferred_call_times: str | None = Field(None, max_length=200, description="When the candidate likes calls.")


class DeliverMessage(BaseModel):
    """Deliver one message on one channel; the notification id is also the idempotency key."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    notification_id: str = Field(description="Deterministic: a redelivered event yields the same id.")
    ats_event_id: str = Field(description="The ATS event that caused the message.")
    candidate_id: CandidateId
    application_id: str | None = Field(None, description="The application, when the event had one.")
    channel: Channel = Field(description="The channel to deliver on (also the topic).")
    attempt: PositiveInt64 = Field(1, description="1 for the first channel, 2 for the first fallback, ...")
    stage: Stage = Field(description="Our stage (purpose) of the message.")
    purpose_class: PurposeClass = Field(PurposeClass.APPLICATION, description="Which consent applies.")
    template: TemplateName = Field(description="The template to render.")
    language: Language
    mode: str | None = Field(None, description="calendar_link / sms_options / portal / direct_to_recruiter.")
    essential: StrictFlag = Field(False, description="Passes caps and pauses (never revocation).")
    reply_expected: StrictFlag = Field(False, description="Silence after this message triggers a follow-up.")
    voicemail: StrictFlag = Field(True, description="False: a call must not leave a voicemail.")
    to: str | None = Field(
        None, max_length=254, description="Address from the ATS event; the notifier prefers its preference view."
    )
    context: MessageContext = Field(description="The variables the template needs.")
    reasons: tuple[str, ...] = Field((), description="Why this channel, in plain words, for the timeline.")
    event_time: AwareDatetime = Field(description="Time of the causing ATS event (end-to-end latency).")
    decided_at: AwareDatetime = Field(description="When the router decided.")
    preference_version: NonNegativeInt64 = Field(description="Version of the snapshot the router decided with.")
    # The router's bookkeeping, carried so that a failure can be decided again from this command alone.
    purpose_key: str | None = Field(
        None, max_length=500, description="What the message is for within its event (with the attempt: its identity)."
    )
    tried: tuple[Channel, ...] = Field((), description="Channels this message was tried on before, in order.")
    follow_ups: NonNegativeInt64 = Field(0, description="Follow-ups after silence that led to this message.")


class DeliverMessageCommand(BaseModel):
    """CloudEvent-shaped envelope of a DeliverMessage (ids correlate logs across services)."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    specversion: Literal["1.0"] = Field("1.0", description="CloudEvents spec version.")
    id: str = Field(description="Equal to the notification id.")
    source: str = Field("urn:candidate-comms:router", description="The router.")
    type: Literal["command.deliver_message"] = Field(DELIVER_TYPE, description="Command type.")
    time: AwareDatetime = Field(description="When the router decided.")
    subject: CandidateId = Field(description="The candidate id (also the record key).")
    datacontenttype: Literal["application/json"] = Field("application/json", description="Always JSON.")
    data: DeliverMessage = Field(description="The command.")


DISPATCH_ADAPTER: TypeAdapter[DeliverMessageCommand] = TypeAdapter(DeliverMessageCommand)
DISPATCH_TYPES = frozenset({DELIVER_TYPE})
