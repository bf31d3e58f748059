"""`preferences.changed`: the full preference snapshot of one candidate, versioned (compacted topic).

The value is the whole snapshot, never a delta: a reader that starts from the beginning of the
compacted topic ends with every candidate's latest state. A tombstone (null value) means erased.
"""

from __future__ import annotations

from datetime import time
from typing import Annotated, Any, Final, Literal

from annotated_types import MinLen
from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    GetJsonSchemaHandler,
    Strict,
    TypeAdapter,
    field_validator,
)
from pydantic.json_schema import JsonSchemaValue
from pydantic_core import CoreSchema

from schemas.common import (
    CandidateId,
    ChangeSource,
    Channel,
    ConsentState,
    DeliverableEmail,
    Language,
    NonNegativeInt64,
    PurposeClass,
    ReachablePhone,
    Stage,
    StrictFlag,
    TimeZoneName,
)

ALL_CHANNELS: tuple[Channel, ...] = tuple(Channel)


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _unique_channels(order: tuple[Channel, ...]) -> tuple[Channel, ...]:
    if len(set(order)) != len(order):
        raise ValueError("channels in an order must be unique")
    return order


class _UniqueItems:
    """States in the JSON Schema the uniqueness the validator enforces (uniqueItems)."""

    def __get_pydantic_json_schema__(self, schema: CoreSchema, handler: GetJsonSchemaHandler) -> JsonSchemaValue:
        out = handler(schema)
        out["uniqueItems"] = True
        return out


# An order of channels, most preferred first; each channel at most once.
ChannelOrder = Annotated[tuple[Channel, ...], AfterValidator(_unique_channels), _UniqueItems()]
NonEmptyChannelOrder = Annotated[tuple[Channel, ...], MinLen(1), AfterValidator(_unique_channels), _UniqueItems()]


class ContactPoint(_Model):
    """One way to reach the candidate and whether it still works."""

    address: str = Field(min_length=1, max_length=254, description="E-mail, E.164 number or portal account id.")
    valid: StrictFlag = Field(
        True, description="False after a hard bounce, an invalid-number error, or when the address fails validation."
    )
    invalid_reason: str | None = Field(None, max_length=200, description="Why it was marked invalid (never the value).")
    invalid_since: AwareDatetime | None = Field(
        None, description="When it was marked invalid; equal to the snapshot's updated_at in the version that did so."
    )
    verified_at: AwareDatetime | None = Field(
        None,
        description="When the candidate proved they receive messages here (a one-time code sent to it and entered on "
        "the self-service page); a verified point is never replaced by different ATS data.",
    )
    ats_address: str | None = Field(
        None,
        max_length=254,
        description="What the ATS sent last when it differs from this verified address: kept for the recruiter, "
        "never used to send.",
    )


class Contacts(_Model):
    """Contact points per channel (voice uses the phone number)."""

    email: ContactPoint | None = Field(None, description="E-mail address.")
    phone: ContactPoint | None = Field(None, description="Used for SMS and voice.")
    whatsapp: ContactPoint | None = Field(None, description="WhatsApp number; the phone number unless set.")
    portal: ContactPoint | None = Field(None, description="Candidate-portal account.")

    def for_channel(self, channel: Channel) -> ContactPoint | None:
        """The contact point a channel sends to."""
        if channel is Channel.EMAIL:
            return self.email
        if channel in (Channel.SMS, Channel.VOICE):
            return self.phone
        if channel is Channel.WHATSAPP:
            return self.whatsapp or self.phone
        return self.portal


class ConsentRecord(_Model):
    """Consent for one channel and purpose class, with its provenance."""

    state: ConsentState = Field(ConsentState.UNKNOWN, description="granted, revoked or unknown (never asked).")
    source: ChangeSource | None = Field(None, description="Who recorded it.")
    at: AwareDatetime | None = Field(None, description="When it was recorded.")
    evidence: str | None = Field(None, max_length=500, description="The reply text, page version or import ref.")


class ChannelConsent(_Model):
    """Consent of one channel per purpose class."""

    application: ConsentRecord = Field(default_factory=ConsentRecord, description="About their own application.")
    talent_pool: ConsentRecord = Field(default_factory=ConsentRecord, description="About other roles later.")

    def for_purpose(self, purpose: PurposeClass) -> ConsentRecord:
        """The record for one purpose class."""
        return self.application if purpose is PurposeClass.APPLICATION else self.talent_pool


