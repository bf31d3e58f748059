"""The default preferences a candidate starts with, derived from the ATS's contact data.

Shared by the preference service (which stores it as version 1) and the router (which uses it as
version 0 when an ATS event arrives before the first snapshot), so both decide the same way.
"""

from __future__ import annotations

from datetime import datetime

from schemas.ats import CandidateContact
from schemas.common import ChangeSource, Channel, ConsentState, language_from_locale
from schemas.preferences import ChannelConsent, ConsentRecord, ContactPoint, Contacts, PreferenceSnapshot

DEFAULT_ORDER: tuple[Channel, ...] = (Channel.EMAIL,)


def contacts_from_ats(candidate: CandidateContact) -> Contacts:
    """Contact points from the ATS's data (all assumed valid until a bounce says otherwise)."""
    return Contacts(
        email=ContactPoint(address=candidate.email) if candidate.email else None,
        phone=ContactPoint(address=candidate.phone) if candidate.phone else None,
    )


def ats_opt_in_consent(candidate: CandidateContact, now: datetime) -> dict[Channel, ChannelConsent]:
    """Consent the ATS recorded (opt-ins), for messages about the candidate's own application."""
    return {
        channel: ChannelConsent(
            application=ConsentRecord(
                state=ConsentState.GRANTED,
                source=ChangeSource.ATS_IMPORT,
                at=now,
                evidence="opt-in recorded by the ATS",
            )
        )
        for channel in candidate.opt_ins
    }


def default_snapshot(candidate: CandidateContact, now: datetime, version: int = 0) -> PreferenceSnapshot:
    """A new candidate's preferences: e-mail first, other channels unknown unless the ATS recorded an opt-in."""
    return PreferenceSnapshot(
        candidate_id=candidate.id,
        version=version,
        updated_at=now,
        name=candidate.name,
        contacts=contacts_from_ats(candidate),
        consent=ats_opt_in_consent(candidate, now),
        channel_order=DEFAULT_ORDER,
        language=language_from_locale(candidate.locale),
        timezone=candidate.timezone,
        last_change_source=ChangeSource.ATS_IMPORT,
    )
