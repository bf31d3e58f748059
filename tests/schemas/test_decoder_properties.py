"""Property tests of the event decoders (hypothesis): whatever bytes arrive on a topic, every decoder
returns a model or raises DecodeError with a documented kind (never another exception, which would
stall a partition on a poison record), and the reason never echoes a value from the record."""

from __future__ import annotations

import json
from datetime import UTC, datetime, time, timedelta
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import BaseModel

from schemas.ats import ATS_EVENT_ADAPTER, ATS_EVENT_TYPES
from schemas.candidate_events import CANDIDATE_EVENT_ADAPTER, CANDIDATE_EVENT_TYPES, SlotChosen, SlotChosenEvent
from schemas.common import ChangeSource, Channel, ConsentState, NotificationStatus, Stage
from schemas.dispatch import DISPATCH_ADAPTER, DISPATCH_TYPES, DeliverMessage, DeliverMessageCommand, MessageContext
from schemas.envelope import DecodeError, EventDecoder
from schemas.inbound import INBOUND_ADAPTER, INBOUND_TYPES, InboundReply, InboundReplyEvent
from schemas.preferences import (
    PREFERENCES_CHANGED_TYPE,
    PREFERENCES_EVENT_ADAPTER,
    Affinity,
    ChannelConsent,
    ConsentRecord,
    ContactPoint,
    Contacts,
    FrequencyCap,
    PreferencesChangedEvent,
    PreferenceSnapshot,
    Provenance,
    QuietHours,
)
from schemas.status import STATUS_ADAPTER, STATUS_TYPES, NotificationStatusEvent, StatusChange
from services.common.kafka import DECODE_ERROR_KINDS
from tests.support import ats_event

LIMIT = 256 * 1024
CANARY = "Zq7canary"  # mixed case: survives no lower-casing, matches no field name or message
NOW = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)

DECODERS: dict[str, EventDecoder[Any]] = {
    "ats": EventDecoder(ATS_EVENT_ADAPTER, ATS_EVENT_TYPES, LIMIT),
    "status": EventDecoder(STATUS_ADAPTER, STATUS_TYPES, LIMIT),
    "dispatch": EventDecoder(DISPATCH_ADAPTER, DISPATCH_TYPES, LIMIT),
    "inbound": EventDecoder(INBOUND_ADAPTER, INBOUND_TYPES, LIMIT),
    "preferences": EventDecoder(PREFERENCES_EVENT_ADAPTER, frozenset({PREFERENCES_CHANGED_TYPE}), LIMIT),
    "candidate_events": EventDecoder(CANDIDATE_EVENT_ADAPTER, CANDIDATE_EVENT_TYPES, LIMIT),
}


def _json(model: BaseModel) -> dict[str, Any]:
    return model.model_dump(mode="json")  # type: ignore[no-any-return]


