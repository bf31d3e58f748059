"""Pure mapping of ATS occurrences onto our contract: event ids, candidate ids, stages, CloudEvents.

Deterministic: the same ATS event always yields the same CloudEvent id (UUIDv5 of connection, ATS event id
and part), so a redelivery after a crash is a duplicate downstream too, where the ids dedupe.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Mapping
from typing import Any

import phonenumbers
from pydantic import TypeAdapter, ValidationError

from schemas.common import EmailAddress, Stage
from services.connectors.adapters import Occurrence
from services.connectors.settings import DEFAULT_STAGES, Connection

EVENT_NAMESPACE = uuid.UUID("6f1d8a52-3c0e-5b7a-9e43-2b1c7f0d9a61")
_EMAIL: TypeAdapter[str] = TypeAdapter(EmailAddress)
_UNSAFE = re.compile(r"[^A-Za-z0-9._:@-]")

# Event types whose message does not depend on the stage: an unknown stage name falls back to this.
_IMPLIED: dict[str, Stage] = {
    "ats.application.received": Stage.APPLICATION,
    "ats.interview.scheduled": Stage.INTERVIEW_SCHEDULING,
    "ats.interview.rescheduled": Stage.INTERVIEW_SCHEDULING,
    "ats.interview.cancelled": Stage.INTERVIEW_SCHEDULING,
    "ats.offer.extended": Stage.OFFER,
    "ats.candidate.hired": Stage.OFFER,
    "ats.candidate.rejected": Stage.REJECTION,
}


class UnmappedStage(Exception):  # noqa: N818 - a condition, reported with its name
    """An ATS stage name the connection does not map (the name is the ATS's configuration, not personal data)."""

    def __init__(self, connection: str, stage: str) -> None:
        super().__init__(f"connection {connection!r}: stage {stage!r} is not mapped; add it to its STAGES")
        self.connection = connection
        self.stage = stage


def event_id(connection: str, ats_event_id: str, part: str = "") -> str:
    """Our CloudEvent id of one ATS event (and part of it): stable across redeliveries."""
    return str(uuid.uuid5(EVENT_NAMESPACE, f"{connection}/{ats_event_id}/{part}"))


def candidate_id(connection: str, ats_candidate_id: str) -> str:
    """Our candidate id for the ATS's candidate: '<connection>:<their id>' (characters our ids allow)."""
    return _UNSAFE.sub("_", f"{connection}:{ats_candidate_id}")[:128]


def lookup_stage(conn: Connection, stage: str) -> Stage | None:
    """Their stage name on ours (case-insensitive), through the connection's map, then the default map."""
    key = stage.strip().lower()
    own = {k.strip().lower(): v for k, v in conn.stages.items()}
    if key in own:
        return own[key]
    if conn.use_default_stages:
        return DEFAULT_STAGES.get(key)
    return None


def map_stage(conn: Connection, name: str, occ: Occurrence) -> Stage:
    """Our stage for an occurrence: mapped, or implied by its type; UnmappedStage for a stage change we cannot place."""
    mapped = lookup_stage(conn, occ.stage)
    if mapped is not None:
        return mapped
    if occ.type in _IMPLIED:
        return _IMPLIED[occ.type]
    raise UnmappedStage(name, occ.stage)


def to_cloudevent(name: str, conn: Connection, ats_event_id: str, occ: Occurrence, source: str) -> dict[str, Any]:
    """The ats.* CloudEvent (a dict, validated by the caller against the contract) for one occurrence."""
    cid = candidate_id(name, occ.candidate.ats_id)
    stage = map_stage(conn, name, occ)
    data: dict[str, Any] = {
        "candidate": _candidate(cid, conn, occ),
        "application": {"id": occ.application_id, "job_title": occ.job_title[:200], "stage": stage.value},
    }
    if occ.type == "ats.stage.changed" and occ.previous_stage:
        previous = lookup_stage(conn, occ.previous_stage)
        data["previous_stage"] = previous.value if previous else None
    if occ.interview is not None:
        iv = occ.interview
        data["interview"] = {
            "id": iv.id,
            "start": iv.start.isoformat(),
            "end": iv.end.isoformat(),
            "location": iv.location,
            "video_link": iv.video_link,
            "sequence": iv.sequence,
        }
    if occ.type == "ats.offer.extended":
        data["offer"] = {"deadline": occ.offer_deadline.isoformat() if occ.offer_deadline else None}
    return {
        "specversion": "1.0",
        "id": event_id(name, occ.event_key or ats_event_id, occ.part),
        "source": f"{source}/{name}",
        "type": occ.type,
        "time": occ.time.isoformat(),
        "subject": cid,
        "datacontenttype": "application/json",
        "data": data,
    }


def e164(raw: str | None, region: str) -> str | None:
    """A phone number as the ATS stores it ('06 12345678', '+31 6 ...') in E.164, or None when it is none."""
    if not raw:
        return None
    try:
        number = phonenumbers.parse(raw, region.upper())
    except phonenumbers.NumberParseException:
        return None
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def email(raw: str | None) -> str | None:
    """An e-mail address the contract accepts, or None (the ATS field may hold anything)."""
    if not raw:
        return None
    try:
        return _EMAIL.validate_python(raw.strip())
    except ValidationError:
        return None


def _candidate(cid: str, conn: Connection, occ: Occurrence) -> Mapping[str, Any]:
    c = occ.candidate
    return {
        "id": cid,
        "name": (c.name.strip() or "Candidate")[:200],
        "email": email(c.email),
        "phone": e164(c.phone, conn.phone_region),
        "locale": c.locale or conn.locale,
        "timezone": c.timezone or conn.timezone,
    }