def _local_time_schema(schema: dict[str, Any]) -> None:
    # JSON Schema's "time" format (RFC 3339 full-time) demands a UTC offset; these are wall-clock times.
    schema.pop("format", None)
    schema["pattern"] = r"^([01][0-9]|2[0-3]):[0-5][0-9](:[0-5][0-9](\.[0-9]{1,6})?)?$"


class QuietHours(_Model):
    """Local times between which SMS, WhatsApp and calls wait (start may be after end: overnight)."""

    start: time = Field(time(21, 0), description="Local start, e.g. 21:00.", json_schema_extra=_local_time_schema)
    end: time = Field(time(8, 0), description="Local end, e.g. 08:00.", json_schema_extra=_local_time_schema)

    @field_validator("start", "end")
    @classmethod
    def _wall_clock(cls, v: time) -> time:
        return v.replace(tzinfo=None)  # the candidate's time zone applies; an offset would only mislead


class FrequencyCap(_Model):
    """At most this many non-essential messages (None: no cap)."""

    per_day: Annotated[int, Strict()] | None = Field(None, ge=1, le=100, description="Per calendar day.")
    per_week: Annotated[int, Strict()] | None = Field(None, ge=1, le=500, description="Per 7 days.")


class Affinity(_Model):
    """Learned responsiveness on a channel; breaks ties only, never overrides a choice."""

    score: float = Field(0.0, ge=0.0, le=1.0, description="Decayed response rate.")
    samples: NonNegativeInt64 = Field(0, description="Outcomes learned from.")
    updated_at: AwareDatetime | None = Field(None, description="When it last moved.")


class Provenance(_Model):
    """Where an explicit choice came from, so a decision can say why."""

    source: ChangeSource = Field(description="Who made the choice.")
    at: AwareDatetime = Field(description="When.")
    evidence: str | None = Field(None, max_length=500, description="The reply text, page version or note.")


InterviewSchedulingMode = Literal["calendar_link", "sms_options"]
DocumentsMode = Literal["portal", "direct_to_recruiter"]


class PreferenceSnapshot(_Model):
    """Everything the router and notifier need to know about how a candidate wants to be contacted."""

    candidate_id: CandidateId
    version: NonNegativeInt64 = Field(
        description="Increases by one per change; 0 = derived from an ATS event, not stored."
    )
    updated_at: AwareDatetime = Field(description="When this version was made.")
    name: str | None = Field(None, max_length=200, description="How to address the candidate.")
    contacts: Contacts = Field(default_factory=Contacts, description="Where to reach the candidate, per channel.")
    consent: dict[Channel, ChannelConsent] = Field(default_factory=dict, description="Missing channel = unknown.")
    channel_order: ChannelOrder = Field(
        (Channel.EMAIL,),
        description="Global order of preference, each channel at most once; never a channel whose consent for the "
        "candidate's own application is revoked.",
    )
    stage_overrides: dict[Stage, ChannelOrder] = Field(
        default_factory=dict,
        description="Per-stage order that replaces the global one for that stage (same rules as channel_order).",
    )
    interview_scheduling_mode: InterviewSchedulingMode = Field(
        "calendar_link", description="A calendar link, or slot options by SMS to answer with a number."
    )
    documents_mode: DocumentsMode = Field("portal", description="Documents through the portal or to the recruiter.")
    voicemail: StrictFlag = Field(True, description="False: never leave a voicemail.")
    preferred_call_times: str | None = Field(None, max_length=200, description="When the candidate likes calls.")
    language: Language = "nl"
    timezone: TimeZoneName = "Europe/Amsterdam"
    quiet_hours: QuietHours = Field(default_factory=QuietHours, description="When SMS, WhatsApp and calls wait.")
    frequency_cap: FrequencyCap = Field(default_factory=FrequencyCap, description="Limits on non-essential messages.")
    paused_until: AwareDatetime | None = Field(None, description="Only essential messages before this time.")
    affinity: dict[Channel, Affinity] = Field(default_factory=dict, description="Learned responsiveness per channel.")
    provenance: dict[str, Provenance] = Field(
        default_factory=dict, description="Key 'channel_order', 'stage:<stage>', 'mode:<purpose>', 'pause', ..."
    )
    last_change_source: ChangeSource = Field(ChangeSource.SYSTEM, description="Who made this version.")

    def consent_for(self, channel: Channel, purpose: PurposeClass) -> ConsentRecord:
        """The consent record of a channel and purpose class (unknown when never recorded)."""
        entry = self.consent.get(channel)
        return entry.for_purpose(purpose) if entry else ConsentRecord()


