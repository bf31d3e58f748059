"""Lever adapter, pure parts: signature and replay window, parsing, translation of API answers.

Documentation followed: https://hire.lever.co/developer/documentation#webhooks (request signing: the hex
HMAC-SHA256 of token + triggeredAt under the signature token; the test request with empty data; event
types) and #interviews (date in epoch ms, duration in minutes, canceledAt).
"""

from __future__ import annotations

import hashlib
import hmac
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from services.connectors.adapters import FetchFailed, Ping, Rejected
from services.connectors.lever import ADAPTER, REPLAY_WINDOW
from services.connectors.lever_fetch import candidate_facts, interview_facts
from services.connectors.settings import Connection, ConnectorSettings

FIXTURES = Path(__file__).parent / "fixtures" / "lever"
KEY = "lever-signature-token-for-tests"
NOW = datetime(2026, 12, 1, 10, 0, tzinfo=UTC)
TOKEN = "be58f711f349c7780e4579cd7c63341ac6f881e4dccc3154"


def signed(name: str, at: datetime = NOW, key: str = KEY, token: str = TOKEN) -> bytes:
    """A fixture as Lever sends it: token and triggeredAt set, signature = HMAC(key, token + triggeredAt)."""
    doc: dict[str, Any] = json.loads((FIXTURES / f"{name}.json").read_text())
    ms = int(at.timestamp() * 1000)
    digest = hmac.new(key.encode(), f"{token}{ms}".encode(), hashlib.sha256).hexdigest()
    return json.dumps({**doc, "token": token, "triggeredAt": ms, "signature": digest}).encode()


def test_the_documented_example_signature_is_what_we_compute() -> None:
    """Our HMAC over token + triggeredAt agrees with an independent computation of the documented recipe."""
    body = signed("candidateStageChange")
    ADAPTER.verify({}, body, KEY, NOW)  # no exception: accepted


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (signed("candidateStageChange", key="another-token"), "bad_signature"),
        (signed("candidateStageChange").replace(TOKEN.encode(), b"a" * 48), "bad_signature"),
        (json.dumps({"event": "candidateHired", "data": {}, "token": TOKEN}).encode(), "missing_signature"),
        (b"not json", "missing_signature"),
        (signed("candidateStageChange", at=NOW - REPLAY_WINDOW - timedelta(seconds=1)), "replayed"),
        (signed("candidateStageChange", at=NOW + timedelta(hours=1)), "replayed"),
    ],
    ids=["wrong-key", "other-token", "unsigned", "not-json", "too-old", "from-the-future"],
)
def test_refused_deliveries(body: bytes, reason: str) -> None:
    with pytest.raises(Rejected) as refused:
        ADAPTER.verify({}, body, KEY, NOW)
    assert refused.value.reason == reason


def test_a_delivery_just_inside_the_window_is_taken() -> None:
    ADAPTER.verify({}, signed("candidateStageChange", at=NOW - REPLAY_WINDOW + timedelta(seconds=1)), KEY, NOW)


def test_parse_keys_an_event_by_its_signed_token_and_knows_the_test_request() -> None:
    (item,) = ADAPTER.parse({}, signed("interviewCreated"))  # type: ignore[misc]
    assert (item.event_id, item.kind, item.occurred_at) == (TOKEN, "interviewCreated", NOW)
    assert item.payload["interviewId"] == "6ff55c8e-fe04-4eb4-835a-630b1c0da421"
    assert isinstance(ADAPTER.parse({}, signed("test")), Ping)
    with pytest.raises(Rejected) as unknown:
        ADAPTER.parse({}, signed("candidateStageChange").replace(b"candidateStageChange", b"candidateMerged"))
    assert unknown.value.reason == "unknown_event_type"


