"""The pure parts of adding a contact point: reading the form, what a correct code stores, the ATS merge, pauses."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from schemas.ats import CandidateContact
from schemas.common import ChangeSource, Channel, ConsentState, PurposeClass
from schemas.defaults import default_snapshot
from services.preference.domain import merge_ats_contact
from services.preference.selfservice import FormError, pause_end
from services.preference.verification import (
    EVIDENCE,
    Challenge,
    code_hash,
    code_matches,
    normalised_phone,
    read_contact_request,
    verified,
)

NOW = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
CANDIDATE = CandidateContact(id="c1", name="Sanne", email="sanne@example.org", locale="nl-NL")


def test_a_dutch_national_number_becomes_e164_and_the_channels_are_the_ticked_ones() -> None:
    assert normalised_phone("06 1234-5678") == "+31612345678"
    assert normalised_phone("0044 7700 900123") == "+447700900123"
    request = read_contact_request("phone", " 06 12345678 ", ["sms", "voice", "email"], "voice")
    assert (request.address, request.channels, request.first) == (
        "+31612345678",
        (Channel.SMS, Channel.VOICE),
        Channel.VOICE,
    )


@pytest.mark.parametrize(
    ("kind", "address", "use", "first", "error"),
    [
        ("phone", "12", ["sms"], "", "err_phone"),
        ("phone", "+31612345678", [], "", "err_use_none"),
        ("phone", "+31612345678", ["sms"], "whatsapp", "err_first"),
        ("email", "not an address", [], "", "err_email"),
        ("portal", "x", [], "", "err_field"),
    ],
)
def test_a_wrong_request_names_what_is_wrong(kind: str, address: str, use: list[str], first: str, error: str) -> None:
    with pytest.raises(FormError) as refused:
        read_contact_request(kind, address, use, first)
    assert refused.value.key == error


def test_only_the_code_sent_matches_and_spaces_are_forgiven() -> None:
    request = read_contact_request("phone", "+31612345678", ["sms"], "")
    challenge = Challenge("ch1", "c1", request, code_hash(b"k", "ch1", "042917"), NOW, NOW + timedelta(minutes=10))
    assert code_matches(b"k", challenge, "042 917")
    assert not code_matches(b"k", challenge, "042918")
    assert not code_matches(b"other key", challenge, "042917")


def test_a_correct_code_verifies_the_number_grants_consent_and_puts_the_channel_first() -> None:
    current = default_snapshot(CANDIDATE, NOW, version=1)
    request = read_contact_request("phone", "+31612345678", ["sms", "whatsapp"], "sms")
    step = verified(current, request, NOW)
    assert step is not None and step.source is ChangeSource.SELF_SERVICE
    s = step.snapshot
    assert s.version == 2 and s.contacts.phone is not None and s.contacts.phone.verified_at == NOW
    for channel in (Channel.SMS, Channel.WHATSAPP):
        record = s.consent_for(channel, PurposeClass.APPLICATION)
        assert (record.state, record.source, record.evidence) == (
            ConsentState.GRANTED,
            ChangeSource.SELF_SERVICE,
            EVIDENCE,
        )
    assert s.consent_for(Channel.VOICE, PurposeClass.APPLICATION).state is ConsentState.UNKNOWN
    assert s.channel_order[0] is Channel.SMS and s.provenance["contact:phone"].at == NOW


def test_a_verified_number_is_not_replaced_by_the_ats_which_is_noted_beside_it() -> None:
    request = read_contact_request("phone", "+31612345678", ["sms"], "")
    step = verified(default_snapshot(CANDIDATE, NOW, version=1), request, NOW)
    assert step is not None
    later = merge_ats_contact(step.snapshot, CANDIDATE.model_copy(update={"phone": "+31687654321"}), NOW)
    assert later is not None and later.snapshot.contacts.phone is not None
    assert later.snapshot.contacts.phone.address == "+31612345678"
    assert later.snapshot.contacts.phone.ats_address == "+31687654321"
    agreed = merge_ats_contact(later.snapshot, CANDIDATE.model_copy(update={"phone": "+31612345678"}), NOW)
    assert agreed is not None and agreed.snapshot.contacts.phone.ats_address is None  # type: ignore[union-attr]


def test_a_pause_up_to_a_date_ends_at_the_start_of_the_next_local_day() -> None:
    end = pause_end("2026-11-30", "Europe/Amsterdam", NOW)
    assert end == datetime(2026, 11, 30, 23, 0, tzinfo=UTC)
    for bad in ("2026-11-20", "2028-01-01", "30-11-2026"):
        with pytest.raises(FormError):
            pause_end(bad, "Europe/Amsterdam", NOW)
