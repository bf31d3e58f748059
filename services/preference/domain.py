"""Pure preference logic: new versions from changes, ATS contact merges. No I/O, time as an argument."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from schemas.ats import CandidateContact
from schemas.candidate_events import ContactField
from schemas.common import ChangeSource, Channel, ConsentState, PurposeClass
from schemas.defaults import ats_opt_in_consent, default_snapshot
from schemas.preferences import (
    ChannelConsent,
    ConsentChange,
    ConsentRecord,
    ContactPoint,
    Contacts,
    ContactUpdate,
    PreferenceSnapshot,
    PreferenceUpdate,
    Provenance,
)
from services.preference.contacts import CONTACT_FIELDS, FIELD_OF_CHANNEL, contacts_from_ats, refreshed


@dataclass(frozen=True)
class Proposed:
    """A new version, ready to store: the snapshot plus what changed and why (for history)."""

    snapshot: PreferenceSnapshot
    source: ChangeSource
    summary: str
    changes: dict[str, Any]


def _dump(s: PreferenceSnapshot) -> dict[str, Any]:
    return s.model_dump(mode="json", exclude={"version", "updated_at", "last_change_source"})


def without_revoked(s: PreferenceSnapshot) -> PreferenceSnapshot:
    """The snapshot whose chosen orders list no channel the candidate revoked ("niet bellen": no calls shown)."""
    revoked = {c for c in Channel if s.consent_for(c, PurposeClass.APPLICATION).state is ConsentState.REVOKED}
    order = tuple(c for c in s.channel_order if c not in revoked)
    overrides = {
        stage: kept
        for stage, chosen in s.stage_overrides.items()
        if (kept := tuple(c for c in chosen if c not in revoked))
    }
    if order == s.channel_order and overrides == s.stage_overrides:
        return s
    # An order left empty stays empty: the router then says nothing was chosen, which is now the truth.
    return s.model_copy(update={"channel_order": order, "stage_overrides": overrides})


def propose(
    current: PreferenceSnapshot, updates: dict[str, Any], source: ChangeSource, now: datetime, summary: str
) -> Proposed | None:
    """Apply top-level field updates; None when nothing actually changes (no new version for a no-op).

    Every version keeps the choices in line with consent: a revoked channel leaves the orders.
    """
    before = _dump(current)
    merged = {**current.model_dump(), **updates}
    candidate = without_revoked(PreferenceSnapshot.model_validate(merged))
    after = _dump(candidate)
    changes = {k: after[k] for k in after if after[k] != before.get(k)}
    if not changes:
        return None
    snapshot = candidate.model_copy(
        update={"version": current.version + 1, "updated_at": now, "last_change_source": source}
    )
    return Proposed(snapshot=snapshot, source=source, summary=summary, changes=changes)


def first_version(candidate: CandidateContact, now: datetime) -> Proposed:
    """Version 1 of a new candidate, from the first ATS event (unusable contact points marked invalid)."""
    snapshot = default_snapshot(candidate, now, version=1)
    snapshot = snapshot.model_copy(update={"contacts": contacts_from_ats(candidate, now)})
    return Proposed(
        snapshot=snapshot,
        source=ChangeSource.ATS_IMPORT,
        summary="profile created from the ATS's contact data (e-mail first, other channels unknown)",
        changes=_dump(snapshot),
    )


def merge_ats_contact(current: PreferenceSnapshot, candidate: CandidateContact, now: datetime) -> Proposed | None:
    """Later ATS data refreshes contact points (a new one is checked) and opt-ins, never a choice the candidate made."""
    contacts = current.contacts.model_copy(
        update={
            "email": refreshed_unless_verified(current.contacts.email, "email", candidate.email, now),
            "phone": refreshed_unless_verified(current.contacts.phone, "phone", candidate.phone, now),
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


def refreshed_unless_verified(
    current: ContactPoint | None, field: ContactField, address: str | None, now: datetime
) -> ContactPoint | None:
    """Like `refreshed`, but a point the candidate verified stays: a different ATS value is only noted beside it.

    The note (`ats_address`) makes a version, so the recruiter sees both in the history; it goes when the
    ATS sends the verified value again.
    """
    if current is None or current.verified_at is None or address is None:
        return refreshed(current, field, address, now)
    noted = None if address == current.address else address
    return current if current.ats_address == noted else current.model_copy(update={"ats_address": noted})


_EXPLICIT = (ChangeSource.SELF_SERVICE, ChangeSource.REPLY, ChangeSource.RECRUITER)
_CANDIDATE = (ChangeSource.SELF_SERVICE, ChangeSource.REPLY)


def _grant(
    consent: dict[Channel, ChannelConsent], channel: Channel, source: ChangeSource, now: datetime, evidence: str
) -> None:
    """Choosing a channel explicitly is consent to be contacted on it about one's own application."""
    entry = consent.get(channel) or ChannelConsent()
    record = ConsentRecord(state=ConsentState.GRANTED, source=source, at=now, evidence=evidence)
    consent[channel] = entry.model_copy(update={"application": record})


