"""The stored choices agree with consent: "niet bellen" takes voice out of the orders the page shows, only the
candidate can bring a revoked channel back, and an ATS contact point that cannot be used is marked invalid
(with a notice for the ATS) instead of refusing the candidate's event."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from schemas.ats import CandidateContact
from schemas.common import ChangeSource, Channel, ConsentState, NotificationStatus, PurposeClass, Stage
from schemas.preferences import (
    ChannelConsent,
    ConsentChange,
    ConsentRecord,
    PreferenceSnapshot,
    PreferenceUpdate,
    Provenance,
)
from services.preference.contacts import contact_invalid_events
from services.preference.domain import apply_update, first_version, mark_contact_invalid, merge_ats_contact, set_consent
from services.preference.learning import apply_intents, learn
from services.preference.replies import parse
from services.preference.selfservice import form_values

NOW = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
APP = PurposeClass.APPLICATION
GRANTED = ConsentRecord(state=ConsentState.GRANTED, source=ChangeSource.SELF_SERVICE, at=NOW - timedelta(days=3))


def calls_first(order: tuple[Channel, ...] = (Channel.VOICE, Channel.EMAIL)) -> PreferenceSnapshot:
    """A candidate who chose calls first, and calls again for interview scheduling."""
    return PreferenceSnapshot(
        candidate_id="cand-1",
        version=3,
        updated_at=NOW - timedelta(days=1),
        consent={Channel.VOICE: ChannelConsent(application=GRANTED), Channel.SMS: ChannelConsent(application=GRANTED)},
        channel_order=order,
        stage_overrides={
            Stage.INTERVIEW_SCHEDULING: (Channel.VOICE, Channel.SMS),
            Stage.OFFER: (Channel.VOICE,),
        },
        provenance={"channel_order": Provenance(source=ChangeSource.SELF_SERVICE, at=NOW - timedelta(days=3))},
    )


def reply(current: PreferenceSnapshot, text: str, channel: Channel = Channel.SMS) -> PreferenceSnapshot:
    proposed = apply_intents(current, parse(text), channel, text, NOW)
    assert proposed is not None
    return proposed.snapshot


@pytest.mark.parametrize("text", ["niet bellen", "don't call", "Bel me niet meer aub", "no calls please"])
def test_dont_call_revokes_voice_and_takes_it_out_of_every_order(text: str) -> None:
    new = reply(calls_first(), text)
    assert new.consent_for(Channel.VOICE, APP).state is ConsentState.REVOKED
    assert new.channel_order == (Channel.EMAIL,)
    assert new.stage_overrides == {Stage.INTERVIEW_SCHEDULING: (Channel.SMS,)}  # offer had only voice: dropped
    shown = form_values(new, NOW)
    assert "voice" not in shown.values()  # the page shows no call as a choice


def test_a_lone_voice_choice_leaves_an_empty_order_not_an_invented_one() -> None:
    new = reply(calls_first(order=(Channel.VOICE,)), "niet bellen")
    assert new.channel_order == ()  # the router then says nothing is chosen and uses its defaults


def test_the_api_revocation_and_a_stop_keep_the_choices_in_line_too() -> None:
    change = ConsentChange(channel=Channel.VOICE, state="revoked", source=ChangeSource.RECRUITER, evidence="phone")
    by_api = set_consent(calls_first(), change, NOW)
    assert by_api is not None and Channel.VOICE not in by_api.snapshot.channel_order
    stopped = reply(calls_first(), "STOP", channel=Channel.SMS)
    assert stopped.stage_overrides == {Stage.INTERVIEW_SCHEDULING: (Channel.VOICE,), Stage.OFFER: (Channel.VOICE,)}


def test_a_recruiter_cannot_put_a_revoked_channel_back_but_the_candidate_can() -> None:
    revoked = reply(calls_first(), "niet bellen")
    wanted = PreferenceUpdate(channel_order=(Channel.VOICE, Channel.EMAIL))
    by_recruiter = apply_update(revoked, wanted, ChangeSource.RECRUITER, NOW, "called the candidate")
    assert by_recruiter is None  # nothing changes: voice stays revoked and out of the order
    by_candidate = apply_update(revoked, wanted, ChangeSource.SELF_SERVICE, NOW, "page v3")
    assert by_candidate is not None
    assert by_candidate.snapshot.channel_order == (Channel.VOICE, Channel.EMAIL)
    assert by_candidate.snapshot.consent_for(Channel.VOICE, APP).state is ConsentState.GRANTED


def test_a_snapshot_stored_before_the_rule_is_healed_by_its_next_version() -> None:
    revoked = ConsentRecord(state=ConsentState.REVOKED, source=ChangeSource.REPLY, at=NOW - timedelta(days=2))
    legacy = calls_first().model_copy(update={"consent": {Channel.VOICE: ChannelConsent(application=revoked)}})
    healed = learn(legacy, Channel.EMAIL, NotificationStatus.READ, NOW)
    assert healed is not None and healed.snapshot.channel_order == (Channel.EMAIL,)
    assert "channel_order" in healed.changes


# --- contact points from the ATS -----------------------------------------------------------------------------


def contact(**fields: str) -> CandidateContact:
    return CandidateContact.model_validate({"id": "cand-1", "name": "Sanne", **fields})


def test_an_unassigned_number_is_marked_invalid_and_the_email_still_works() -> None:
    first = first_version(contact(email="sanne@example.org", phone="+31012345678"), NOW).snapshot
    phone, email = first.contacts.phone, first.contacts.email
    assert phone is not None and not phone.valid and phone.invalid_since == NOW
    assert phone.invalid_reason == "not an assigned phone number range in its country"
    assert email is not None and email.valid
    (notice,) = contact_invalid_events(first)
    assert notice.type == "candidate.contact.invalid" and notice.subject == "cand-1"
    assert notice.data.contact == "phone" and notice.data.detected_by is ChangeSource.ATS_IMPORT
    assert set(notice.data.channels) == {Channel.SMS, Channel.VOICE, Channel.WHATSAPP}
    assert "+31012345678" not in notice.model_dump_json() and "12345678" not in notice.model_dump_json()
    assert notice.id == contact_invalid_events(first)[0].id  # deterministic: a republished version repeats it


def test_a_later_version_does_not_repeat_the_notice_and_a_new_number_is_checked_again() -> None:
    first = first_version(contact(phone="+31012345678"), NOW).snapshot
    later = NOW + timedelta(hours=1)
    same = merge_ats_contact(first, contact(phone="+31012345678", name="Sanne V"), later)
    assert same is not None and not contact_invalid_events(same.snapshot)  # the name changed, not the phone
    fixed = merge_ats_contact(same.snapshot, contact(phone="+31612345678"), later)
    assert fixed is not None and fixed.snapshot.contacts.phone is not None and fixed.snapshot.contacts.phone.valid
    assert not contact_invalid_events(fixed.snapshot)


def test_an_undeliverable_domain_is_marked_invalid_not_refused() -> None:
    first = first_version(contact(email="sanne@xn--zz.org"), NOW).snapshot
    assert first.contacts.email is not None and not first.contacts.email.valid
    (notice,) = contact_invalid_events(first)
    assert notice.data.contact == "email" and "xn--zz" not in notice.model_dump_json()


def test_a_hard_bounce_is_announced_as_found_by_delivery() -> None:
    first = first_version(contact(email="sanne@example.org"), NOW).snapshot
    bounced = mark_contact_invalid(first, Channel.EMAIL, "550 no such user", NOW + timedelta(minutes=5))
    assert bounced is not None
    (notice,) = contact_invalid_events(bounced.snapshot)
    assert notice.data.detected_by is ChangeSource.DELIVERY and notice.data.channels == (Channel.EMAIL,)
