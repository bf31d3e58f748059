"""Greenhouse web hooks through the real service, real Kafka and the Harvest emulator over HTTP.

Documentation followed: https://developers.greenhouse.io/webhooks.html (Authentication: the Signature
header; Greenhouse-Event-ID; the ping on save; the payloads of new_candidate_application,
candidate_stage_change, hire_candidate and reject_candidate) and https://developers.greenhouse.io/harvest.html
(GET scheduled interviews of an application; basic auth with the API key).
"""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from pymongo import AsyncMongoClient

from deploy.local.ats_emulators import EmulatorState
from services.common.settings import KafkaSettings, MongoSettings
from tests.connectors.conftest import SECRETS, ConnectorFactory, connections
from tests.connectors.webhooks import body_of, fixture, greenhouse_headers
from tests.support import read_json

SECRET = SECRETS["greenhouse"]
CANDIDATE = "greenhouse:60304594"


async def deliver(client: httpx.AsyncClient, doc: dict[str, Any], event_id: str | None = None) -> httpx.Response:
    """POST a fixture signed as Greenhouse signs it."""
    body = body_of(doc)
    return await client.post(
        "/v1/webhooks/greenhouse", content=body, headers=greenhouse_headers(body, SECRET, event_id)
    )


@pytest.mark.parametrize(
    ("name", "kind", "stage"),
    [
        ("new_candidate_application", "ats.application.received", "application"),
        ("candidate_stage_change", "ats.stage.changed", "interview_scheduling"),
        ("hire_candidate", "ats.candidate.hired", "offer"),
        ("reject_candidate", "ats.candidate.rejected", "application"),
    ],
)
async def test_each_documented_event_becomes_our_event_with_contact_data_and_mapped_stage(
    connector: ConnectorFactory,
    kafka: KafkaSettings,
    ats_api: tuple[str, EmulatorState],
    name: str,
    kind: str,
    stage: str,
) -> None:
    async with connector(connections=connections(ats_api[0])) as client:
        ping = await deliver(client, fixture("greenhouse", "ping"))
        answer = await deliver(client, fixture("greenhouse", name))
        events = await read_json(kafka, "ats.events")

    assert ping.status_code == 200
    assert ping.json()["status"] == "ok"
    assert answer.status_code == 202, answer.text
    assert [e["id"] for e in events] == answer.json()["events"]
    (event,) = events
    assert event["type"] == kind
    assert event["subject"] == CANDIDATE
    candidate = event["data"]["candidate"]
    # The personal address before the work one, the mobile before the home number, in E.164 (NL by default).
    assert (candidate["name"], candidate["email"], candidate["phone"]) == (
        "Sanne de Vries",
        "sanne@example.org",
        "+31612345678",
    )
    assert event["data"]["application"] == {"id": "71980812", "job_title": "Data engineer", "stage": stage}


async def test_a_stage_change_looks_up_the_scheduled_interview_in_harvest(
    connector: ConnectorFactory, kafka: KafkaSettings, ats_api: tuple[str, EmulatorState]
) -> None:
    url, state = ats_api
    start = (datetime.now(UTC) + timedelta(days=2)).replace(microsecond=0)
    past = {"id": 1, "status": "complete", "start": {"date_time": "2026-01-01T09:00:00.000Z"},
            "end": {"date_time": "2026-01-01T10:00:00.000Z"}}  # fmt: skip
    ahead = {
        "id": 9001,
        "application_id": 71980812,
        "status": "scheduled",
        "start": {"date_time": start.isoformat().replace("+00:00", "Z")},
        "end": {"date_time": (start + timedelta(hours=1)).isoformat().replace("+00:00", "Z")},
        "location": "Utrecht, Jaarbeursplein 1",
        "video_conferencing_url": "https://meet.example.org/abc",
        "updated_at": "2026-12-01T10:00:00Z",
    }
    state.seed("greenhouse", "interviews/71980812", [past, ahead])
    # The interview poller off: its own Harvest calls are test_greenhouse_interviews.py's.
    async with connector(connections=connections(url), interview_poll_s=0) as client:
        answer = await deliver(client, fixture("greenhouse", "candidate_stage_change"))
        events = await read_json(kafka, "ats.events")

    assert answer.status_code == 202, answer.text
    (event,) = events
    assert event["type"] == "ats.interview.scheduled"
    interview = event["data"]["interview"]
    assert datetime.fromisoformat(interview["start"]) == start
    assert interview["id"] == "gh-9001"
    assert interview["video_link"] == "https://meet.example.org/abc"
    assert state.calls == [
        {"ats": "greenhouse", "method": "GET", "path": "/greenhouse/v1/applications/71980812/scheduled_interviews"}
    ]


