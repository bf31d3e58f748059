"""Pure preference logic: new versions from changes, ATS contact merges. No I/O, time as an argument."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from schemas.ats import CandidateContact
from schemas.common import ChangeSource, ConsentState
from schemas.defaults import ats_opt_in_consent, default_snapshot
from schemas.preferences import ContactPoint, PreferenceSnapshot


@dataclass(frozen=True)
class Proposed:
    """A new version, ready to store: the snapshot plus what changed and why (for history)."""

    snapshot: PreferenceSnapshot
    source: ChangeSource
    summary: str
    changes: dict[str, Any]


def _dump(s: PreferenceSnapshot) -> dict[str, Any]:
    return s.model_dump(mode="json", exclude={"version", "updated_at", "last_change_source"})


def propose(
    current: PreferenceSnapshot, updates: dict[str, Any], source: ChangeSource, now: datetime, summary: str
) -> Proposed | None:
    """Apply top-level field updates; None when nothing actually changes (no new version for a no-op)."""
    before = _dump(current)
    merged = {**current.model_dump(), **updates}
    candidate = PreferenceSnapshot.model_validate(merged)
    after = _dump(candidate)
    changes = {k: after[k] for k in after if after[k] != before.get(k)}
    if not changes:
        return None
    snapshot = candidate.model_copy(
        update={"version": current.version + 1, "updated_at": now, "last_change_source": source}
    )
    return Proposed(snapshot=snapshot, source=source, summary=summary, changes=changes)


def first_version(candidate: CandidateContact, now: datetime) -> Proposed:
    """Version 1 of a new candidate, from the first ATS event."""
    snapshot = default_snapshot(candidate, now, version=1)
    return Proposed(
        snapshot=snapshot,
        source=ChangeSource.ATS_IMPORT,
        summary="profile created from the ATS's contact data (e-mail first, other channels unknown)",
        changes=_dump(snapshot),
    )


def _contact(current: ContactPoint | None, address: str | None) -> ContactPoint | None:
    if address is None:
        return current
    if current is not None and current.address == address:
        return current
    return ContactPoint(address=address)  # a new address is valid until proven otherwise


def merge_ats_contact(current: PreferenceSnapshot, candidate: CandidateContact, now: datetime) -> Proposed | None:
    """Later ATS data refreshes contact points and opt-ins, never a choice the candidate made."""
    contacts = current.contacts.model_copy(
        update={
            "email": _contact(current.contacts.email, candidate.email),
            "phone": _contact(current.contacts.phone, candidate.phone),
        }
    )
    consent = dict(current.consent)
    for channel, entry in ats_opt_in_consent(candidate, now).items():
        existing = consent.get(channel)
        if existing is None or existing.application.state is ConsentState.UNKNOWN:
            old_talent = existing.talent_pool if existing else entry.talent_pool
            consent[channel] = entry.model_copy(update={"talent_pool": old_talent})
    updates: dict[str, Any] = {"contacts": contacts, "consent": consent, "name": candidate.name}
    if "timezone" not in current.provenance:
        updates["timezone"] = candidate.timezone
    return propose(current, updates, ChangeSource.ATS_IMPORT, now, "contact data updated from the ATS")
