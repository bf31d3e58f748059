"""Contact points: checked when they arrive, and the ATS-facing notice when one turns out unusable. Pure.

An ATS event whose e-mail address or phone number has the published syntax but cannot be used (a domain
that is not a valid IDNA name, a number in no assigned range) is not refused: its contact point is stored
marked invalid with the reason, routing uses the other channels, and `candidate.contact.invalid` tells
the ATS which contact point to fix, without its value.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import get_args

from schemas.ats import CandidateContact
from schemas.candidate_events import ContactField, ContactInvalid, ContactInvalidEvent
from schemas.common import Channel, email_problem, phone_problem
from schemas.preferences import ContactPoint, Contacts, PreferenceSnapshot

SOURCE = "urn:candidate-comms:preference"
CONTACT_FIELDS: tuple[ContactField, ...] = get_args(ContactField)
FIELD_OF_CHANNEL: dict[Channel, ContactField] = {
    Channel.EMAIL: "email",
    Channel.SMS: "phone",
    Channel.VOICE: "phone",
    Channel.WHATSAPP: "whatsapp",
    Channel.PORTAL: "portal",
}
_NOTICE_IDS = uuid.UUID("6f1d3c1e-5b0e-4d53-9a43-6c0e1f7a2b90")  # namespace of contact-invalid event ids


def problem_of(field: ContactField, address: str) -> str | None:
    """Why an address of this kind cannot be used, or None (portal ids are the portal's to judge)."""
    if field == "email":
        return email_problem(address)
    if field in ("phone", "whatsapp"):
        return phone_problem(address)
    return None


def checked_point(field: ContactField, address: str, now: datetime) -> ContactPoint:
    """A new contact point: valid, or marked invalid now with the reason (the value is kept for the record)."""
    problem = problem_of(field, address)
    if problem is None:
        return ContactPoint(address=address)
    return ContactPoint(address=address, valid=False, invalid_reason=problem, invalid_since=now)


def refreshed(
    current: ContactPoint | None, field: ContactField, address: str | None, now: datetime
) -> ContactPoint | None:
    """The point after new data: unchanged for the same address (a bounce stays known), else checked anew."""
    if address is None:
        return current
    if current is not None and current.address == address:
        return current
    return checked_point(field, address, now)


def contacts_from_ats(candidate: CandidateContact, now: datetime) -> Contacts:
    """The ATS's contact data as checked contact points."""
    return Contacts(
        email=refreshed(None, "email", candidate.email, now),
        phone=refreshed(None, "phone", candidate.phone, now),
    )


def channels_through(contacts: Contacts, field: ContactField) -> tuple[Channel, ...]:
    """The channels that send to this contact point (WhatsApp uses the phone number unless it has its own)."""
    return tuple(
        c for c in Channel if FIELD_OF_CHANNEL[c] == field or (c is Channel.WHATSAPP and _falls_back(contacts, field))
    )


def _falls_back(contacts: Contacts, field: ContactField) -> bool:
    return field == "phone" and contacts.whatsapp is None


def contact_invalid_events(snapshot: PreferenceSnapshot) -> list[ContactInvalidEvent]:
    """The notices a stored version owes the ATS: one per contact point that this very version marked invalid.

    Ids derive from candidate, version and contact point, so publishing a version's notices again (a retry,
    the outbox relay) yields the same events.
    """
    events = []
    for field in CONTACT_FIELDS:
        point: ContactPoint | None = getattr(snapshot.contacts, field)
        if point is None or point.valid or point.invalid_since != snapshot.updated_at:
            continue
        key = f"{snapshot.candidate_id}:{snapshot.version}:{field}"
        data = ContactInvalid(
            candidate_id=snapshot.candidate_id,
            contact=field,
            channels=channels_through(snapshot.contacts, field),
            reason=point.invalid_reason or "marked invalid",
            detected_by=snapshot.last_change_source,
            preference_version=snapshot.version,
            detected_at=snapshot.updated_at,
        )
        event_id = str(uuid.uuid5(_NOTICE_IDS, key))
        events.append(
            ContactInvalidEvent(
                id=event_id, source=SOURCE, time=snapshot.updated_at, subject=snapshot.candidate_id, data=data
            )
        )
    return events