async def test_refused_deliveries_produce_nothing_and_are_counted(
    connector: ConnectorFactory, kafka: KafkaSettings, ats_api: tuple[str, EmulatorState]
) -> None:
    doc = fixture("greenhouse", "new_candidate_application")
    body = body_of(doc)
    async with connector(connections=connections(ats_api[0]), max_body_bytes=64 * 1024) as client:
        wrong_secret = await client.post(
            "/v1/webhooks/greenhouse", content=body, headers=greenhouse_headers(body, "not-the-secret")
        )
        tampered = await client.post(
            "/v1/webhooks/greenhouse",
            content=body.replace(b"Sanne", b"Sara"),
            headers=greenhouse_headers(body, SECRET),
        )
        unsigned = await client.post(
            "/v1/webhooks/greenhouse", content=body, headers={"Content-Type": "application/json"}
        )
        unknown_connection = await client.post(
            "/v1/webhooks/workday", content=body, headers=greenhouse_headers(body, SECRET)
        )
        unknown_type = await deliver(client, {"action": "job_created", "payload": {"job": {"id": 1}}})
        big = body_of({**doc, "padding": "x" * 70_000})
        oversized = await client.post("/v1/webhooks/greenhouse", content=big, headers=greenhouse_headers(big, SECRET))
        garbage = b"{not json"
        malformed = await client.post(
            "/v1/webhooks/greenhouse", content=garbage, headers=greenhouse_headers(garbage, SECRET)
        )
        metrics = (await client.get("/metrics")).text
        events = await read_json(kafka, "ats.events")

    assert [wrong_secret.status_code, tampered.status_code, unsigned.status_code] == [401, 401, 401]
    assert [wrong_secret.json()["reason"], unsigned.json()["reason"]] == ["bad_signature", "missing_signature"]
    assert unknown_connection.status_code == 404
    assert (unknown_type.status_code, unknown_type.json()["status"]) == (200, "ignored")
    assert oversized.status_code == 413
    assert (malformed.status_code, malformed.json()["reason"]) == (400, "invalid_payload")
    assert events == []
    assert 'connector_webhooks_rejected_total{connection="greenhouse",reason="bad_signature"} 2.0' in metrics
    assert 'connector_webhooks_rejected_total{connection="greenhouse",reason="too_large"} 1.0' in metrics
    assert 'connector_webhooks_total{connection="greenhouse",outcome="ignored"} 1.0' in metrics


async def test_harvest_down_answers_503_with_an_error_record_and_the_redelivery_is_taken_once(
    connector: ConnectorFactory, kafka: KafkaSettings, mongo: MongoSettings, ats_api: tuple[str, EmulatorState]
) -> None:
    url, state = ats_api
    state.failures["greenhouse"] = [503, 502, 503, 504]  # every try of the first delivery (api_attempts=4)
    doc = fixture("greenhouse", "candidate_stage_change")
    event_id = str(uuid.uuid4())
    async with connector(connections=connections(url), api_attempts=4, interview_poll_s=0) as client:
        down = await deliver(client, doc, event_id)
        redelivered = await deliver(client, doc, event_id)  # Greenhouse retries with the same event id
        again = await deliver(client, doc, event_id)
        events = await read_json(kafka, "ats.events")

    assert (down.status_code, down.json()["reason"]) == (503, "fetch_failed")
    assert redelivered.status_code == 202
    assert (again.status_code, again.json()["status"]) == (200, "duplicate")
    assert len(events) == 1
    assert len(state.calls) == 5  # four failed tries, then the one that worked; the duplicate fetched nothing
    errors = await _errors(mongo)
    assert [(e["kind"], e["connection"], e["ref"]) for e in errors] == [("fetch_failed", "greenhouse", event_id)]
    assert "HTTP 504 after 4 tries" in errors[0]["reason"]


async def test_an_unmapped_stage_is_refused_with_its_name_and_recorded(
    connector: ConnectorFactory, kafka: KafkaSettings, mongo: MongoSettings, ats_api: tuple[str, EmulatorState]
) -> None:
    doc = fixture("greenhouse", "candidate_stage_change")
    doc["payload"]["application"]["current_stage"]["name"] = "Culture Chat"
    async with connector(connections=connections(ats_api[0])) as client:
        answer = await deliver(client, doc)
        events = await read_json(kafka, "ats.events")

    assert answer.status_code == 422
    assert answer.json()["reason"] == "unmapped_stage"
    assert "'Culture Chat' is not mapped" in answer.json()["detail"]
    assert events == []
    assert [e["kind"] for e in await _errors(mongo)] == ["unmapped_stage"]


async def _errors(mongo: MongoSettings) -> list[dict[str, Any]]:
    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(mongo.url.get_secret_value())
    try:
        return [d async for d in client[mongo.database]["connector_errors"].find({})]
    finally:
        await client.close()


def test_fixtures_are_what_greenhouse_documents() -> None:
    """Every fixture has the documented top level: action and payload (the ping: a web_hook_id)."""
    documented = ("candidate_stage_change", "hire_candidate", "reject_candidate", "interview_deleted", "offer_created")
    for name in ("ping", "new_candidate_application", *documented):
        doc = fixture("greenhouse", name)
        assert set(doc) == {"action", "payload"}, name
        assert doc["action"] == name, name
    assert json.dumps(fixture("greenhouse", "hire_candidate")).count('"current_stage"') == 0
