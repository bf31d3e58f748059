"""Lever webhooks through the real connector service (uvicorn, a real socket), real Kafka and the Lever emulator.

Documentation followed: https://hire.lever.co/developer/documentation#webhooks (the signed token +
triggeredAt, the test request, event payloads with ids only), #opportunities, #interviews, #archive-reasons,
#postings (what the ids are fetched as), #notes (POST /opportunities/:opportunity/notes), #rate-limits.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from pymongo import AsyncMongoClient

from deploy.local.ats_emulators import EmulatorState
from services.common.settings import KafkaSettings, MongoSettings
from services.connectors.app import create_app
from services.connectors.settings import Connection, ConnectorSettings
from tests.notifier.provider_doubles import serving
from tests.support import eventually, produce, read_json

FIXTURES = Path(__file__).parent / "fixtures" / "lever"
KEY = "lever-signature-token-for-tests"
OPPORTUNITY = "3410c8b9-5c31-4bab-b7e9-9f710206d647"
INTERVIEW = "6ff55c8e-fe04-4eb4-835a-630b1c0da421"
POSTING = "6a1e4b79-75a3-454f-9417-ea79612b9585"
CANDIDATE = "lever:05c248f9-ccb1-435f-bab5-0ec608aec263"


def lever_body(name: str, at: datetime | None = None, token: str | None = None, key: str = KEY) -> bytes:
    """A fixture signed as Lever signs: signature = hex HMAC-SHA256(signature token, token + triggeredAt)."""
    doc: dict[str, Any] = json.loads((FIXTURES / f"{name}.json").read_text())
    token = token or secrets.token_hex(24)  # 48 characters, as Lever's
    ms = int((at or datetime.now(UTC)).timestamp() * 1000)
    digest = hmac.new(key.encode(), f"{token}{ms}".encode(), hashlib.sha256).hexdigest()
    return json.dumps({**doc, "token": token, "triggeredAt": ms, "signature": digest}).encode()


async def seed(url: str, interview_start: datetime, **changes: dict[str, Any]) -> None:
    """Load the documented example records into the emulator over HTTP (`changes` patches every record of a kind)."""
    records = json.loads((FIXTURES / "api_records.json").read_text())
    records["interviews"][INTERVIEW]["date"] = int(interview_start.timestamp() * 1000)
    async with httpx.AsyncClient(base_url=url) as client:
        for kind, by_id in records.items():
            for key, record in by_id.items():
                record = {**record, **changes.get(kind, {})}
                answer = await client.post("/_emulator/lever/records", json={"kind": kind, "id": key, "record": record})
                assert answer.status_code == 200, answer.text


@asynccontextmanager
async def lever_service(
    kafka: KafkaSettings,
    mongo: MongoSettings,
    unique: str,
    api: str,
    tokens: dict[str, str] | None = None,
    **overrides: Any,
) -> AsyncIterator[httpx.AsyncClient]:
    """The connector service on a free port with one Lever connection on the emulator (KEY, or a token per type)."""
    signing: dict[str, Any] = {"signature_tokens": tokens} if tokens else {"secret": KEY}
    lever = Connection.model_validate(
        {**signing, "api_url": f"{api}/lever", "api_key": "dev-lever-key", "options": {"perform_as": "u-42"}}
    )
    settings = ConnectorSettings(
        kafka=kafka, mongo=mongo, group_id=f"{unique}.connectors", api_backoff_s=0.01, connections={"lever": lever},
        **overrides,
    )  # fmt: skip
    async with serving(create_app(settings)) as url, httpx.AsyncClient(base_url=url) as client:
        yield client


async def deliver(client: httpx.AsyncClient, body: bytes) -> httpx.Response:
    """POST as Lever does (User-Agent Lever-Webhooks, JSON body)."""
    headers = {"Content-Type": "application/json", "User-Agent": "Lever-Webhooks"}
    return await client.post("/v1/webhooks/lever", content=body, headers=headers)


@pytest.mark.parametrize(
    ("name", "kind", "stage", "patch"),
    [
        ("applicationCreated", "ats.application.received", "screening", {}),
        ("candidateStageChange", "ats.stage.changed", "screening", {}),
        ("candidateHired", "ats.candidate.hired", "offer", {"opportunities": {"stage": "offer"}}),
        ("candidateArchiveChange", "ats.candidate.rejected", "screening", {}),
        ("interviewCreated", "ats.interview.scheduled", "screening", {}),
        ("interviewUpdated", "ats.interview.rescheduled", "screening", {}),
        ("interviewUpdated", "ats.interview.cancelled", "screening", {"interviews": {"canceledAt": 1}}),
    ],
)
async def test_each_documented_event_is_fetched_and_becomes_our_event(
    kafka: KafkaSettings,
    mongo: MongoSettings,
    unique: str,
    ats_api: tuple[str, EmulatorState],
    name: str,
    kind: str,
    stage: str,
    patch: dict[str, dict[str, Any]],
) -> None:
    url, state = ats_api
    start = (datetime.now(UTC) + timedelta(days=2)).replace(microsecond=0)
    await seed(url, start, **patch)
    async with lever_service(kafka, mongo, unique, url) as client:
        test_request = await deliver(client, lever_body("test"))
        answer = await deliver(client, lever_body(name))
        events = await read_json(kafka, "ats.events")

    assert (test_request.status_code, test_request.json()["status"]) == (200, "ok")
    assert answer.status_code == 202, answer.text
    (event,) = events
    assert (event["type"], event["subject"], event["id"]) == (kind, CANDIDATE, answer.json()["events"][0])
    candidate = event["data"]["candidate"]
    assert (candidate["name"], candidate["email"], candidate["phone"]) == (
        "Femke Bakker",
        "femke.bakker@example.org",
        "+31634567890",  # the mobile number, not the work number listed first
    )
    assert event["data"]["application"] == {"id": OPPORTUNITY, "job_title": "Data analyst", "stage": stage}
    paths = [c["path"] for c in state.calls]
    assert {f"/lever/opportunities/{OPPORTUNITY}", f"/lever/postings/{POSTING}"} <= set(paths)
    if name.startswith("interview"):
        interview = event["data"]["interview"]
        assert (interview["id"], datetime.fromisoformat(interview["start"])) == (INTERVIEW, start)
        assert datetime.fromisoformat(interview["end"]) == start + timedelta(minutes=45)
        assert interview["location"] == "Utrecht, Catharijnesingel 30"


async def test_refused_replayed_and_duplicate_deliveries_produce_nothing_more(
    kafka: KafkaSettings, mongo: MongoSettings, unique: str, ats_api: tuple[str, EmulatorState]
) -> None:
    url, state = ats_api
    await seed(url, datetime.now(UTC) + timedelta(days=2))
    token = secrets.token_hex(24)
    async with lever_service(kafka, mongo, unique, url) as client:
        first = await deliver(client, lever_body("candidateStageChange", token=token))
        again = await deliver(client, lever_body("candidateStageChange", token=token))  # Lever's retry
        forged = await deliver(client, lever_body("candidateStageChange", key="guessed"))
        stale = await deliver(client, lever_body("candidateStageChange", at=datetime.now(UTC) - timedelta(hours=25)))
        unknown = await deliver(client, lever_body("candidateStageChange").replace(b"candidateStageChange", b"x", 1))
        nothing = await deliver(client, lever_body("candidateArchiveChange").replace(b'"toArchived": {', b'"was": {'))
        events = await read_json(kafka, "ats.events")
        metrics = (await client.get("/metrics")).text

    assert first.status_code == 202
    assert (again.status_code, again.json()["status"]) == (200, "duplicate")
    assert (forged.status_code, forged.json()["reason"]) == (401, "bad_signature")
    assert (stale.status_code, stale.json()["reason"]) == (401, "replayed")
    assert (unknown.status_code, unknown.json()["status"]) == (200, "ignored")
    assert (nothing.status_code, nothing.json()["events"]) == (202, [])  # unarchived: nothing to tell
    assert [e["type"] for e in events] == ["ats.stage.changed"]
    assert len([c for c in state.calls if "/opportunities/" in c["path"]]) == 1  # the duplicate fetched nothing
    assert 'connector_webhooks_rejected_total{connection="lever",reason="replayed"} 1.0' in metrics


async def test_each_webhook_type_is_checked_with_its_own_signature_token_on_one_connection(
    kafka: KafkaSettings, mongo: MongoSettings, unique: str, ats_api: tuple[str, EmulatorState]
) -> None:
    """#webhooks: Lever generates a signature token per webhook; one connection holds them all, by event type."""
    url, _ = ats_api
    await seed(url, datetime.now(UTC) + timedelta(days=2))
    tokens = {"candidateStageChange": "stage-token", "interviewCreated": "interview-token"}
    async with lever_service(kafka, mongo, unique, url, tokens=tokens) as client:
        stage = await deliver(client, lever_body("candidateStageChange", key="stage-token"))
        interview = await deliver(client, lever_body("interviewCreated", key="interview-token"))
        crossed = await deliver(client, lever_body("interviewCreated", key="stage-token"))
        swapped = await deliver(client, lever_body("candidateStageChange", key="interview-token"))
        no_token = await deliver(client, lever_body("candidateHired", key="stage-token"))
        events = await read_json(kafka, "ats.events")

    assert [stage.status_code, interview.status_code] == [202, 202]
    assert [(r.status_code, r.json()["reason"]) for r in (crossed, swapped, no_token)] == [
        (401, "bad_signature"),
        (401, "bad_signature"),
        (401, "no_signature_token"),  # candidateHired has no token here and there is no SECRET to fall back on
    ]
    assert [e["type"] for e in events] == ["ats.stage.changed", "ats.interview.scheduled"]


