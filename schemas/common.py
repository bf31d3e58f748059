"""Vocabulary shared by every topic: channels, stages, consent, notification states."""

from __future__ import annotations

import re
from datetime import datetime
from enum import StrEnum
from functools import lru_cache
from importlib import import_module, resources
from typing import Annotated

import phonenumbers
from email_validator import EmailNotValidError, validate_email
from pydantic import AfterValidator, AnyHttpUrl, AwareDatetime, BeforeValidator, Field, Strict, StringConstraints


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


# --- validators and type aliases: each rule is stated in the generated JSON Schema, so the schema is the validator.

INT64_MAX = 2**63 - 1  # the largest integer every part stores (MongoDB, Kafka headers, JSON readers in Java)
CANDIDATE_ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._:@-]{0,127}$"
E164_PATTERN = r"^\+[1-9][0-9]{1,14}$"
# What we take for an address at the boundary: one @, no white space, no control characters, and none of the
# characters that only quoted local parts, domain literals or display names use. RFC 6531 (SMTPUTF8) letters
# are allowed on both sides; whether a mail system can deliver to it is a separate question (email_problem).
EMAIL_PATTERN = r'^[^@\s\x00-\x1f\x7f\uFEFF"(),:;<>\[\\\]]{1,64}@[^@\s\x00-\x1f\x7f\uFEFF"(),:;<>\[\\\]]{1,253}$'

HTTP_URL_PATTERN = r"^[Hh][Tt][Tt][Pp][Ss]?://[^\s/?#]+"  # a scheme pydantic's AnyHttpUrl takes, and a host
HTTP_URL_MAX = 2083


def _http_url_syntax(value: object) -> object:
    # pydantic's URL parser repairs what the published pattern refuses (a missing "//", back slashes).
    if isinstance(value, str) and (len(value) > HTTP_URL_MAX or not re.match(HTTP_URL_PATTERN, value)):
        raise ValueError(f"must be an http or https URL with a host, at most {HTTP_URL_MAX} characters")
    return value


HttpLink = Annotated[
    AnyHttpUrl,
    BeforeValidator(_http_url_syntax),
    Field(json_schema_extra={"pattern": HTTP_URL_PATTERN, "maxLength": HTTP_URL_MAX}),
]
# Years 1970-8999: every part can add or subtract days and years (reminders, retention) without leaving
# Python's calendar (years 1-9999), and none is before the epoch Kafka timestamps and POSIX seconds count from.
# An interview in year 1 made the router raise OverflowError for ever. RFC 3339 puts the year first.
TIMESTAMP_PATTERN = r"^(19[7-9][0-9]|[2-8][0-9]{3})-"
TIMESTAMP_YEARS = (1970, 8999)
_TIMESTAMP_RULE = "must be an RFC 3339 date-time with an offset, in the years 1970 to 8999"


def _timestamp_range(value: datetime) -> datetime:
    # The year as written (pydantic keeps the given offset), which is what the published pattern reads. Not a
    # before-validator on the string: that would hand the inner strict validator a Python str, which it refuses.
    if not TIMESTAMP_YEARS[0] <= value.year <= TIMESTAMP_YEARS[1]:
        raise ValueError(_TIMESTAMP_RULE)
    return value


Timestamp = Annotated[
    AwareDatetime,
    AfterValidator(_timestamp_range),
    Field(json_schema_extra={"pattern": TIMESTAMP_PATTERN}),
]
# format int64 as well as the bounds: FastAPI's OpenAPI model writes `maximum` as a float (2**63, one too many).
NonNegativeInt64 = Annotated[int, Strict(), Field(ge=0, le=INT64_MAX, json_schema_extra={"format": "int64"})]
PositiveInt64 = Annotated[int, Strict(), Field(ge=1, le=INT64_MAX, json_schema_extra={"format": "int64"})]
StrictFlag = Annotated[bool, Strict()]

CandidateId = Annotated[
    str,
    StringConstraints(pattern=CANDIDATE_ID_PATTERN),
    Field(
        description="The ATS's candidate id: 1-128 letters, digits and . _ : @ - starting with a letter or digit; "
        "also the Kafka record key.",
        examples=["cand-1042"],
    ),
]


@lru_cache(maxsize=65_536)  # the same candidates come back: check each value once
def phone_problem(value: str) -> str | None:
    """Why a number of E.164 form cannot be reached (libphonenumber's metadata), or None when it can."""
    # Reasons never echo the value: they travel to the ATS (candidate.contact.invalid) and into logs.
    try:
        parsed = phonenumbers.parse(value, None)
    except phonenumbers.NumberParseException:
        return "not a phone number: unknown country calling code"
    if not phonenumbers.is_possible_number(parsed):
        return "not a phone number: wrong length for its country"
    if not phonenumbers.is_valid_number(parsed):
        return "not an assigned phone number range in its country"
    return None