def _valid_events() -> dict[str, list[dict[str, Any]]]:
    """One or more valid records per decoder, as JSON objects, to mutate."""
    ats = [
        ats_event(kind, email="sanne@example.org", phone="+31612345678", opt_ins=("sms",), time_=NOW)
        for kind in sorted(ATS_EVENT_TYPES)
    ]
    status = StatusChange(
        notification_id="n-1",
        ats_event_id="e-1",
        candidate_id="cand-1",
        application_id="app-1",
        status=NotificationStatus.SENT,
        channel=Channel.SMS,
        stage=Stage.INTERVIEW_SCHEDULING,
        provider="twilio-sms",
        provider_ref="SM123",
        occurred_at=NOW,
        event_time=NOW,
    )
    deliver = DeliverMessage(
        notification_id="n-1",
        ats_event_id="e-1",
        candidate_id="cand-1",
        application_id="app-1",
        channel=Channel.EMAIL,
        stage=Stage.INTERVIEW_SCHEDULING,
        template="interview_invite",
        language="nl",
        to="sanne@example.org",
        context=MessageContext(
            candidate_name="Sanne",
            job_title="Data engineer",
            interview_id="iv-1",
            interview_start=NOW + timedelta(days=2),
            interview_end=NOW + timedelta(days=2, hours=1),
            interview_video_link="https://meet.example.org/abc",  # type: ignore[arg-type]
            slot_options=(NOW + timedelta(days=3),),
        ),
        reasons=("e-mail is first in the candidate's order",),
        event_time=NOW,
        decided_at=NOW,
        preference_version=3,
    )
    inbound = InboundReply(
        candidate_id="cand-1",
        channel=Channel.SMS,
        text="optie 2",
        received_at=NOW,
        in_reply_to="n-1",
        slot_options=(NOW + timedelta(days=1), NOW + timedelta(days=2)),
    )
    record = ConsentRecord(state=ConsentState.GRANTED, source=ChangeSource.REPLY, at=NOW, evidence="START")
    snapshot = PreferenceSnapshot(
        candidate_id="cand-1",
        version=4,
        updated_at=NOW,
        name="Sanne de Vries",
        contacts=Contacts(
            email=ContactPoint(address="sanne@example.org"),
            phone=ContactPoint(address="+31612345678", valid=False, invalid_reason="bounced"),
        ),
        consent={Channel.SMS: ChannelConsent(application=record), Channel.EMAIL: ChannelConsent()},
        channel_order=(Channel.SMS, Channel.EMAIL),
        stage_overrides={Stage.OFFER: (Channel.VOICE, Channel.EMAIL)},
        quiet_hours=QuietHours(start=time(22, 0), end=time(7, 30)),
        frequency_cap=FrequencyCap(per_day=3),
        paused_until=NOW + timedelta(days=1),
        affinity={Channel.SMS: Affinity(score=0.7, samples=3, updated_at=NOW)},
        provenance={"channel_order": Provenance(source=ChangeSource.REPLY, at=NOW, evidence="liever sms")},
        last_change_source=ChangeSource.REPLY,
    )
    common = {"id": "ev-1", "source": "urn:test", "time": NOW, "subject": "cand-1"}
    return {
        "ats": ats,
        "status": [_json(NotificationStatusEvent(data=status, **common))],  # type: ignore[arg-type]
        "dispatch": [_json(DeliverMessageCommand(data=deliver, **common))],  # type: ignore[arg-type]
        "inbound": [_json(InboundReplyEvent(data=inbound, **common))],  # type: ignore[arg-type]
        "preferences": [_json(PreferencesChangedEvent.of(snapshot))],
        "candidate_events": [
            _json(
                SlotChosenEvent(
                    data=SlotChosen(candidate_id="cand-1", option=2, channel=Channel.SMS, start=NOW),
                    **common,  # type: ignore[arg-type]
                )
            )
        ],
    }


VALID = _valid_events()


def check(name: str, raw: bytes | None) -> DecodeError | None:
    """Decode with one decoder: a model or a DecodeError of a documented kind, whose reason hides CANARY."""
    try:
        DECODERS[name].decode(raw)
    except DecodeError as err:
        error = err
    else:
        return None
    assert error.kind in DECODE_ERROR_KINDS, error.kind
    assert error.reason
    assert CANARY not in error.reason, error.reason
    assert CANARY not in str(error)
    return error


def test_every_base_event_is_valid() -> None:
    for name, events in VALID.items():
        for event in events:
            assert check(name, json.dumps(event).encode()) is None, (name, event["type"])


# --- strategies -------------------------------------------------------------------------------------------------

decoder_names = st.sampled_from(sorted(DECODERS))
canary_text = st.builds(lambda a, b: f"{a}{CANARY}{b}", st.text(max_size=8), st.text(max_size=8))
# JSON scalars that may carry the canary; strings of any unicode (surrogates are escaped by json.dumps).
scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.integers(min_value=-(10**40), max_value=10**40),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=30),
    canary_text,
    st.sampled_from(["", " ", "\x00", "1.0", "+31612345678", "Europe/Amsterdam", "America", "email", "2026-01-01"]),
)
safe_keys = st.text(alphabet="abcdefghijklmnopqrstuvwxyz_.[]0123456789", max_size=12)
garbage = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(safe_keys, inner, max_size=4),
    max_leaves=12,
)
# Values that are special to some validator: directories and over-long names for time zones, odd numbers.
tricky = st.sampled_from(
    ["America", "Europe", "a" * 300, "../../etc/passwd", "+" + "1" * 300, "\x00", "x@" + "b" * 300, "-1", "1e999"]
)
huge = st.builds(
    lambda ch, n: ch * n + CANARY, st.sampled_from(["a", "é", "😀", "\u202e", " "]), st.integers(200, 5000)
)


