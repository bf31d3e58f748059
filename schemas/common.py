"""Vocabulary shared by every topic: channels, stages, consent, notification states."""

from __future__ import annotations

import re
from enum import StrEnum
from functools import lru_cache
from typing import Annotated
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import phonenumbers
from email_validator import EmailNotValidError, validate_email
from pydantic import AfterValidator, Field


class Channel(StrEnum):
    """A way to reach a candidate."""

    EMAIL = "email"
    SMS = "sms"
    WHATSAPP = "whatsapp"
    VOICE = "voice"
    PORTAL = "portal"


class Stage(StrEnum):
    """Our stages of the hiring process; every message belongs to one (ATS names map onto these)."""

    APPLICATION = "application"
    SCREENING = "screening"
    INTERVIEW_SCHEDULING = "interview_scheduling"
    INTERVIEW_REMINDER = "interview_reminder"
    DOCUMENTS = "documents"
    FEEDBACK = "feedback"
    OFFER = "offer"
    REJECTION = "rejection"
    TALENT_POOL = "talent_pool"


class PurposeClass(StrEnum):
    """Consent is recorded per purpose class: the candidate's own application, or re-engagement."""

    APPLICATION = "application"
    TALENT_POOL = "talent_pool"


class ConsentState(StrEnum):
    """Consent for one channel and purpose class."""

    GRANTED = "granted"
    REVOKED = "revoked"
    UNKNOWN = "unknown"


class ChangeSource(StrEnum):
    """Who or what changed a preference (the provenance of every choice)."""

    SELF_SERVICE = "self_service"
    REPLY = "reply"
    RECRUITER = "recruiter"
    ATS_IMPORT = "ats_import"
    ENGAGEMENT = "engagement"
    DELIVERY = "delivery"
    SYSTEM = "system"


class NotificationStatus(StrEnum):
    """States of one notification.

    The router owns held, queued, cancelled and needs_recruiter, the notifier sent to bounced; both may
    write suppressed (the candidate was erased: nothing is or will be sent).
    """

    HELD = "held"
    QUEUED = "queued"
    SENT = "sent"
    DELIVERED = "delivered"
    READ = "read"
    REPLIED = "replied"
    FAILED = "failed"
    BOUNCED = "bounced"
    CANCELLED = "cancelled"
    NEEDS_RECRUITER = "needs_recruiter"
    SUPPRESSED = "suppressed"


# States only move forward: a consumer ignores a state whose rank is not above the one it holds.
STATUS_RANK: dict[NotificationStatus, int] = {
    NotificationStatus.HELD: 10,
    NotificationStatus.QUEUED: 20,
    NotificationStatus.SENT: 30,
    NotificationStatus.DELIVERED: 40,
    NotificationStatus.READ: 50,
    NotificationStatus.REPLIED: 60,
    NotificationStatus.FAILED: 70,
    NotificationStatus.BOUNCED: 75,
    NotificationStatus.CANCELLED: 80,
    NotificationStatus.NEEDS_RECRUITER: 90,
    NotificationStatus.SUPPRESSED: 95,  # final: the candidate's data was erased, nothing more is sent
}

ROUTER_STATES = frozenset(
    {
        NotificationStatus.HELD,
        NotificationStatus.QUEUED,
        NotificationStatus.CANCELLED,
        NotificationStatus.NEEDS_RECRUITER,
        NotificationStatus.SUPPRESSED,
    }
)
# `suppressed` is also written by the notifier when it finds, at send time, that the candidate was erased.
NOTIFIER_STATES = frozenset(NotificationStatus) - ROUTER_STATES | {NotificationStatus.SUPPRESSED}


def is_forward(current: NotificationStatus | None, new: NotificationStatus) -> bool:
    """True when `new` may replace `current` (states only move forward)."""
    return current is None or STATUS_RANK[new] > STATUS_RANK[current]


_ID_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:@-]{0,127}$")


def _check_id(value: str) -> str:
    if not _ID_PATTERN.match(value):
        raise ValueError("must be 1-128 characters of letters, digits and . _ : @ - (starting with a letter or digit)")
    return value


@lru_cache(maxsize=65_536)  # the same candidates come back: validate each value once
def _check_e164(value: str) -> str:
    # Messages never echo the input: validation errors travel in DLQ headers and logs.
    try:
        parsed = phonenumbers.parse(value, None)
    except phonenumbers.NumberParseException:
        raise ValueError("not a phone number in E.164 form (+ and country code)") from None
    if not value.startswith("+") or not phonenumbers.is_valid_number(parsed):
        raise ValueError("not a valid phone number in E.164 form")
    return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)


@lru_cache(maxsize=65_536)  # the same candidates come back: validate each value once
def _check_email(value: str) -> str:
    try:
        return validate_email(value, check_deliverability=False).normalized
    except EmailNotValidError:
        raise ValueError("not a valid e-mail address") from None


@lru_cache(maxsize=65_536)  # the same candidates come back: validate each value once
def _check_timezone(value: str) -> str:
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError, OSError):  # OSError: a directory ("America") or a too-long name
        raise ValueError("not an IANA time zone name (e.g. Europe/Amsterdam)") from None
    return value


CandidateId = Annotated[
    str,
    Field(description="The ATS's candidate id; also the Kafka record key.", examples=["cand-1042"]),
    AfterValidator(_check_id),
]
E164Phone = Annotated[
    str, Field(description="Phone number in E.164 form.", examples=["+31612345678"]), AfterValidator(_check_e164)
]
EmailAddress = Annotated[
    str,
    Field(description="E-mail address.", examples=["sanne@example.org"], max_length=254),
    AfterValidator(_check_email),
]
TimeZoneName = Annotated[
    str, Field(description="IANA time zone name.", examples=["Europe/Amsterdam"]), AfterValidator(_check_timezone)
]
Language = Annotated[str, Field(description="Message language (ISO 639-1).", pattern="^(nl|en)$", examples=["nl"])]


def language_from_locale(locale: str | None) -> str:
    """Map an ATS locale to a template language: Dutch when missing or Dutch, English for any other."""
    lang = (locale or "nl").replace("_", "-").split("-", 1)[0].lower()
    return "nl" if lang in {"nl", ""} else "en"