@lru_cache(maxsize=65_536)  # the same candidates come back; and decoding and the contact check ask alike
def _email_checked(value: str) -> tuple[str, str | None]:
    """The address normalised (as sent when unusable), and why no mail system can deliver to it (or None)."""
    try:
        return validate_email(value, check_deliverability=False, allow_smtputf8=True).normalized, None
    except EmailNotValidError as err:
        # Our own words: the library's message may quote characters of the address.
        if "after the @-sign" in str(err):
            return value, "e-mail domain is not a deliverable domain name (invalid IDNA, reserved or malformed)"
        if "before the @-sign" in str(err):
            return value, "e-mail local part (before the @) is not valid"
        return value, "not a deliverable e-mail address (length or characters)"


def email_problem(value: str) -> str | None:
    """Why an address no mail system can deliver to is unusable, or None when it is usable."""
    return _email_checked(value)[1]


def _normalise_email(value: str) -> str:
    # An address that matches the pattern but cannot be delivered is kept as sent: the preference service
    # stores it marked invalid (with email_problem's reason) instead of refusing the whole event.
    return _email_checked(value)[0]


def _require_reachable_phone(value: str) -> str:
    problem = phone_problem(value)
    if problem is not None:
        raise ValueError(problem)
    return value


def _require_deliverable_email(value: str) -> str:
    problem = email_problem(value)
    if problem is not None:
        raise ValueError(problem)
    return _normalise_email(value)


def _tz_database() -> tuple[str, tuple[str, ...]]:
    # The tzdata package (pinned in uv.lock), not the machine's zoneinfo: the generated schema must not depend
    # on which host generated it, and zoneinfo falls back to this package for any zone the host lacks.
    zones = resources.files("tzdata").joinpath("zones").read_text(encoding="utf-8").split()
    return str(getattr(import_module("tzdata"), "IANA_VERSION", "unknown")), tuple(sorted(zones))


TZ_DATABASE_VERSION, TIME_ZONES = _tz_database()
_TIME_ZONE_SET = frozenset(TIME_ZONES)


def _check_timezone(value: str) -> str:
    if value not in _TIME_ZONE_SET:
        raise ValueError("not an IANA time zone name (e.g. Europe/Amsterdam)")
    return value


E164Phone = Annotated[
    str,
    StringConstraints(pattern=E164_PATTERN),
    Field(
        description="Phone number in E.164 form (+, country code, at most 15 digits). A number of this form that "
        "is not assigned (libphonenumber) does not reject the message: it is stored as an invalid contact point "
        "with the reason, announced as candidate.contact.invalid, and the other channels are used.",
        examples=["+31612345678"],
    ),
]
ReachablePhone = Annotated[
    str,
    StringConstraints(pattern=E164_PATTERN),
    Field(
        description="Phone number in E.164 form (+, country code, at most 15 digits) in a range assigned in its "
        "country (libphonenumber metadata, keyword x-assigned-number); other numbers are refused with a reason.",
        examples=["+31612345678"],
        json_schema_extra={"x-assigned-number": True},
    ),
    AfterValidator(_require_reachable_phone),
]
_EMAIL_SYNTAX = (
    "E-mail address (RFC 6531: internationalised local parts and domains are accepted, no quoted local parts, "
    "domain literals or display names). The domain is normalised (IDNA 2008 with UTS 46 mapping: lower case, "
    "Unicode form; mail goes out with its ASCII xn-- form), the local part is kept as sent (NFC)."
)
EmailAddress = Annotated[
    str,
    StringConstraints(pattern=EMAIL_PATTERN, max_length=254),
    Field(
        description=_EMAIL_SYNTAX + " An address of this form that no mail system can deliver to (a domain that is "
        "not a valid IDNA name, a reserved domain such as .test or .local, a part too long) does not reject the "
        "message: it is stored as an invalid contact point with the reason and announced as candidate.contact.invalid.",
        examples=["sanne@example.org", "jürgen@bücher.de"],
        json_schema_extra={"format": "idn-email"},
    ),
    AfterValidator(_normalise_email),
]
DeliverableEmail = Annotated[
    str,
    StringConstraints(pattern=EMAIL_PATTERN, max_length=254),
    Field(
        description=_EMAIL_SYNTAX + " Addresses no mail system can deliver to (a domain that is not a valid IDNA "
        "name, a reserved domain such as .test or .local, a part too long; keyword x-deliverable-email) are "
        "refused with a reason.",
        examples=["sanne@example.org", "jürgen@bücher.de"],
        json_schema_extra={"format": "idn-email", "x-deliverable-email": True},
    ),
    AfterValidator(_require_deliverable_email),
]
TimeZoneName = Annotated[
    str,
    Field(
        description=f"IANA time zone name, one of the tz database {TZ_DATABASE_VERSION} (case-sensitive).",
        examples=["Europe/Amsterdam"],
        json_schema_extra={"enum": list(TIME_ZONES)},
    ),
    AfterValidator(_check_timezone),
]
Language = Annotated[str, Field(description="Message language (ISO 639-1).", pattern="^(nl|en)$", examples=["nl"])]


def language_from_locale(locale: str | None) -> str:
    """Map an ATS locale to a template language: Dutch when missing or Dutch, English for any other."""
    lang = (locale or "nl").replace("_", "-").split("-", 1)[0].lower()
    return "nl" if lang in {"nl", ""} else "en"
