"""Property tests of the preference model (hypothesis): whatever the current snapshot and the change,
a new version is valid and exactly one higher (or there is none and nothing changed), explicit choices
carry their provenance and never list a revoked channel, ATS data and learning never override a choice
or a consent, a revocation is never undone by accident, and a snapshot survives its trip through JSON
unchanged."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from schemas.ats import CandidateContact
from schemas.common import ChangeSource, Channel, ConsentState, NotificationStatus, PurposeClass, language_from_locale
from schemas.defaults import default_snapshot
from schemas.preferences import (
    PREFERENCES_EVENT_ADAPTER,
    SNAPSHOT_ADAPTER,
    Affinity,
    ConsentChange,
    PreferencesChangedEvent,
    PreferenceSnapshot,
    PreferenceUpdate,
    Provenance,
)
from services.preference.domain import Proposed, apply_update, first_version, merge_ats_contact, set_consent
from services.preference.learning import SIGNAL, apply_intents, learn
from services.preference.replies import Intent, Kind
from tests.preference.strategies import candidates, candidates_for, channels, moments, snapshots, sources, updates

SETTINGS = settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
PURPOSES = (PurposeClass.APPLICATION, PurposeClass.TALENT_POOL)
DEFAULTS = PreferenceSnapshot(candidate_id="defaults", version=0, updated_at=datetime(2026, 1, 1, tzinfo=UTC))
# The candidate's explicit choices: only an explicit change (or a reply) may touch these.
CHOICES = (
    "channel_order",
    "stage_overrides",
    "interview_scheduling_mode",
    "documents_mode",
    "voicemail",
    "preferred_call_times",
    "language",
    "timezone",
    "quiet_hours",
    "frequency_cap",
    "paused_until",
)
PROVENANCE_KEY = {
    "paused_until": "pause",
    "interview_scheduling_mode": "mode:interview_scheduling",
    "documents_mode": "mode:documents",
}
evidence_texts = st.text(max_size=40) | st.text(min_size=490, max_size=600)


def assert_new_version(current: PreferenceSnapshot, proposed: Proposed | None, now: datetime) -> PreferenceSnapshot:
    """A proposal is a valid snapshot exactly one version higher; None means nothing changed at all."""
    if proposed is None:
        return current
    new = proposed.snapshot
    assert new.version == current.version + 1
    assert new.updated_at == now and new.last_change_source is proposed.source
    assert new.candidate_id == current.candidate_id
    assert PreferenceSnapshot.model_validate(new.model_dump()) == new  # every validator still holds
    assert all(new.stage_overrides.values()), "an emptied stage order is dropped, not kept empty"
    revoked = revoked_channels(new)
    for order in (new.channel_order, *new.stage_overrides.values()):
        assert len(set(order)) == len(order)
        assert not revoked & set(order), "the choices agree with consent: no revoked channel is listed"
    assert proposed.changes  # a version records what it changed
    return new


def revoked_channels(s: PreferenceSnapshot) -> set[Channel]:
    return {c for c in Channel if s.consent_for(c, PurposeClass.APPLICATION).state is ConsentState.REVOKED}


def agreeing(s: PreferenceSnapshot, consent_of: PreferenceSnapshot) -> dict[str, Any]:
    """The orders of `s` without the channels `consent_of` revoked (what a new version must hold)."""
    revoked = revoked_channels(consent_of)
    overrides = {st_: kept for st_, o in s.stage_overrides.items() if (kept := tuple(c for c in o if c not in revoked))}
    return {"channel_order": tuple(c for c in s.channel_order if c not in revoked), "stage_overrides": overrides}


def consent_states(s: PreferenceSnapshot) -> dict[tuple[Channel, PurposeClass], ConsentState]:
    return {(c, p): s.consent_for(c, p).state for c in Channel for p in PURPOSES}


def newly_granted(before: PreferenceSnapshot, after: PreferenceSnapshot) -> set[tuple[Channel, PurposeClass]]:
    old, new = consent_states(before), consent_states(after)
    return {k for k in new if new[k] is ConsentState.GRANTED and old[k] is not ConsentState.GRANTED}


def given_fields(update: PreferenceUpdate, replace_all: bool) -> dict[str, Any]:
    """What a PATCH (set, non-null fields) or a PUT (every field; null = default) asks for."""
    if replace_all:
        fields = {k: getattr(update, k) for k in CHOICES}
        return {k: (v if v is not None else getattr(DEFAULTS, k)) for k, v in fields.items()}
    return {k: getattr(update, k) for k in update.model_fields_set if k in CHOICES and getattr(update, k) is not None}


# --- apply_update ---------------------------------------------------------------------------------------------


@SETTINGS
@given(
    current=snapshots(),
    update=updates,
    source=sources,
    now=moments,
    evidence=evidence_texts,
    replace_all=st.booleans(),
)
def test_apply_update_yields_the_next_valid_version_with_provenance(
    current: PreferenceSnapshot,
    update: PreferenceUpdate,
    source: ChangeSource,
    now: datetime,
    evidence: str,
    replace_all: bool,
) -> None:
    proposed = apply_update(current, update, source, now, evidence, replace_all=replace_all)
    new = assert_new_version(current, proposed, now)
    given = given_fields(update, replace_all)
    # Every asked-for choice is in force (orders without what stays revoked); every other choice is as it was.
    asked = {k: given.get(k, getattr(current, k)) for k in CHOICES}
    asked.update(agreeing(current.model_copy(update=asked), new))
    for key in CHOICES:
        assert getattr(new, key) == asked[key], key
    assert (new.name, new.affinity) == (current.name, current.affinity)
    # Contacts: only the given ones change, and a new address starts valid.
    for field in ("email", "phone", "whatsapp", "portal"):
        wanted = getattr(update.contacts, field) if update.contacts else None
        before, after = getattr(current.contacts, field), getattr(new.contacts, field)
        if wanted is None or (before is not None and before.address == wanted):
            assert after == before, field
        else:
            assert after is not None and after.address == wanted and after.valid
    # Every changed choice says who changed it and when; unchanged ones keep their provenance.
    stamp = Provenance(source=source, at=now, evidence=evidence[:500] or None)
    changed_keys = {
        PROVENANCE_KEY.get(k, k) for k in CHOICES if k != "stage_overrides" and getattr(current, k) != getattr(new, k)
    }
    changed_keys |= {
        f"stage:{s.value}"
        for s in set(current.stage_overrides) | set(new.stage_overrides)
        if current.stage_overrides.get(s) != new.stage_overrides.get(s)
    }
    for key in set(current.provenance) | set(new.provenance) | changed_keys:
        assert new.provenance.get(key) == (stamp if key in changed_keys else current.provenance.get(key)), key
    # Consent: talent-pool is never touched; a channel newly chosen by a person is consent for applications.
    for channel in Channel:
        assert new.consent_for(channel, PurposeClass.TALENT_POOL) == current.consent_for(
            channel, PurposeClass.TALENT_POOL
        )
    for channel, _purpose in newly_granted(current, new):
        assert source in (ChangeSource.SELF_SERVICE, ChangeSource.REPLY, ChangeSource.RECRUITER)
        assert new.consent_for(channel, PurposeClass.APPLICATION).source is source
        if channel in revoked_channels(current):
            assert source in (ChangeSource.SELF_SERVICE, ChangeSource.REPLY), "only the candidate undoes a revocation"


@SETTINGS
@given(current=snapshots(), update=updates, source=sources, now=moments, replace_all=st.booleans())
def test_apply_update_twice_changes_nothing_the_second_time(
    current: PreferenceSnapshot, update: PreferenceUpdate, source: ChangeSource, now: datetime, replace_all: bool
) -> None:
    first = apply_update(current, update, source, now, "e", replace_all=replace_all)
    once = first.snapshot if first else current
    assert apply_update(once, update, source, now, "e", replace_all=replace_all) is None


# --- ATS imports ----------------------------------------------------------------------------------------------


@SETTINGS
@given(data=st.data(), current=snapshots(), now=moments)
def test_ats_data_never_overrides_a_choice_or_a_known_consent(
    data: st.DataObject, current: PreferenceSnapshot, now: datetime
) -> None:
    candidate = data.draw(candidates_for(current.candidate_id))
    proposed = merge_ats_contact(current, candidate, now)
    new = assert_new_version(current, proposed, now)
    for key in (*CHOICES, "affinity", "provenance"):
        if key == "timezone" and "timezone" not in current.provenance:
            continue  # never chosen: the ATS's time zone may refresh it
        assert getattr(new, key) == getattr(current, key), key
    before, after = consent_states(current), consent_states(new)
    for (channel, purpose), state in before.items():
        if state is not ConsentState.UNKNOWN:
            assert new.consent_for(channel, purpose) == current.consent_for(channel, purpose)
        if state is ConsentState.REVOKED:
            assert after[channel, purpose] is ConsentState.REVOKED
    for channel, purpose in newly_granted(current, new):
        assert purpose is PurposeClass.APPLICATION and channel in candidate.opt_ins
        assert new.consent_for(channel, purpose).source is ChangeSource.ATS_IMPORT
    # The same data a second time changes nothing.
    assert merge_ats_contact(new, candidate, now) is None


@SETTINGS
@given(candidate=candidates, now=moments, version=st.integers(0, 5))
def test_a_new_profile_is_email_first_with_only_the_ats_opt_ins(
    candidate: CandidateContact, now: datetime, version: int
) -> None:
    snapshot = default_snapshot(candidate, now, version=version)
    assert snapshot.version == version and snapshot.channel_order == (Channel.EMAIL,)
    assert not snapshot.stage_overrides and not snapshot.provenance and not snapshot.affinity
    for channel in Channel:
        expected = ConsentState.GRANTED if channel in candidate.opt_ins else ConsentState.UNKNOWN
        assert snapshot.consent_for(channel, PurposeClass.APPLICATION).state is expected
        assert snapshot.consent_for(channel, PurposeClass.TALENT_POOL).state is ConsentState.UNKNOWN
    assert snapshot.language == language_from_locale(candidate.locale) and snapshot.timezone == candidate.timezone
    assert (snapshot.contacts.email.address if snapshot.contacts.email else None) == candidate.email
    assert (snapshot.contacts.phone.address if snapshot.contacts.phone else None) == candidate.phone
    first = first_version(candidate, now)
    assert first.snapshot == default_snapshot(candidate, now, version=1)
    assert first.source is ChangeSource.ATS_IMPORT and first.changes


# --- consent --------------------------------------------------------------------------------------------------


@SETTINGS
@given(
    current=snapshots(),
    change=st.builds(
        ConsentChange,
        channel=channels,
        purpose_class=st.sampled_from(PURPOSES),
        state=st.sampled_from(["granted", "revoked"]),
        source=st.sampled_from(list(ChangeSource)),
        evidence=st.none() | st.text(max_size=40),
    ),
    now=moments,
)
def test_set_consent_records_exactly_the_decision(
    current: PreferenceSnapshot, change: ConsentChange, now: datetime
) -> None:
    new = assert_new_version(current, set_consent(current, change, now), now)
    record = new.consent_for(change.channel, change.purpose_class)
    assert (record.state.value, record.source, record.at) == (change.state, change.source, now)
    if change.purpose_class is PurposeClass.APPLICATION and change.state == "revoked":
        assert new.consent_for(change.channel, PurposeClass.TALENT_POOL) == record  # revokes talent-pool too
    elif change.purpose_class is PurposeClass.APPLICATION:
        talent = PurposeClass.TALENT_POOL
        assert new.consent_for(change.channel, talent) == current.consent_for(change.channel, talent)
    else:
        app = PurposeClass.APPLICATION
        assert new.consent_for(change.channel, app) == current.consent_for(change.channel, app)
    for channel in set(Channel) - {change.channel}:
        assert new.consent.get(channel) == current.consent.get(channel)
    expected = {key: getattr(current, key) for key in (*CHOICES, "contacts", "affinity", "provenance")}
    expected.update(agreeing(current, new))  # a revoked channel leaves the orders; nothing else moves
    for key, value in expected.items():
        assert getattr(new, key) == value, key


# --- replies and learning -------------------------------------------------------------------------------------

stop_like = st.one_of(
    st.just(Intent(Kind.STOP)),
    st.builds(Intent, kind=st.just(Kind.STOP), channel=channels),
    st.builds(Intent, kind=st.just(Kind.AVOID), channel=channels),
    st.just(Intent(Kind.NO_VOICEMAIL)),
)
any_intent = st.one_of(
    stop_like,
    st.just(Intent(Kind.START)),
    st.builds(Intent, kind=st.just(Kind.PREFER), channel=channels, only=st.booleans()),
)


@SETTINGS
@given(current=snapshots(), intents=st.lists(stop_like, min_size=1, max_size=4), channel=channels, now=moments)
def test_a_stop_never_grants_anything(
    current: PreferenceSnapshot, intents: list[Intent], channel: Channel, now: datetime
) -> None:
    new = assert_new_version(current, apply_intents(current, intents, channel, "STOP", now), now)
    assert newly_granted(current, new) == set()
    for intent in intents:
        if intent.kind in (Kind.STOP, Kind.AVOID):
            for purpose in PURPOSES:
                assert new.consent_for(intent.channel or channel, purpose).state is ConsentState.REVOKED
    if all(i.kind is Kind.STOP for i in intents):
        # STOP revokes and the revoked channel leaves the orders; nothing is rearranged otherwise.
        assert new.channel_order == agreeing(current, new)["channel_order"]
    assert new.stage_overrides == agreeing(current, new)["stage_overrides"]
    for key in ("language", "timezone", "quiet_hours", "frequency_cap", "paused_until"):
        assert getattr(new, key) == getattr(current, key), key


@SETTINGS
@given(
    current=snapshots(),
    intents=st.lists(any_intent, min_size=1, max_size=4),
    channel=channels,
    text=st.text(max_size=600),
    now=moments,
)
def test_any_reply_yields_the_next_valid_version(
    current: PreferenceSnapshot, intents: list[Intent], channel: Channel, text: str, now: datetime
) -> None:
    new = assert_new_version(current, apply_intents(current, intents, channel, text, now), now)
    for channel_, purpose in newly_granted(current, new):
        assert purpose is PurposeClass.APPLICATION
        assert new.consent_for(channel_, purpose).source is ChangeSource.REPLY


@SETTINGS
@given(current=snapshots(), channel=channels, status=st.sampled_from(list(NotificationStatus)), now=moments)
def test_learning_never_changes_a_choice_and_keeps_scores_in_range(
    current: PreferenceSnapshot, channel: Channel, status: NotificationStatus, now: datetime
) -> None:
    proposed = learn(current, channel, status, now)
    if status not in SIGNAL:
        assert proposed is None
        return
    new = assert_new_version(current, proposed, now)
    for key in (*CHOICES, "contacts", "consent", "provenance", "name"):
        assert getattr(new, key) == getattr(current, key), key
    assert all(0.0 <= a.score <= 1.0 for a in new.affinity.values())
    assert new.affinity[channel].samples == current.affinity.get(channel, Affinity()).samples + 1
    assert {c: a for c, a in new.affinity.items() if c != channel} == {
        c: a for c, a in current.affinity.items() if c != channel
    }


# --- serialisation --------------------------------------------------------------------------------------------


@SETTINGS
@given(snapshot=snapshots())
def test_a_snapshot_survives_json_unchanged(snapshot: PreferenceSnapshot) -> None:
    raw = snapshot.model_dump_json()
    again = SNAPSHOT_ADAPTER.validate_json(raw)
    assert again == snapshot
    assert again.model_dump_json() == raw
    event = PreferencesChangedEvent.of(snapshot)
    assert PREFERENCES_EVENT_ADAPTER.validate_json(event.model_dump_json()) == event
