"""Ashby webhooks through the real connector service (uvicorn, a real socket), real Kafka and the Ashby emulator.

Documentation followed: https://developers.ashbyhq.com/docs/authenticating-webhooks (Ashby-Signature),
https://developers.ashbyhq.com/docs/setting-up-webhooks (the ping), https://developers.ashbyhq.com/docs/retries,
the payload reference https://developers.ashbyhq.com/reference/applicationsubmitwebhook (and
candidatestagechangewebhook, candidatehirewebhook, interviewschedulecreatewebhook,
interviewscheduleupdatewebhook) and the RPC methods application.info, candidate.info, candidate.createNote.
"""

from __future__ import annotations

import copy
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

from deploy.local.ats_emulators import EmulatorState
from services.common.settings import KafkaSettings, MongoSettings
from services.connectors.app import create_app
from services.connectors.settings import Connection, ConnectorSettings
from tests.connectors.test_lever import errors
from tests.notifier.provider_doubles import serving
from tests.support import eventually, produce, read_json

FIXTURES = Path(__file__).parent / "fixtures" / "ashby"
SECRET = "ashby-secret-for-tests"
APPLICATION = "2f0e5b7a-41b6-4c2a-9a53-0f7d1c2e8b10"
CANDIDATE = "ashby:5b3c7e90-1d2f-4a8b-b6c4-7e9f0a1b2c3d"


def fixture(name: str, start: datetime | None = None, **event: str) -> dict[str, Any]:
    """A payload fixture; schedules get their event at `start` (one hour), with `event` fields changed."""
    doc: dict[str, Any] = json.loads((FIXTURES / f"{name}.json").read_text())
    schedule = doc["data"].get("interviewSchedule")
    if schedule is not None and start is not None:
        (first,) = schedule["interviewEvents"]
        first.update(startTime=start.isoformat(), endTime=(start + timedelta(hours=1)).isoformat(), **event)
    return doc


async def deliver(client: httpx.AsyncClient, doc: dict[str, Any], secret: str = SECRET) -> httpx.Response:
    """POST a payload signed as Ashby signs it: Ashby-Signature: sha256=<hex HMAC-SHA256 of the body>."""
    body = json.dumps(doc).encode()
    digest = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    headers = {"Content-Type": "application/json", "Ashby-Signature": f"sha256={digest}"}
    return await client.post("/v1/webhooks/ashby", content=body, headers=headers)


async def seed(url: str) -> None:
    """The application and candidate records application.info and candidate.info answer with."""
    records = json.loads((FIXTURES / "api_records.json").read_text())
    async with httpx.AsyncClient(base_url=url) as client:
        for kind, by_id in records.items():
            for key, record in by_id.items():
                answer = await client.post("/_emulator/ashby/records", json={"kind": kind, "id": key, "record": record})
                assert answer.status_code == 200, answer.text


@asynccontextmanager
async def ashby_service(
    kafka: KafkaSettings, mongo: MongoSettings, unique: str, api: str, **overrides: Any
) -> AsyncIterator[httpx.AsyncClient]:
    """The connector service on a free port with one Ashby connection on the emulator."""
    ashby = Connection.model_validate({"secret": SECRET, "api_url": f"{api}/ashby", "api_key": "dev-ashby-key"})
    settings = ConnectorSettings(
        kafka=kafka, mongo=mongo, group_id=f"{unique}.connectors", api_backoff_s=0.01, connections={"ashby": ashby},
        **overrides,
    )  # fmt: skip
    async with serving(create_app(settings)) as url, httpx.AsyncClient(base_url=url) as client:
        yield client


SOON = (datetime.now(UTC) + timedelta(days=3)).replace(microsecond=0)
LATER = (datetime.now(UTC) + timedelta(hours=1)).isoformat()