SNAPSHOT_ADAPTER: TypeAdapter[PreferenceSnapshot] = TypeAdapter(PreferenceSnapshot)


PREFERENCES_CHANGED_TYPE: Final = "preferences.changed"


class PreferencesChangedEvent(BaseModel):
    """CloudEvent carrying a full snapshot; id is '<candidate>:<version>' so republishing is harmless."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    specversion: Literal["1.0"] = Field("1.0", description="CloudEvents spec version.")
    id: str = Field(description="'<candidate>:<version>': the same version always has the same id.")
    source: str = Field("urn:candidate-comms:preference", description="The preference service.")
    type: Literal["preferences.changed"] = Field(PREFERENCES_CHANGED_TYPE, description="Event type.")
    time: AwareDatetime = Field(description="When the version was made (its updated_at).")
    subject: CandidateId = Field(description="The candidate id (also the record key).")
    datacontenttype: Literal["application/json"] = Field("application/json", description="Always JSON.")
    data: PreferenceSnapshot = Field(description="The full snapshot.")

    @classmethod
    def of(cls, snapshot: PreferenceSnapshot) -> PreferencesChangedEvent:
        """Wrap a snapshot."""
        return cls(
            id=f"{snapshot.candidate_id}:{snapshot.version}",
            time=snapshot.updated_at,
            subject=snapshot.candidate_id,
            data=snapshot,
        )


PREFERENCES_EVENT_ADAPTER: TypeAdapter[PreferencesChangedEvent] = TypeAdapter(PreferencesChangedEvent)


class ContactUpdate(_Model):
    """Contact points a candidate or recruiter may set; unlike the ATS's, an unusable one is refused at once."""

    email: DeliverableEmail | None = Field(None, description="E-mail address (see the type for the rules).")
    phone: ReachablePhone | None = Field(None, description="Phone number for SMS and calls (E.164, assigned).")
    whatsapp: ReachablePhone | None = Field(None, description="WhatsApp number (E.164, assigned).")
    portal: str | None = Field(None, min_length=1, max_length=128, description="Candidate-portal account id.")


class PreferenceUpdate(_Model):
    """A change of explicit choices; fields left out stay as they are (PATCH) or reset (PUT)."""

    channel_order: NonEmptyChannelOrder | None = Field(None, description="Global order, each channel at most once.")
    stage_overrides: dict[Stage, NonEmptyChannelOrder] | None = Field(
        None, description="Per-stage orders, each non-empty and each channel at most once."
    )
    interview_scheduling_mode: InterviewSchedulingMode | None = Field(None, description="How to schedule interviews.")
    documents_mode: DocumentsMode | None = Field(None, description="How documents travel.")
    voicemail: StrictFlag | None = Field(None, description="False: never leave a voicemail.")
    preferred_call_times: str | None = Field(None, max_length=200, description="When the candidate likes calls.")
    language: Language | None = Field(None, description="Message language.")
    timezone: TimeZoneName | None = Field(None, description="The candidate's time zone.")
    quiet_hours: QuietHours | None = Field(None, description="When SMS, WhatsApp and calls wait.")
    frequency_cap: FrequencyCap | None = Field(None, description="Limits on non-essential messages.")
    paused_until: AwareDatetime | None = Field(None, description="Pause non-essential messages until then.")
    contacts: ContactUpdate | None = Field(None, description="Contact points to set (others are kept).")


class ConsentChange(_Model):
    """Grant or revoke consent for a channel, with where the decision came from."""

    channel: Channel = Field(description="The channel the decision is about.")
    purpose_class: PurposeClass = Field(PurposeClass.APPLICATION, description="Own application or talent pool.")
    state: Literal["granted", "revoked"] = Field(description="The decision.")
    source: ChangeSource = Field(description="Who decided or recorded it.")
    evidence: str | None = Field(None, max_length=500, description="Reply text, page version, import reference.")
