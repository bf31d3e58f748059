"""The recruiter's timeline and worklist on the real broker and database, with the three services running."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx

from schemas.candidate_events import ReplyNeedsRecruiter, ReplyNeedsRecruiterEvent
from schemas.common import Channel
from schemas.topics import ATS_EVENTS, CANDIDATE_EVENTS
from services.common.settings import KafkaSettings, MongoSettings
from tests.stacks import services_running
from tests.support import ats_event, eventually, produce

KEY = {"X-API-Key": "dev-only-api-key"}


async def _timeline(client: httpx.AsyncClient, cid: str, *final: str) -> dict[str, Any] | None:
    r = await client.get(f"/v1/candidates/{cid}/timeline", headers=KEY)
    if r.status_code != 200:
        return None
    body: dict[str, Any] = r.json()
    invites = [n for n in body["notifications"] if n["stage"] == "interview_scheduling"]
    # The router's held reminders reach the timeline through its projection of notifications.status, which
    # gathers states (KAFKA_PROJECTION_FETCH_WAIT_MS), so they may come after the invite's own outcome.
    reminders = [n for n in body["notifications"] if n["stage"] == "interview_reminder"]
    done = invites and invites[0]["template"] and invites[0]["status"] in final and body["preferences"] and reminders
    return body if done else None


async def _open_items(client: httpx.AsyncClient, cid: str, kind: str) -> list[dict[str, Any]] | None:
    body = (await client.get("/v1/worklist", params={"kind": kind}, headers=KEY)).json()
    found = [i for i in body["items"] if i["candidate_id"] == cid]
    return found or None


async def test_the_timeline_of_an_invite_shows_content_reasons_and_states(
    kafka: KafkaSettings, mongo: MongoSettings, tmp_path: Path, unique: str
) -> None:
    cid = f"{unique}-t"
    event = ats_event("ats.interview.scheduled", cid)
    async with services_running(kafka, mongo, tmp_path, unique) as stack:
        await produce(kafka, ATS_EVENTS, [event])
        body = await eventually(lambda: _timeline(stack.notifier, cid, "sent", "delivered"), what="the timeline")
        assert (await stack.notifier.get(f"/v1/candidates/{cid}/timeline")).status_code == 401
        missing = await stack.notifier.get(f"/v1/candidates/{unique}-nobody/timeline", headers=KEY)
        assert missing.status_code == 404
    [invite] = [n for n in body["notifications"] if n["stage"] == "interview_scheduling"]
    assert (invite["channel"], invite["ats_event_id"], invite["application_id"]) == ("email", event["id"], "app-1")
    assert invite["template"]["name"] == "interview_invite" and invite["template"]["language"] == "nl"
    assert invite["subject"] == "Uitnodiging voor een gesprek: Data engineer"
    assert "We nodigen je graag uit" in invite["body"] and "/s/" in invite["body"]
    assert invite["reasons"] and any("e-mail" in r for r in invite["reasons"])
    states = [h["status"] for h in invite["history"]]
    assert states[:2] == ["queued", "sent"] and states == sorted(states, key=states.index)
    reminders = [n for n in body["notifications"] if n["stage"] == "interview_reminder"]
    assert reminders and all(n["status"] == "held" and n["template"] is None for n in reminders)
    email = body["preferences"]["channels"]["email"]
    assert email["address_known"] and email["address_valid"]
    assert email["consent"]["application"]["state"] == "unknown"
    assert body["preferences"]["channel_order"] == ["email"]


async def test_worklist_items_appear_and_are_marked_handled(
    kafka: KafkaSettings, mongo: MongoSettings, tmp_path: Path, unique: str
) -> None:
    cid = f"{unique}-w"
    async with services_running(kafka, mongo, tmp_path, unique) as stack:
        await produce(kafka, ATS_EVENTS, [ats_event("ats.stage.changed", cid, stage="screening", email=None)])
        [item] = await eventually(lambda: _open_items(stack.notifier, cid, "needs_recruiter"), what="needs_recruiter")
        assert item["stage"] == "screening" and item["reason"] and not item["silence"]
        unparsed = ReplyNeedsRecruiterEvent(
            id=str(uuid.uuid4()),
            source="urn:test:preference",
            time=datetime.now(UTC),
            subject=cid,
            data=ReplyNeedsRecruiter(
                candidate_id=cid,
                channel=Channel.SMS,
                reason="reply not understood; a recruiter should read it",
                received_at=datetime.now(UTC),
            ),
        )
        await produce(kafka, CANDIDATE_EVENTS, [unparsed.model_dump(mode="json")])
        [reply] = await eventually(lambda: _open_items(stack.notifier, cid, "unparsed_reply"), what="unparsed reply")
        assert reply["channel"] == "sms"

        url = f"/v1/worklist/{item['id']}/handled"
        assert (await stack.notifier.post(url, json={"by": "Femke"})).status_code == 401
        assert (await stack.notifier.post(url, json={"by": "Femke"}, headers={"X-API-Key": "no"})).status_code == 403
        first = await stack.notifier.post(url, json={"by": "Femke"}, headers=KEY)
        again = await stack.notifier.post(url, json={"by": "Joris"}, headers=KEY)
        unknown = await stack.notifier.post("/v1/worklist/nothing-here/handled", json={"by": "F"}, headers=KEY)
        still_open = await _open_items(stack.notifier, cid, "needs_recruiter")
        everything = (await stack.notifier.get("/v1/worklist?include_handled=true", headers=KEY)).json()["items"]
    assert first.status_code == 200 and first.json()["changed"] is True
    assert again.status_code == 200 and again.json()["changed"] is False and again.json()["handled_by"] == "Femke"
    assert unknown.status_code == 404
    assert still_open is None
    [closed] = [i for i in everything if i["id"] == item["id"]]
    assert closed["handled_by"] == "Femke" and closed["handled_at"]
