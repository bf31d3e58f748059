"""`notifications.status`: one event per state change of a notification (output contract, version 1).

The router writes held, queued, cancelled and needs_recruiter; the notifier writes sent, delivered,
read, replied, failed and bounced; either writes suppressed (the candidate's data was erased: the router
for an event that arrives afterwards, the notifier for a message it finds so at send time). States only move forward
(schemas.common.STATUS_RANK); a reader ignores a state not above the one it holds.
"""

from __future__ import annotations

from typing import Final, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, TypeAdapter

from schemas.common import CandidateId, Channel, NotificationStatus, PositiveInt64, Stage, StrictFlag
from schemas.envelope import CloudEvent

STATUS_EVENT_TYPE: Final = "notification.status.changed"
# Kafka header with the state name, so a reader can skip states it does not need without decoding.
# Optional for other writers: a record without it is decoded.
STATUS_HEADER: Final = "ce_status"
# Kafka header on a `queued` state the router published together with the message's dispatch command:
# the notifier records that state with the message's outcome, so its timeline projection skips it.
DISPATCHED_HEADER: Final = "router.dispatched"
# Kafka header on a notifier's `failed` or `bounced`: where the message's command is, `<partition>:<offset>` on
# dispatch.<channel>. The router decides the fallback from that command: the topic is its decision log.
DISPATCH_REF_HEADER: Final = "dispatch.ref"
# The notifier's states that end a message unsent: the router falls back on them (and they carry the header).
FALLBACK_STATES: Final = frozenset({NotificationStatus.FAILED, NotificationStatus.BOUNCED})


def dispatch_ref(partition: int, offset: int) -> str:
    """The value of DISPATCH_REF_HEADER for a command's position."""
    return f"{partition}:{offset}"


def parse_dispatch_ref(value: str | None) -> tuple[int, int] | None:
    """(partition, offset) from a DISPATCH_REF_HEADER value; None when absent or not one."""
    partition, sep, offset = (value or "").partition(":")
    if not sep or not partition.isdigit() or not offset.isdigit():
        return None
    return int(partition), int(offset)


def reason_text(reasons: tuple[str, ...] | list[str]) -> str:
    """The reasons of a decision as one `reason` (at most 500 characters)."""
    text = "; ".join(reasons)
    return text if len(text) <= 500 else text[:497] + "..."


class StatusChange(BaseModel):
    """A notification entered a new state."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    notification_id: str = Field(description="Deterministic id (UUIDv5 of ATS event id, purpose, attempt).")
    ats_event_id: str = Field(description="The ATS event that caused the notification.")
    candidate_id: CandidateId
    application_id: str | None = Field(None, description="The application, when the event had one.")
    status: NotificationStatus = Field(description="The state the notification entered (see STATUS_RANK).")
    channel: Channel | None = Field(None, description="None for needs_recruiter when no channel remains.")
    stage: Stage = Field(description="Our stage (purpose) of the message.")
    attempt: PositiveInt64 = Field(1, description="1 for the first channel, 2 for the first fallback, ...")
    reason: str = Field("", max_length=500, description="Why, in plain words (no contact data).")
    provider: str | None = Field(None, max_length=50, description="smtp, twilio-sms, ... for notifier states.")
    provider_ref: str | None = Field(None, max_length=200, description="Message-ID or provider message id.")
    contact_invalid: StrictFlag = Field(False, description="The address does not exist (hard bounce, invalid number).")
    release_at: AwareDatetime | None = Field(
        None, description="For held: when the message is due to go out (UTC); it moves if preferences change."
    )
    choice_not_honoured: Channel | None = Field(
        None,
        description="The candidate's preferred channel that could not be used for this message (e.g. WhatsApp "
        "without an approved template); `reason` says why. Recruiters see it on the worklist.",
    )
    occurred_at: AwareDatetime = Field(description="When the state was entered.")
    event_time: AwareDatetime | None = Field(None, description="Time of the causing ATS event (for latency).")


class NotificationStatusEvent(CloudEvent):
    """CloudEvent carrying a StatusChange."""

    type: Literal["notification.status.changed"] = Field(STATUS_EVENT_TYPE, description="Event type.")
    data: StatusChange = Field(description="The state change.")


STATUS_ADAPTER: TypeAdapter[NotificationStatusEvent] = TypeAdapter(NotificationStatusEvent)
STATUS_TYPES = frozenset({STATUS_EVENT_TYPE})