@pytest.mark.parametrize(
    ("doc", "kind", "calls"),
    [
        (fixture("applicationSubmit"), "ats.application.received", []),
        (fixture("candidateStageChange"), "ats.stage.changed", ["candidate.info"]),  # no phone in the payload
        (fixture("candidateHire"), "ats.candidate.hired", []),
        (fixture("interviewScheduleCreate", SOON), "ats.interview.scheduled", ["application.info"]),
        (fixture("interviewScheduleUpdate", SOON, updatedAt=LATER), "ats.interview.rescheduled", ["application.info"]),
    ],
    ids=["applicationSubmit", "candidateStageChange", "candidateHire", "interviewScheduleCreate", "moved"],
)
async def test_each_documented_event_becomes_our_event_fetching_only_what_is_missing(
    kafka: KafkaSettings,
    mongo: MongoSettings,
    unique: str,
    ats_api: tuple[str, EmulatorState],
    doc: dict[str, Any],
    kind: str,
    calls: list[str],
) -> None:
    url, state = ats_api
    await seed(url)
    async with ashby_service(kafka, mongo, unique, url) as client:
        ping = await deliver(client, fixture("ping"))
        answer = await deliver(client, doc)
        events = await read_json(kafka, "ats.events")

    assert (ping.status_code, ping.json()["status"]) == (200, "ok")
    assert answer.status_code == 202, answer.text
    (event,) = events
    assert (event["type"], event["subject"]) == (kind, CANDIDATE)
    candidate = event["data"]["candidate"]
    assert (candidate["name"], candidate["email"], candidate["phone"]) == (
        "Noor el Amrani",
        "noor.elamrani@example.org",
        "+31645678901",  # the personal number (candidate.info lists the work number first)
    )
    stage = "interview_scheduling"  # "Technical Interview", by the default map
    assert event["data"]["application"] == {"id": APPLICATION, "job_title": "Frontend developer", "stage": stage}
    assert [c["path"] for c in state.calls] == [f"/ashby/{m}" for m in calls]
    if "interview" in event["data"]:
        interview = event["data"]["interview"]
        assert datetime.fromisoformat(interview["start"]) == SOON
        assert interview["video_link"] == "https://meet.example.org/noor"


async def test_duplicates_bad_signatures_and_unmapped_input(
    kafka: KafkaSettings, mongo: MongoSettings, unique: str, ats_api: tuple[str, EmulatorState]
) -> None:
    url, _ = ats_api
    await seed(url)
    archived = fixture("candidateStageChange")
    archived["webhookActionId"] = "wa-archived"
    archived["data"]["application"]["status"] = "Archived"
    unmapped = copy.deepcopy(archived)
    unmapped["webhookActionId"] = "wa-unmapped"
    unmapped["data"]["application"]["status"] = "Active"
    unmapped["data"]["application"]["currentInterviewStage"]["title"] = "Culture Chat"
    async with ashby_service(kafka, mongo, unique, url) as client:
        first = await deliver(client, fixture("applicationSubmit"))
        retried = await deliver(client, fixture("applicationSubmit"))  # Ashby's retry: the same webhookActionId
        created = await deliver(client, fixture("interviewScheduleCreate", SOON))
        echo = await deliver(client, fixture("interviewScheduleUpdate", SOON))  # triggered by the create
        forged = await deliver(client, fixture("applicationSubmit"), secret="guessed")
        unknown = await deliver(client, {"action": "jobCreate", "webhookActionId": "wa-x", "data": {"job": {}}})
        rejected = await deliver(client, archived)
        refused = await deliver(client, unmapped)
        events = await read_json(kafka, "ats.events")

    assert first.status_code == created.status_code == rejected.status_code == 202
    assert [retried.json()["status"], echo.json()["status"]] == ["duplicate", "duplicate"]
    assert (forged.status_code, forged.json()["reason"]) == (401, "bad_signature")  # Ashby does not retry a 401
    assert (unknown.status_code, unknown.json()["status"]) == (200, "ignored")
    assert (refused.status_code, refused.json()["reason"]) == (422, "unmapped_stage")
    assert [e["type"] for e in events] == [
        "ats.application.received",
        "ats.interview.scheduled",
        "ats.candidate.rejected",
    ]
    assert [e["kind"] for e in await errors(mongo)] == ["unmapped_stage"]


