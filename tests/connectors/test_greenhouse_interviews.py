"""Greenhouse interviews after the stage change: the poller of Harvest's scheduled interviews and the
interview_deleted and offer web hooks, through the real service, real Kafka, FerretDB and the Harvest emulator.

Documentation followed: https://developers.greenhouse.io/harvest.html (GET: List Scheduled Interviews with
updated_after and per_page; Pagination: follow the Link header's rel="next"; GET: Retrieve Application; GET:
Retrieve Candidate) and https://developers.greenhouse.io/webhooks.html (Interview deleted, Offer created,
Offer updated; the Signature and Greenhouse-Event-ID headers).
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
from pymongo import AsyncMongoClient

from deploy.local.ats_emulators import EmulatorState
from services.common.settings import KafkaSettings, MongoSettings
from tests.connectors.conftest import SECRETS, ConnectorFactory, connections
from tests.connectors.test_lever import errors
from tests.connectors.webhooks import body_of, fixture, greenhouse_headers
from tests.support import eventually, read_json

FIXTURES = Path(__file__).parent / "fixtures" / "greenhouse"
APPLICATION = 71980812
POLL = {"interview_poll_s": 0.2}


async def seed_records(url: str, **stage: str) -> None:
    """The application and candidate of the web hook fixtures, as Harvest returns them, into the emulator."""
    records = json.loads((FIXTURES / "harvest_records.json").read_text())
    if stage:
        records["applications"][str(APPLICATION)]["current_stage"] = stage
    async with httpx.AsyncClient(base_url=url) as client:
        seeded = await client.post("/_emulator/greenhouse/records", json=records)
        assert seeded.status_code == 200, seeded.text


async def schedule(url: str, *interviews: dict[str, Any], application: int = APPLICATION) -> None:
    """Interviews scheduled in Greenhouse now (the emulator stamps created_at/updated_at unless given)."""
    async with httpx.AsyncClient(base_url=url) as client:
        answer = await client.post(
            "/_emulator/greenhouse/scheduled_interviews",
            json={"application_id": application, "interviews": list(interviews)},
        )
        assert answer.status_code == 200, answer.text


def interview(start: datetime, iv_id: int = 9001, **changes: Any) -> dict[str, Any]:
    """A scheduled interview object as Harvest documents it."""
    return {
        "id": iv_id,
        "application_id": APPLICATION,
        "external_event_id": f"event-{iv_id}",
        "start": {"date_time": start.isoformat().replace("+00:00", "Z")},
        "end": {"date_time": (start + timedelta(hours=1)).isoformat().replace("+00:00", "Z")},
        "location": "Utrecht, Jaarbeursplein 1",
        "video_conferencing_url": None,
        "status": "scheduled",
        "interview": {"id": 7001, "name": "Technical interview"},
        **changes,
    }


async def deliver(client: httpx.AsyncClient, doc: dict[str, Any]) -> httpx.Response:
    """POST a fixture signed as Greenhouse signs it."""
    body = body_of(doc)
    headers = greenhouse_headers(body, SECRETS["greenhouse"])
    return await client.post("/v1/webhooks/greenhouse", content=body, headers=headers)


def later(updated: datetime) -> str:
    return updated.isoformat(timespec="milliseconds").replace("+00:00", "Z")


async def events_of(kafka: KafkaSettings, n: int) -> list[dict[str, Any]]:
    """Wait until ats.events holds `n` events; all of them."""

    async def enough() -> list[dict[str, Any]] | None:
        found = await read_json(kafka, "ats.events")
        return found if len(found) >= n else None

    return await eventually(enough, timeout=30, what=f"{n} events on ats.events")


async def rounds(state: EmulatorState, more: int) -> None:
    """Wait until the poller listed Harvest's scheduled interviews `more` times again."""

    def listed() -> int:
        return sum(1 for c in state.calls if c["path"] == "/greenhouse/v1/scheduled_interviews")

    start = listed()

    async def done() -> bool:
        return listed() >= start + more

    await eventually(done, timeout=20, what=f"{more} more polls")