def test_candidate_facts_take_the_contact_and_a_mobile_number_first() -> None:
    records = json.loads((FIXTURES / "api_records.json").read_text())
    (opportunity,) = records["opportunities"].values()
    facts = candidate_facts(opportunity)
    assert (facts.ats_id, facts.name, facts.email, facts.phone) == (
        "05c248f9-ccb1-435f-bab5-0ec608aec263",
        "Femke Bakker",
        "femke.bakker@example.org",
        "06 34567890",
    )
    with pytest.raises(FetchFailed):
        candidate_facts({**opportunity, "contact": None})


def test_interview_facts_from_date_and_duration_with_cancellation_and_video_links() -> None:
    start = NOW + timedelta(days=2)
    interview = {"id": "iv-1", "date": int(start.timestamp() * 1000), "duration": 45, "canceledAt": None}
    facts, cancelled = interview_facts({**interview, "location": "Utrecht"}, NOW)  # type: ignore[misc]
    assert (facts.start, facts.end, facts.location, cancelled) == (
        start,
        start + timedelta(minutes=45),
        "Utrecht",
        False,
    )
    assert facts.sequence == int(NOW.timestamp() * 1000)
    remote, _ = interview_facts({**interview, "location": "https://meet.example.org/x"}, NOW)  # type: ignore[misc]
    assert (remote.location, remote.video_link) == (None, "https://meet.example.org/x")
    _, gone = interview_facts({**interview, "canceledAt": 1}, NOW)  # type: ignore[misc]
    assert gone is True
    assert interview_facts(interview, start + timedelta(hours=1)) is None  # over before the webhook
    with pytest.raises(FetchFailed):
        interview_facts({**interview, "duration": 0}, NOW)


def test_each_webhook_is_checked_with_its_own_signature_token() -> None:
    """Lever generates a signature token per webhook (event type): the delivery's `event` picks the token."""
    conn = Connection.model_validate(
        {"signature_tokens": {"candidateStageChange": "stage-token", "INTERVIEWCREATED": "interview-token"}}
    )
    stage = signed("candidateStageChange", key="stage-token")
    assert ADAPTER.signed_event(stage) == "candidateStageChange"
    secret = conn.secret_for(ADAPTER.signed_event(stage))
    assert secret is not None
    ADAPTER.verify({}, stage, secret.get_secret_value(), NOW)  # the right token: accepted
    other = conn.secret_for("interviewCreated")
    assert other is not None
    with pytest.raises(Rejected) as wrong:  # signed with the stage token, but it says it is an interview event
        ADAPTER.verify({}, signed("interviewCreated", key="stage-token"), other.get_secret_value(), NOW)
    assert wrong.value.reason == "bad_signature"
    assert conn.secret_for("candidateHired") is None  # no token for that type and no fallback
    assert ADAPTER.signed_event(b"not json") is None
    with_fallback = Connection.model_validate({"secret": "shared", "signature_tokens": {"candidateHired": "h"}})
    assert [with_fallback.secret_for(e).get_secret_value() for e in ("CANDIDATEHIRED", "interviewCreated")] == [  # type: ignore[union-attr]
        "h",
        "shared",
    ]
    assert conn.signed() and with_fallback.signed() and not Connection.model_validate({}).signed()


def test_signature_tokens_come_from_nested_environment_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    """CONNECTORS_CONNECTIONS__<NAME>__SIGNATURE_TOKENS__<EVENT TYPE>, as the other connection variables."""
    monkeypatch.setenv("CONNECTORS_CONNECTIONS__LEVER__SIGNATURE_TOKENS__CANDIDATESTAGECHANGE", "stage-token")
    monkeypatch.setenv("CONNECTORS_CONNECTIONS__LEVER__SIGNATURE_TOKENS__INTERVIEWCREATED", "interview-token")
    conn = ConnectorSettings().connections["lever"]
    found = [conn.secret_for(e) for e in ("candidateStageChange", "interviewCreated", "candidateHired")]
    assert [s.get_secret_value() if s else None for s in found] == ["stage-token", "interview-token", None]
