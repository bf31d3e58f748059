"""Ashby adapter, pure parts: the signature header, dedupe keys, the interview a schedule stands for.

Documentation followed: https://developers.ashbyhq.com/docs/authenticating-webhooks (Ashby-Signature:
sha256=<hex HMAC-SHA256 of the raw body>), https://developers.ashbyhq.com/reference/pingwebhook and the
interviewScheduleCreate/Update payloads (https://developers.ashbyhq.com/reference/interviewschedulecreatewebhook).
"""

from __future__ import annotations

import hashlib
import hmac
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from services.connectors.adapters import Ping, Rejected
from services.connectors.ashby import ADAPTER
from services.connectors.ashby_fetch import next_interview

FIXTURES = Path(__file__).parent / "fixtures" / "ashby"
SECRET = "ashby-secret-for-tests"
NOW = datetime(2026, 12, 1, 10, 0, tzinfo=UTC)


def fixture(name: str) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads((FIXTURES / f"{name}.json").read_text())
    return loaded


def signature(body: bytes, secret: str = SECRET) -> dict[str, str]:
    """The header as Ashby sends it."""
    return {"ashby-signature": "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()}


def test_signed_bodies_pass_and_everything_else_is_refused() -> None:
    body = json.dumps(fixture("applicationSubmit")).encode()
    ADAPTER.verify(signature(body), body, SECRET, NOW)
    cases = [
        (signature(body, "other"), body, "bad_signature"),
        (signature(body), body.replace(b"Noor", b"Nora"), "bad_signature"),
        ({"ashby-signature": "sha1=" + signature(body)["ashby-signature"][7:]}, body, "bad_signature"),
        ({}, body, "missing_signature"),
    ]
    for headers, sent, reason in cases:
        with pytest.raises(Rejected) as refused:
            ADAPTER.verify(headers, sent, SECRET, NOW)
        assert refused.value.reason == reason


def test_dedupe_keys_follow_webhook_action_ids_and_schedule_content() -> None:
    (submit,) = ADAPTER.parse({}, json.dumps(fixture("applicationSubmit")).encode())  # type: ignore[misc]
    assert submit.event_id == "wa-0001"
    without = {k: v for k, v in fixture("applicationSubmit").items() if k != "webhookActionId"}
    (hashed,) = ADAPTER.parse({}, json.dumps(without).encode())  # type: ignore[misc]
    assert hashed.event_id.startswith("sha256:")
    (created,) = ADAPTER.parse({}, json.dumps(fixture("interviewScheduleCreate")).encode())  # type: ignore[misc]
    (echo,) = ADAPTER.parse({}, json.dumps(fixture("interviewScheduleUpdate")).encode())  # type: ignore[misc]
    assert created.event_id == echo.event_id  # the Update that a Create triggers is the same event
    assert created.event_id != submit.event_id
    assert isinstance(ADAPTER.parse({}, json.dumps(fixture("ping")).encode()), Ping)
    with pytest.raises(Rejected) as unknown:
        ADAPTER.parse({}, json.dumps({"action": "jobCreate", "data": {}}).encode())
    assert unknown.value.reason == "unknown_event_type"


def test_the_next_interview_of_a_schedule_and_whether_it_moved() -> None:
    schedule = fixture("interviewScheduleCreate")["data"]["interviewSchedule"]
    (event,) = schedule["interviewEvents"]
    past = {**event, "id": "past", "startTime": "2026-11-30T09:00:00Z", "endTime": "2026-11-30T10:00:00Z"}
    found = next_interview({**schedule, "interviewEvents": [past, event]}, NOW)
    assert found is not None
    facts, moved = found
    assert (facts.id, facts.start, facts.video_link, moved) == (
        event["id"],
        datetime(2026, 12, 8, 9, 0, tzinfo=UTC),
        "https://meet.example.org/noor",
        False,
    )
    later = (datetime(2026, 11, 30, 10, 0, tzinfo=UTC) + timedelta(hours=2)).isoformat()
    _, moved_later = next_interview({**schedule, "interviewEvents": [{**event, "updatedAt": later}]}, NOW)  # type: ignore[misc]
    assert moved_later is True
    assert next_interview(schedule, datetime(2026, 12, 9, tzinfo=UTC)) is None  # all over