async def test_an_interview_scheduled_moved_and_deleted_after_the_stage_change_reaches_ats_events(
    connector: ConnectorFactory, kafka: KafkaSettings, ats_api: tuple[str, EmulatorState]
) -> None:
    url, state = ats_api
    await seed_records(url)
    start = (datetime.now(UTC) + timedelta(days=3)).replace(microsecond=0)
    async with connector(connections=connections(url), **POLL) as client:
        changed = await deliver(client, fixture("greenhouse", "candidate_stage_change"))  # no interview yet
        assert changed.status_code == 202, changed.text
        await schedule(url, interview(start))  # the recruiter schedules it afterwards
        scheduled = (await events_of(kafka, 2))[1]
        moved_at = later(datetime.now(UTC) + timedelta(seconds=1))
        await schedule(url, interview(start + timedelta(days=1), updated_at=moved_at, location="Amsterdam"))
        rescheduled = (await events_of(kafka, 3))[2]
        await rounds(state, 2)  # more rounds read the same version again: nothing new
        await schedule(url)  # deleted in Greenhouse: no longer listed, and the web hook fires
        deleted = await deliver(client, fixture("greenhouse", "interview_deleted"))
        await rounds(state, 2)
        events = await read_json(kafka, "ats.events")

    assert [e["type"] for e in events] == [
        "ats.stage.changed",
        "ats.interview.scheduled",
        "ats.interview.rescheduled",
        "ats.interview.cancelled",
    ]
    assert {e["subject"] for e in events} == {"greenhouse:60304594"}
    assert (scheduled["data"]["candidate"]["email"], scheduled["data"]["candidate"]["phone"]) == (
        "sanne@example.org",  # fetched from Harvest: the personal address, the mobile number
        "+31612345678",
    )
    assert scheduled["data"]["application"] == {
        "id": str(APPLICATION),
        "job_title": "Data engineer",
        "stage": "interview_scheduling",
    }
    first, moved, cancelled = (e["data"]["interview"] for e in events[1:])
    assert {first["id"], moved["id"], cancelled["id"]} == {"gh-9001"}
    assert datetime.fromisoformat(first["start"]) == start
    assert (datetime.fromisoformat(moved["start"]), moved["location"]) == (start + timedelta(days=1), "Amsterdam")
    assert first["sequence"] < moved["sequence"] < cancelled["sequence"]
    assert datetime.fromisoformat(cancelled["start"]) == start + timedelta(days=1)  # the time we last told
    assert deleted.status_code == 202
    assert deleted.json()["events"] == [events[3]["id"]]
    assert rescheduled["id"] == events[2]["id"]


async def test_strangers_are_skipped_pages_are_followed_and_the_cursor_survives_a_restart(
    connector: ConnectorFactory, kafka: KafkaSettings, mongo: MongoSettings, ats_api: tuple[str, EmulatorState]
) -> None:
    url, state = ats_api
    await seed_records(url)
    state.seed("greenhouse", "page_size", 2)
    state.seed("greenhouse", "applications/555", {"id": 555, "candidate_id": 777, "current_stage": {"name": "Offer"}})
    start = (datetime.now(UTC) + timedelta(days=3)).replace(microsecond=0)
    await schedule(url, interview(start, iv_id=501, application_id=555), application=555)  # no web hook linked it
    async with connector(connections=connections(url), **POLL) as client:
        assert (await deliver(client, fixture("greenhouse", "new_candidate_application"))).status_code == 202
        await schedule(url, *(interview(start + timedelta(hours=2 * i), iv_id=9100 + i) for i in range(5)))
        await events_of(kafka, 6)
        await rounds(state, 1)
    cursor = await _cursor(mongo)
    before_restart = len(state.served("greenhouse", "listed_since"))
    async with connector(connections=connections(url), **POLL):  # a restart: same store
        await rounds(state, 2)
        events = await read_json(kafka, "ats.events")
    since_restart = state.served("greenhouse", "listed_since")[before_restart:]

    assert [e["type"] for e in events] == ["ats.application.received"] + ["ats.interview.scheduled"] * 5
    assert sorted(e["data"]["interview"]["id"] for e in events[1:]) == [f"gh-{9100 + i}" for i in range(5)]
    # Six interviews listed at two a page: all five found only by following the Link header's next pages.
    paths = {c["path"] for c in state.calls}
    assert "/greenhouse/v1/applications/555" in paths  # looked at ...
    assert "/greenhouse/v1/candidates/777" not in paths  # ... but a stranger: never fetched, never told
    assert cursor is not None and datetime.fromisoformat(cursor.replace("Z", "+00:00")) > datetime.now(UTC) - timedelta(
        minutes=5
    )
    assert since_restart and set(since_restart) == {cursor}  # the restart read on from the stored cursor


