"""The contract: envelope decoding and its error classes, ids, topics, defaults, state order."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from schemas.ats import ATS_EVENT_ADAPTER, ATS_EVENT_TYPES, CandidateContact, InterviewScheduled
from schemas.common import STATUS_RANK, ChangeSource, Channel, ConsentState, NotificationStatus, PurposeClass
from schemas.defaults import default_snapshot
from schemas.envelope import DecodeError, EventDecoder
from schemas.ids import notification_id
from schemas.topics import ATS_ACCEPTED, ATS_EVENTS, DLQ_SUFFIX, PREFERENCES_CHANGED, TOPICS, TOPICS_BY_NAME
from tests.support import ats_event

DECODER = EventDecoder(ATS_EVENT_ADAPTER, ATS_EVENT_TYPES, max_bytes=64 * 1024)


def test_a_valid_event_decodes_to_its_type() -> None:
    event = DECODER.decode(json.dumps(ats_event("ats.interview.scheduled")).encode())
    assert isinstance(event, InterviewScheduled)
    assert event.data.interview.start.tzinfo is not None


@pytest.mark.parametrize(
    ("raw", "kind"),
    [
        (b"{not json", "malformed_json"),
        (b"[1, 2]", "invalid_envelope"),
        (json.dumps({"id": "x"}).encode(), "invalid_envelope"),
        (json.dumps(ats_event("ats.interview.scheduled") | {"specversion": "0.3"}).encode(), "invalid_envelope"),
        (json.dumps(ats_event("ats.unknown.thing")).encode(), "unknown_type"),
        (json.dumps(ats_event("ats.interview.scheduled") | {"data": {}}).encode(), "invalid_data"),
        (b"x" * (64 * 1024 + 1), "payload_too_large"),
        (None, "missing_value"),
    ],
)
def test_bad_input_is_classified(raw: bytes | None, kind: str) -> None:
    with pytest.raises(DecodeError) as err:
        DECODER.decode(raw)
    assert err.value.kind == kind
    assert err.value.reason


def test_reasons_never_echo_input_values() -> None:
    event = ats_event("ats.interview.scheduled", email="secret-person@example.org", phone="06-1234 5678")
    with pytest.raises(DecodeError) as err:
        DECODER.decode(json.dumps(event).encode())
    assert err.value.kind == "invalid_data"
    assert "phone" in err.value.reason
    assert "1234" not in err.value.reason and "secret-person" not in err.value.reason


def test_subject_must_be_the_candidate() -> None:
    event = ats_event("ats.interview.scheduled", "cand-1") | {"subject": "cand-2"}
    with pytest.raises(DecodeError, match="subject must equal"):
        DECODER.decode(json.dumps(event).encode())


def test_interview_must_end_after_it_starts() -> None:
    event = ats_event("ats.interview.scheduled")
    event["data"]["interview"]["end"] = event["data"]["interview"]["start"]
    with pytest.raises(DecodeError, match="end must be after"):
        DECODER.decode(json.dumps(event).encode())


def test_unknown_extra_fields_are_tolerated() -> None:
    event = ats_event("ats.application.received")
    event["data"]["candidate"]["shoe_size"] = 44
    event["traceparent"] = "00-abc"
    assert DECODER.decode(json.dumps(event).encode()).subject == "cand-1"


def test_notification_ids_are_deterministic_and_distinct() -> None:
    a = notification_id("ev-1", "interview_invite", 1)
    assert a == notification_id("ev-1", "interview_invite", 1)
    others = {
        notification_id("ev-2", "interview_invite", 1),
        notification_id("ev-1", "reminder:iv:24h", 1),
        notification_id("ev-1", "interview_invite", 2),
    }
    assert a not in others and len(others) == 3


def test_topics_are_co_partitioned_keyed_and_owned() -> None:
    assert TOPICS_BY_NAME[PREFERENCES_CHANGED].cleanup_policy == "compact"
    for spec in TOPICS:
        assert spec.writers, spec.name
        assert spec.key == "candidate id"
        # Only the ATS's input and dead letters are partitioned by whoever wrote them; everything else by us.
        assert spec.co_partitioned == (spec.name != ATS_EVENTS and not spec.name.endswith(DLQ_SUFFIX)), spec.name
        if spec.cleanup_policy == "delete":
            assert int(spec.kafka_config()["retention.ms"]) <= 30 * 24 * 3600 * 1000, "retention is bounded"
    inputs = {r for spec in TOPICS for r in spec.readers}
    assert {"router", "preference", "notifier"} <= inputs
    for spec in TOPICS:
        if not spec.name.endswith(DLQ_SUFFIX) and set(spec.readers) - {"ats"}:
            assert spec.name + DLQ_SUFFIX in TOPICS_BY_NAME, f"{spec.name} has readers but no DLQ"
    assert TOPICS_BY_NAME[ATS_EVENTS].writers == ("ats", "connectors")
    assert TOPICS_BY_NAME[ATS_EVENTS].readers == ("preference",), "the preference service is the single entry"
    assert TOPICS_BY_NAME[ATS_ACCEPTED].writers == ("preference",) and TOPICS_BY_NAME[ATS_ACCEPTED].readers == (
        "router",
    )


def test_default_preferences_from_ats_contact_data() -> None:
    now = datetime(2026, 11, 20, tzinfo=UTC)
    contact = CandidateContact(
        id="c1",
        name="Sam",
        email="sam@example.org",
        phone="+31612345678",
        locale="en-GB",
        timezone="Europe/London",
        opt_ins=(Channel.SMS,),
    )
    snap = default_snapshot(contact, now)
    assert snap.version == 0 and snap.channel_order == (Channel.EMAIL,)
    assert snap.language == "en" and snap.timezone == "Europe/London"
    sms = snap.consent_for(Channel.SMS, PurposeClass.APPLICATION)
    assert sms.state is ConsentState.GRANTED and sms.source is ChangeSource.ATS_IMPORT
    assert snap.consent_for(Channel.SMS, PurposeClass.TALENT_POOL).state is ConsentState.UNKNOWN
    assert snap.consent_for(Channel.WHATSAPP, PurposeClass.APPLICATION).state is ConsentState.UNKNOWN


def test_states_only_move_forward_and_owners_are_disjoint() -> None:
    from schemas.common import NOTIFIER_STATES, ROUTER_STATES, is_forward

    # Only `suppressed` is shared: whoever finds the candidate erased says so, and it is final.
    shared = ROUTER_STATES & NOTIFIER_STATES
    assert shared == {NotificationStatus.SUPPRESSED}
    assert max(STATUS_RANK, key=STATUS_RANK.__getitem__) is NotificationStatus.SUPPRESSED
    assert set(NotificationStatus) == ROUTER_STATES | NOTIFIER_STATES
    assert is_forward(NotificationStatus.SENT, NotificationStatus.DELIVERED)
    assert not is_forward(NotificationStatus.READ, NotificationStatus.DELIVERED)  # a late `delivered` is ignored
    assert len(set(STATUS_RANK.values())) == len(STATUS_RANK)