def apply_update(
    current: PreferenceSnapshot,
    update: PreferenceUpdate,
    source: ChangeSource,
    now: datetime,
    evidence: str,
    replace_all: bool = False,
) -> Proposed | None:
    """Apply explicit choices; each changed choice records where it came from (for the reasons)."""
    given = update.model_dump(exclude_unset=not replace_all, exclude_none=not replace_all)
    given.pop("contacts", None)
    if replace_all:  # PUT: unset choices return to their defaults; contacts stay (the ATS owns them)
        defaults = PreferenceSnapshot(candidate_id=current.candidate_id, version=0, updated_at=now)
        given = {k: (v if v is not None else getattr(defaults, k)) for k, v in given.items()}
    updates: dict[str, Any] = dict(given)
    if update.contacts is not None:
        updates["contacts"] = _contacts_from(current.contacts, update.contacts, now)
    after = PreferenceSnapshot.model_validate({**current.model_dump(), **updates})
    stamp = Provenance(source=source, at=now, evidence=evidence[:500] or None)
    updates["consent"] = _granted_by_choice(current, after, source, now, stamp.evidence or "chosen as a channel")
    # Provenance only for what really changes: a revoked channel asked for is dropped again by propose.
    final = without_revoked(after.model_copy(update={"consent": updates["consent"]}))
    updates["provenance"] = _stamped(current, final, given, stamp)
    return propose(current, updates, source, now, _summary(updates, source))


def _granted_by_choice(
    current: PreferenceSnapshot, after: PreferenceSnapshot, source: ChangeSource, now: datetime, evidence: str
) -> dict[Channel, ChannelConsent]:
    """Consent after a person's choice: choosing a channel explicitly grants it for one's own application."""
    consent = dict(current.consent)
    if source not in _EXPLICIT:
        return consent
    chosen = set(after.channel_order) | {c for o in after.stage_overrides.values() for c in o}
    newly = chosen - set(current.channel_order) - {c for o in current.stage_overrides.values() for c in o}
    for channel in newly:
        state = current.consent_for(channel, PurposeClass.APPLICATION).state
        # Only the candidate can undo their own revocation; a recruiter's order cannot (propose drops it).
        if state is ConsentState.UNKNOWN or (state is ConsentState.REVOKED and source in _CANDIDATE):
            _grant(consent, channel, source, now, evidence)
    return consent


def _stamped(
    current: PreferenceSnapshot, final: PreferenceSnapshot, given: dict[str, Any], stamp: Provenance
) -> dict[str, Provenance]:
    """Provenance with every given choice that changes stamped with who changed it and when."""
    provenance = dict(current.provenance)
    for key in given:
        if key == "stage_overrides":
            for stage in set(current.stage_overrides) | set(final.stage_overrides):
                if current.stage_overrides.get(stage) != final.stage_overrides.get(stage):
                    provenance[f"stage:{stage.value}"] = stamp
        elif getattr(current, key) != getattr(final, key):
            provenance[_PROVENANCE_KEY.get(key, key)] = stamp
    return provenance


_PROVENANCE_KEY = {
    "paused_until": "pause",
    "interview_scheduling_mode": "mode:interview_scheduling",
    "documents_mode": "mode:documents",
}


def _summary(updates: dict[str, Any], source: ChangeSource) -> str:
    fields = sorted(k for k in updates if k not in ("provenance", "consent"))
    return f"{', '.join(fields) or 'consent'} changed ({source.value})"


def _contacts_from(current: Contacts, update: ContactUpdate, now: datetime) -> Contacts:
    given = update.model_dump(exclude_none=True)
    return current.model_copy(
        update={k: refreshed(getattr(current, k), k, given[k], now) for k in CONTACT_FIELDS if k in given}
    )


def set_consent(current: PreferenceSnapshot, change: ConsentChange, now: datetime) -> Proposed | None:
    """Record a consent decision; revoking for applications revokes talent-pool messages too."""
    consent = dict(current.consent)
    entry = consent.get(change.channel) or ChannelConsent()
    record = ConsentRecord(state=ConsentState(change.state), source=change.source, at=now, evidence=change.evidence)
    if change.purpose_class is PurposeClass.TALENT_POOL:
        entry = entry.model_copy(update={"talent_pool": record})
    elif record.state is ConsentState.REVOKED:
        entry = ChannelConsent(application=record, talent_pool=record)
    else:
        entry = entry.model_copy(update={"application": record})
    consent[change.channel] = entry
    verb = "granted" if change.state == "granted" else "revoked"
    summary = f"consent {verb} for {change.channel.value} ({change.purpose_class.value}) via {change.source.value}"
    return propose(current, {"consent": consent}, change.source, now, summary)


def mark_contact_invalid(current: PreferenceSnapshot, channel: Channel, reason: str, now: datetime) -> Proposed | None:
    """A hard bounce or an invalid number: the contact point stays, marked unusable."""
    field = FIELD_OF_CHANNEL[channel]
    point = getattr(current.contacts, field)
    if field == "whatsapp" and point is None:
        field, point = "phone", current.contacts.phone
    if point is None or not point.valid:
        return None
    invalid = {"valid": False, "invalid_reason": f"{reason[:150]} ({now.date()})", "invalid_since": now}
    contacts = current.contacts.model_copy(update={field: point.model_copy(update=invalid)})
    return propose(
        current, {"contacts": contacts}, ChangeSource.DELIVERY, now, f"{field} marked invalid: {reason[:100]}"
    )