async def test_the_stage_change_web_hook_and_the_poller_finding_one_interview_make_one_event(
    connector: ConnectorFactory, kafka: KafkaSettings, mongo: MongoSettings, ats_api: tuple[str, EmulatorState]
) -> None:
    url, _ = ats_api
    await seed_records(url)
    start = (datetime.now(UTC) + timedelta(days=3)).replace(microsecond=0)
    await schedule(url, interview(start))
    async with connector(connections=connections(url), interview_poll_s=0) as client:
        assert (await deliver(client, fixture("greenhouse", "new_candidate_application"))).status_code == 202
        changed = await deliver(client, fixture("greenhouse", "candidate_stage_change"))  # finds the interview
        assert changed.status_code == 202, changed.text
    # The race: the poller read what was told before the web hook's intake remembered the interview.
    await _forget_told_interviews(mongo)
    async with connector(connections=connections(url), **POLL):
        events = await events_of(kafka, 3)

    by_webhook, by_poller = events[1], events[2]
    assert by_webhook["type"] == by_poller["type"] == "ats.interview.scheduled"
    # One interview version, one CloudEvent id: the pipeline decides it once (the router's decision log and
    # the notifier's claim are keyed by it), so the candidate gets one invitation.
    assert by_webhook["id"] == by_poller["id"]
    assert by_webhook["data"]["interview"] == by_poller["data"]["interview"]


async def _forget_told_interviews(mongo: MongoSettings) -> None:
    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(mongo.url.get_secret_value())
    try:
        await client[mongo.database]["connector_interviews"].delete_many({})
    finally:
        await client.close()


async def test_harvest_down_keeps_an_error_record_and_a_later_round_catches_up(
    connector: ConnectorFactory, kafka: KafkaSettings, mongo: MongoSettings, ats_api: tuple[str, EmulatorState]
) -> None:
    url, state = ats_api
    await seed_records(url)
    start = (datetime.now(UTC) + timedelta(days=3)).replace(microsecond=0)
    async with connector(connections=connections(url), api_attempts=2, **POLL) as client:
        assert (await deliver(client, fixture("greenhouse", "new_candidate_application"))).status_code == 202
        state.failures["greenhouse"] = [503, 503]  # both tries of the next call
        await schedule(url, interview(start))
        events = await events_of(kafka, 2)
        errors_kept = await errors(mongo)

    assert [e["type"] for e in events] == ["ats.application.received", "ats.interview.scheduled"]
    assert [(e["kind"], e["connection"], e["ref"]) for e in errors_kept] == [
        ("fetch_failed", "greenhouse", "scheduled_interviews")
    ]
    assert "HTTP 503 after 2 tries" in errors_kept[0]["reason"]


async def test_an_offer_sent_to_the_candidate_is_extended_once(
    connector: ConnectorFactory, kafka: KafkaSettings, ats_api: tuple[str, EmulatorState]
) -> None:
    url, _ = ats_api
    await seed_records(url, id="71420", name="Offer")
    draft = fixture("greenhouse", "offer_created")
    draft["payload"]["sent_on"] = None
    updated = fixture("greenhouse", "offer_created")
    updated["action"] = "offer_updated"
    async with connector(connections=connections(url), interview_poll_s=0) as client:
        not_sent = await deliver(client, draft)
        created = await deliver(client, fixture("greenhouse", "offer_created"))
        again = await deliver(client, updated)  # the same sent offer, another field changed
        events = await read_json(kafka, "ats.events")

    assert (not_sent.status_code, not_sent.json()["events"]) == (202, [])
    assert created.status_code == 202, created.text
    assert (again.status_code, again.json()["status"]) == (200, "duplicate")
    (event,) = events
    assert (event["type"], event["subject"]) == ("ats.offer.extended", "greenhouse:60304594")
    assert event["data"]["application"] == {"id": str(APPLICATION), "job_title": "Data engineer", "stage": "offer"}
    assert event["data"]["candidate"]["email"] == "sanne@example.org"


async def _cursor(mongo: MongoSettings) -> str | None:
    """The poller's stored cursor of the Greenhouse connection."""
    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(mongo.url.get_secret_value())
    try:
        doc = await client[mongo.database]["connector_cursors"].find_one({"_id": "greenhouse/scheduled_interviews"})
    finally:
        await client.close()
    return str(doc["value"]) if doc else None