async def test_an_unmapped_stage_and_a_deleted_interview(
    kafka: KafkaSettings, mongo: MongoSettings, unique: str, ats_api: tuple[str, EmulatorState]
) -> None:
    url, _ = ats_api
    await seed(url, datetime.now(UTC) + timedelta(days=2), stages={"text": "Culture Chat"})
    async with httpx.AsyncClient(base_url=url) as emulator:
        await emulator.request("DELETE", "/_emulator/lever/records", json={"kind": "interviews", "id": INTERVIEW})
    async with lever_service(kafka, mongo, unique, url) as client:
        unmapped = await deliver(client, lever_body("candidateStageChange"))
        deleted = await deliver(client, lever_body("interviewDeleted"))
        events = await read_json(kafka, "ats.events")

    assert (unmapped.status_code, unmapped.json()["reason"]) == (422, "unmapped_stage")
    assert "'Culture Chat' is not mapped" in unmapped.json()["detail"]
    assert (deleted.status_code, deleted.json()["events"]) == (202, [])  # Lever answers 404: nothing to cancel
    assert events == []
    assert [e["kind"] for e in await errors(mongo)] == ["unmapped_stage"]


async def test_the_api_down_during_the_fetch_is_retried_then_recorded_and_the_redelivery_taken_once(
    kafka: KafkaSettings, mongo: MongoSettings, unique: str, ats_api: tuple[str, EmulatorState]
) -> None:
    url, state = ats_api
    await seed(url, datetime.now(UTC) + timedelta(days=2))
    state.failures["lever"] = [429, 503, 502, 503]  # every try of the first delivery (api_attempts=4)
    body = lever_body("applicationCreated")
    async with lever_service(kafka, mongo, unique, url, api_attempts=4) as client:
        down = await deliver(client, body)
        redelivered = await deliver(client, body)
        again = await deliver(client, body)
        events = await read_json(kafka, "ats.events")

    assert (down.status_code, down.json()["reason"]) == (503, "fetch_failed")
    assert redelivered.status_code == 202
    assert (again.status_code, again.json()["status"]) == (200, "duplicate")
    assert len(events) == 1
    assert len(state.calls) == 4 + 2  # four failed tries, then the opportunity and its posting
    (record,) = await errors(mongo)
    assert (record["kind"], record["connection"], record["ref"]) == ("fetch_failed", "lever", json.loads(body)["token"])
    assert "HTTP 503 after 4 tries" in record["reason"]