def _paths(node: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Every path to a node of a JSON document (the root excluded)."""
    out: list[tuple[Any, ...]] = []
    children = node.items() if isinstance(node, dict) else enumerate(node) if isinstance(node, list) else ()
    for key, child in children:
        out.append((*prefix, key))
        out.extend(_paths(child, (*prefix, key)))
    return out


def _parent(doc: Any, path: tuple[Any, ...]) -> Any:
    for key in path[:-1]:
        doc = doc[key]
    return doc


def _retype(value: Any) -> Any:
    """The same content in a JSON type the field does not expect."""
    if isinstance(value, str):
        return [value]
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, int | float):
        return str(value)
    if isinstance(value, list):
        return dict(enumerate(map(str, value)))
    if isinstance(value, dict):
        return list(value.values())
    return 0


@st.composite
def mutated_events(draw: st.DrawFn) -> tuple[str, dict[str, Any]]:
    """A valid record of some decoder, with a canary in string values and 1-4 mutations anywhere."""
    name = draw(decoder_names)
    doc = json.loads(json.dumps(draw(st.sampled_from(VALID[name]))))
    for _ in range(draw(st.integers(1, 4))):
        paths = _paths(doc)
        if not paths:
            break
        path = draw(st.sampled_from(paths))
        parent, key = _parent(doc, path), path[-1]
        op = draw(st.sampled_from(["drop", "replace", "retype", "huge", "canary", "extra", "tricky"]))
        if op == "drop" and isinstance(parent, dict):
            del parent[key]
        elif op == "retype":
            parent[key] = _retype(parent[key])
        elif op == "huge":
            parent[key] = draw(huge)
        elif op == "canary":
            old = parent[key]
            parent[key] = f"{old}{CANARY}" if isinstance(old, str) else draw(canary_text)
        elif op == "tricky":
            parent[key] = draw(tricky)
        elif op == "extra" and isinstance(parent, dict):
            parent[draw(safe_keys)] = draw(garbage)
        else:
            parent[key] = draw(garbage)
    return name, doc


SETTINGS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


# --- properties -------------------------------------------------------------------------------------------------


@SETTINGS
@given(name=decoder_names, raw=st.binary(max_size=2048))
def test_arbitrary_bytes_are_classified(name: str, raw: bytes) -> None:
    err = check(name, raw)
    assert err is not None and err.kind in {"malformed_json", "invalid_envelope", "invalid_data"}


@SETTINGS
@given(name=decoder_names, value=garbage)
def test_arbitrary_json_is_classified(name: str, value: Any) -> None:
    check(name, json.dumps(value).encode())


@SETTINGS
@given(
    name=decoder_names,
    fields=st.dictionaries(
        st.sampled_from(["specversion", "id", "source", "type", "time", "subject", "datacontenttype", "data"]),
        garbage,
    ),
)
def test_envelope_shaped_garbage_is_classified(name: str, fields: dict[str, Any]) -> None:
    check(name, json.dumps(fields).encode())


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(mutated_events())
def test_mutated_valid_events_are_decoded_or_classified(named: tuple[str, dict[str, Any]]) -> None:
    name, doc = named
    check(name, json.dumps(doc).encode())
    check(name, json.dumps(doc, ensure_ascii=False).encode())


@SETTINGS
@given(named=mutated_events(), cut=st.integers(0, 200))
def test_truncated_events_are_classified(named: tuple[str, dict[str, Any]], cut: int) -> None:
    name, doc = named
    raw = json.dumps(doc).encode()
    check(name, raw[: max(0, len(raw) - 1 - cut)])


@pytest.mark.parametrize("name", sorted(DECODERS))
@pytest.mark.parametrize(
    "raw",
    [
        None,
        b"",
        b"[" * 100_000,
        b'{"data":' * 30_000,
        b'{"a": ' + b"[" * 300 + b"]" * 300 + b"}",
        b"x" * (LIMIT + 1),
        "\ufeff{}".encode(),
        b'{"id": "\\ud800"}',
        b"NaN",
        b'{"specversion": "1.0", "specversion": "0.3"}',
        "{}".encode("utf-16"),
        b"1" * 5000,
    ],
    ids=lambda r: repr(r[:20]) if isinstance(r, bytes) else str(r),
)
def test_edge_cases_are_classified(name: str, raw: bytes | None) -> None:
    check(name, raw)


@pytest.mark.parametrize("timezone", ["America", "Europe/", "a" * 300, "Europe/Amsterdam\x00", ""])
def test_a_time_zone_that_names_no_file_is_invalid_data(timezone: str) -> None:
    err = check("ats", json.dumps(ats_event("ats.application.received", timezone=timezone, time_=NOW)).encode())
    assert err is not None and err.kind == "invalid_data" and "timezone" in err.reason
