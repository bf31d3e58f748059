"""Hypothesis strategies for preference snapshots, updates and ATS contact data (shared by property tests)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from typing import Any

from hypothesis import strategies as st

from schemas.ats import CandidateContact
from schemas.common import ChangeSource, Channel, ConsentState, Stage
from schemas.preferences import (
    Affinity,
    ChannelConsent,
    ConsentRecord,
    ContactPoint,
    Contacts,
    ContactUpdate,
    FrequencyCap,
    PreferenceSnapshot,
    PreferenceUpdate,
    Provenance,
    QuietHours,
)
from services.preference.domain import without_revoked

# Fixed offsets only: an aware datetime in a zone with DST may be ambiguous, and Python then calls it
# unequal to its own round trip (PEP 495), which would be a flaw of the test, not of the model.
OFFSETS = st.sampled_from([UTC, timezone(timedelta(hours=2)), timezone(timedelta(hours=-5, minutes=-30))])
moments = st.datetimes(min_value=datetime(2020, 1, 1), max_value=datetime(2035, 12, 31), timezones=OFFSETS)
channels = st.sampled_from(list(Channel))
stages = st.sampled_from(list(Stage))
sources = st.sampled_from(list(ChangeSource))
orders = st.lists(channels, min_size=1, max_size=len(Channel), unique=True).map(tuple)
zones = st.sampled_from(["Europe/Amsterdam", "UTC", "America/New_York", "Asia/Kolkata", "Australia/Adelaide"])
languages = st.sampled_from(["nl", "en"])
emails = st.sampled_from(["sanne@example.org", "piet.jansen@example.nl", "ä@example.org", "j+tag@sub.example.com"])
phones = st.sampled_from(["+31612345678", "+31687654321", "+14155552671", "+447911123456"])
short_text = st.text(max_size=40)
provenance_keys = st.sampled_from(
    [
        "channel_order",
        "timezone",
        "language",
        "voicemail",
        "pause",
        "quiet_hours",
        "frequency_cap",
        "preferred_call_times",
        "mode:interview_scheduling",
        "mode:documents",
        *(f"stage:{s.value}" for s in Stage),
    ]
)

consent_records = st.builds(
    ConsentRecord,
    state=st.sampled_from(list(ConsentState)),
    source=st.none() | sources,
    at=st.none() | moments,
    evidence=st.none() | short_text,
)
channel_consents = st.builds(ChannelConsent, application=consent_records, talent_pool=consent_records)
provenances = st.builds(Provenance, source=sources, at=moments, evidence=st.none() | short_text)


def contact_points(addresses: st.SearchStrategy[str]) -> st.SearchStrategy[ContactPoint]:
    """A contact point, sometimes marked invalid."""
    return st.builds(
        ContactPoint, address=addresses, valid=st.booleans(), invalid_reason=st.none() | st.text(max_size=30)
    )


contacts = st.builds(
    Contacts,
    email=st.none() | contact_points(emails),
    phone=st.none() | contact_points(phones),
    whatsapp=st.none() | contact_points(phones),
    portal=st.none() | contact_points(st.text(min_size=1, max_size=20)),
)
quiet_hours = st.builds(QuietHours, start=st.times(), end=st.times())
caps = st.builds(FrequencyCap, per_day=st.none() | st.integers(1, 100), per_week=st.none() | st.integers(1, 500))
affinities = st.builds(
    Affinity,
    score=st.floats(min_value=0.0, max_value=1.0),
    samples=st.integers(0, 10**6),
    updated_at=st.none() | moments,
)


@st.composite
def any_snapshots(draw: st.DrawFn) -> PreferenceSnapshot:
    """Any valid snapshot, also one stored before orders had to agree with consent (a revoked channel listed)."""
    return PreferenceSnapshot(
        candidate_id=draw(st.from_regex(r"[A-Za-z0-9][A-Za-z0-9._:@-]{0,30}", fullmatch=True)),
        version=draw(st.integers(0, 10**6)),
        updated_at=draw(moments),
        name=draw(st.none() | st.text(max_size=60)),
        contacts=draw(contacts),
        consent=draw(st.dictionaries(channels, channel_consents)),
        channel_order=draw(orders),
        stage_overrides=draw(st.dictionaries(stages, orders, max_size=4)),
        interview_scheduling_mode=draw(st.sampled_from(["calendar_link", "sms_options"])),
        documents_mode=draw(st.sampled_from(["portal", "direct_to_recruiter"])),
        voicemail=draw(st.booleans()),
        preferred_call_times=draw(st.none() | short_text),
        language=draw(languages),
        timezone=draw(zones),
        quiet_hours=draw(quiet_hours),
        frequency_cap=draw(caps),
        paused_until=draw(st.none() | moments),
        affinity=draw(st.dictionaries(channels, affinities)),
        provenance=draw(st.dictionaries(provenance_keys, provenances)),
        last_change_source=draw(sources),
    )


def snapshots() -> st.SearchStrategy[PreferenceSnapshot]:
    """Any snapshot the service could hold: explicit choices agreeing with consent, provenance, learned affinity."""
    return any_snapshots().map(without_revoked)


contact_updates = st.builds(
    ContactUpdate,
    email=st.none() | emails,
    phone=st.none() | phones,
    whatsapp=st.none() | phones,
    portal=st.none() | st.text(min_size=1, max_size=20),
)
# Each field is either left out (unset), given, or given as an explicit null.
_UPDATE_FIELDS: dict[str, st.SearchStrategy[Any]] = {
    "channel_order": st.none() | orders,
    "stage_overrides": st.none() | st.dictionaries(stages, orders, max_size=4),
    "interview_scheduling_mode": st.none() | st.sampled_from(["calendar_link", "sms_options"]),
    "documents_mode": st.none() | st.sampled_from(["portal", "direct_to_recruiter"]),
    "voicemail": st.none() | st.booleans(),
    "preferred_call_times": st.none() | short_text,
    "language": st.none() | languages,
    "timezone": st.none() | zones,
    "quiet_hours": st.none() | quiet_hours,
    "frequency_cap": st.none() | caps,
    "paused_until": st.none() | moments,
    "contacts": st.none() | contact_updates,
}
updates = st.fixed_dictionaries({}, optional=_UPDATE_FIELDS).map(lambda fields: PreferenceUpdate(**fields))


def candidates_for(candidate_id: str) -> st.SearchStrategy[CandidateContact]:
    """ATS contact data of one candidate (any opt-ins, locale and time zone)."""
    return st.builds(
        CandidateContact,
        id=st.just(candidate_id),
        name=st.text(min_size=1, max_size=60),
        email=st.none() | emails,
        phone=st.none() | phones,
        locale=st.sampled_from(["nl", "nl-NL", "en", "en-GB", "de-DE", "fr"]),
        timezone=zones,
        opt_ins=st.lists(channels, unique=True, max_size=len(Channel)).map(tuple),
    )


candidates = st.from_regex(r"[A-Za-z0-9][A-Za-z0-9._:@-]{0,30}", fullmatch=True).flatmap(candidates_for)