async def test_states_become_notes_on_the_opportunity_once_each_through_an_api_that_fails_first(
    kafka: KafkaSettings, mongo: MongoSettings, unique: str, ats_api: tuple[str, EmulatorState]
) -> None:
    url, state = ats_api
    await seed(url, datetime.now(UTC) + timedelta(days=2))
    notification = "9b2f4c1e-8a7d-4e0b-9f3c-2d1e0a9b8c7d"
    async with lever_service(kafka, mongo, unique, url, api_attempts=2, writeback_rounds=3) as client:
        assert (await deliver(client, lever_body("applicationCreated"))).status_code == 202
        state.failures["lever"] = [503, 429]  # the first round of the note fails
        sent, delivered = status(notification, "sent", 1), status(notification, "delivered", 2)
        await produce(kafka, "notifications.status", [sent, delivered])
        await eventually(lambda: _noted(state, "delivered by e-mail"), what="the note at the Lever emulator")
        await produce(kafka, "notifications.status", [sent, delivered, status(notification, "replied", 3)])
        await eventually(lambda: _noted(state, "the candidate replied"), what="the note of the reply")

    lines = [line for n in state.notes for line in n["body"].splitlines()[1:-1]]  # header and marker left out
    assert sorted(line.split(" - ")[-1] for line in lines) == [
        "delivered by e-mail (why: e-mail chosen)",
        "sent by e-mail (why: e-mail chosen)",
        "the candidate replied (e-mail) (why: e-mail chosen)",
    ]  # every state once, although sent and delivered came twice
    assert {(n["candidate_id"], n["perform_as"]) for n in state.notes} == {(OPPORTUNITY, "u-42")}


def status(notification: str, state: str, minute: int) -> dict[str, Any]:
    """A notifications.status event about the Lever candidate."""
    at = (datetime(2026, 12, 1, 10, 0, tzinfo=UTC) + timedelta(minutes=minute)).isoformat()
    return {
        "specversion": "1.0", "id": secrets.token_hex(8), "source": "urn:test:notifier",
        "type": "notification.status.changed", "time": at, "subject": CANDIDATE,
        "datacontenttype": "application/json",
        "data": {
            "notification_id": notification, "ats_event_id": "ev-1", "candidate_id": CANDIDATE,
            "application_id": OPPORTUNITY, "status": state, "channel": "email", "stage": "screening",
            "attempt": 1, "reason": "e-mail chosen", "occurred_at": at,
        },
    }  # fmt: skip


async def _noted(state: EmulatorState, text: str) -> bool:
    return any(text in n["body"] for n in state.notes)


async def errors(mongo: MongoSettings) -> list[dict[str, Any]]:
    """The connector's error records."""
    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(mongo.url.get_secret_value())
    try:
        return [d async for d in client[mongo.database]["connector_errors"].find({})]
    finally:
        await client.close()