async def test_the_api_down_or_refusing_is_retried_then_recorded_and_the_redelivery_taken(
    kafka: KafkaSettings, mongo: MongoSettings, unique: str, ats_api: tuple[str, EmulatorState]
) -> None:
    url, state = ats_api
    await seed(url)
    state.failures["ashby"] = [503, 429, 500]
    missing = fixture("interviewScheduleCreate", SOON)
    missing["data"]["interviewSchedule"]["applicationId"] = "no-such-application"
    async with ashby_service(kafka, mongo, unique, url, api_attempts=3) as client:
        down = await deliver(client, fixture("candidateStageChange"))
        redelivered = await deliver(client, fixture("candidateStageChange"))
        not_found = await deliver(client, missing)
        events = await read_json(kafka, "ats.events")

    assert (down.status_code, down.json()["reason"]) == (503, "fetch_failed")
    assert redelivered.status_code == 202
    assert (not_found.status_code, not_found.json()["reason"]) == (503, "fetch_failed")
    assert [e["type"] for e in events] == ["ats.stage.changed"]
    assert [c["path"] for c in state.calls].count("/ashby/candidate.info") == 4  # three failed tries, then one
    records = await errors(mongo)
    schedule = "interviewSchedule/5c4ed001-0000-4000-8000-000000000007/Scheduled/2026-11-30T10:00:05.000Z"
    assert [(r["kind"], r["ref"]) for r in records] == [("fetch_failed", "wa-0002"), ("fetch_failed", schedule)]
    assert "HTTP 500 after 3 tries" in records[0]["reason"]
    assert "application.info: application_not_found" in records[1]["reason"]  # success: false, not retried


async def test_states_become_candidate_notes_once_each(
    kafka: KafkaSettings, mongo: MongoSettings, unique: str, ats_api: tuple[str, EmulatorState]
) -> None:
    url, state = ats_api
    await seed(url)
    notification = "7d1c0b9a-8e7f-4a6b-9c5d-4e3f2a1b0c9d"
    async with ashby_service(kafka, mongo, unique, url, api_attempts=2, writeback_rounds=3) as client:
        assert (await deliver(client, fixture("applicationSubmit"))).status_code == 202
        state.failures["ashby"] = [502, 503]
        await produce(kafka, "notifications.status", [status(notification, "sent", 1)])
        await eventually(lambda: _noted(state, "sent by SMS"), what="the note at the Ashby emulator")
        await produce(
            kafka, "notifications.status", [status(notification, "sent", 1), status(notification, "failed", 2)]
        )
        await eventually(lambda: _noted(state, "could not be sent"), what="the note of the failure")

    lines = [line for n in state.notes for line in n["body"].splitlines()[1:-1]]  # header and marker left out
    assert len(lines) == 2  # the redelivered "sent" was not written again
    assert {(n["candidate_id"], n["send_notifications"]) for n in state.notes} == {
        ("5b3c7e90-1d2f-4a8b-b6c4-7e9f0a1b2c3d", False)
    }
    assert [c["path"] for c in state.calls].count("/ashby/candidate.createNote") == 2 + 2  # two failed, two notes


def status(notification: str, state: str, minute: int) -> dict[str, Any]:
    """A notifications.status event about the Ashby candidate."""
    at = (datetime(2026, 12, 1, 10, 0, tzinfo=UTC) + timedelta(minutes=minute)).isoformat()
    return {
        "specversion": "1.0", "id": secrets.token_hex(8), "source": "urn:test:notifier",
        "type": "notification.status.changed", "time": at, "subject": CANDIDATE,
        "datacontenttype": "application/json",
        "data": {
            "notification_id": notification, "ats_event_id": "ev-2", "candidate_id": CANDIDATE,
            "application_id": APPLICATION, "status": state, "channel": "sms", "stage": "interview_scheduling",
            "attempt": 1, "reason": "SMS chosen", "occurred_at": at,
        },
    }  # fmt: skip


async def _noted(state: EmulatorState, text: str) -> bool:
    return any(text in n["body"] for n in state.notes)
