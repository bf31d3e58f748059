"""Erasure is final: after `DELETE /v1/candidates/{id}` is acknowledged nothing is sent to the candidate and
nothing about them is rebuilt — not from a later ATS event, a replayed one, a held message or a command
already on its way to the notifier — and the ATS learns why (`suppressed` on notifications.status)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from pymongo import AsyncMongoClient

from schemas.common import Channel, Stage
from schemas.dispatch import DeliverMessage, DeliverMessageCommand, MessageContext
from schemas.topics import ATS_EVENTS, dispatch_topic
from services.common.settings import KafkaSettings, MongoSettings
from tests.stacks import Running, services_running
from tests.support import Clock, ats_event, produce, read_json, wait_status

KEY = {"X-API-Key": "dev-only-api-key"}
NIGHT = datetime(2026, 12, 1, 21, 30, tzinfo=UTC)  # 22:30 in Amsterdam: SMS is held until 08:00
PHONE = "+31612345678"


@pytest.fixture
async def stack(
    kafka: KafkaSettings, mongo: MongoSettings, tmp_path: Path, unique: str
) -> AsyncIterator[tuple[Running, Clock]]:
    clock = Clock(NIGHT)
    async with services_running(kafka, mongo, tmp_path, unique, clock=clock) as running:
        yield running, clock


async def create_and_erase(stack: Running, kafka: KafkaSettings, cid: str, **kw: Any) -> dict[str, Any]:
    """A candidate whose first message went out, then erased through the API; returns their first event."""
    first = ats_event("ats.application.received", cid, time_=NIGHT, **kw)
    await produce(kafka, ATS_EVENTS, [first])
    await wait_status(kafka, cid, "sent")
    r = await stack.preference.delete(f"/v1/candidates/{cid}", headers=KEY)
    assert r.status_code == 200 and r.json()["erased"]
    return first


async def records_of(mongo: MongoSettings, cid: str) -> dict[str, int]:
    """How many documents of every collection still name the candidate."""
    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(mongo.url.get_secret_value())
    try:
        db = client[mongo.database]
        counts = {}
        for name in await db.list_collection_names():
            counts[name] = await db[name].count_documents({"candidate_id": cid})
        return {k: v for k, v in counts.items() if v}
    finally:
        await client.close()


async def test_later_and_replayed_events_of_an_erased_candidate_send_and_rebuild_nothing(
    stack: tuple[Running, Clock], kafka: KafkaSettings, mongo: MongoSettings, unique: str
) -> None:
    running, _ = stack
    cid = f"{unique}-e"
    first = await create_and_erase(running, kafka, cid)
    mails_before = len(running.mails())
    later = [
        first,  # the same event again (a redelivery, an ATS replay)
        ats_event("ats.stage.changed", cid, stage="screening", time_=NIGHT),
        ats_event("ats.interview.scheduled", cid, time_=NIGHT),
    ]
    await produce(kafka, ATS_EVENTS, later)
    suppressed = await wait_status(kafka, cid, "suppressed", n=3)
    assert {s["ats_event_id"] for s in suppressed} == {e["id"] for e in later}
    assert all("erased" in s["reason"] and s["channel"] is None for s in suppressed)

    assert len(running.mails()) == mails_before
    assert (await running.preference.get(f"/v1/candidates/{cid}/preferences", headers=KEY)).status_code == 404
    timeline = await running.notifier.get(f"/v1/candidates/{cid}/timeline", headers=KEY)
    assert timeline.status_code == 404 or not timeline.json()["items"], timeline.text
    assert await records_of(mongo, cid) == {}, "no profile, decision or timeline was rebuilt"


async def test_a_held_message_is_suppressed_and_never_released(
    stack: tuple[Running, Clock], kafka: KafkaSettings, unique: str
) -> None:
    running, clock = stack
    cid = f"{unique}-h"
    await produce(kafka, ATS_EVENTS, [ats_event("ats.application.received", cid, phone=PHONE, opt_ins=("sms",))])
    await wait_status(kafka, cid, "sent")
    r = await running.preference.patch(
        f"/v1/candidates/{cid}/preferences", headers=KEY, json={"channel_order": ["sms"]}
    )
    assert r.status_code == 200
    await produce(kafka, ATS_EVENTS, [ats_event("ats.interview.scheduled", cid, phone=PHONE, opt_ins=("sms",))])
    held = await wait_status(kafka, cid, "held", n=3)  # invitation and two reminders
    assert (await running.preference.delete(f"/v1/candidates/{cid}", headers=KEY)).status_code == 200

    suppressed = await wait_status(kafka, cid, "suppressed", n=3)
    assert {s["notification_id"] for s in suppressed} == {h["notification_id"] for h in held}
    clock.now = NIGHT + timedelta(days=10)  # every hold is long over
    await produce(kafka, ATS_EVENTS, [ats_event("ats.stage.changed", cid, stage="screening", time_=clock.now)])
    await wait_status(kafka, cid, "suppressed", n=4)
    sms = [d for d in await read_json(kafka, dispatch_topic(Channel.SMS)) if d["subject"] == cid]
    assert sms == []


async def test_a_command_already_on_its_way_is_suppressed_at_send_time(
    stack: tuple[Running, Clock], kafka: KafkaSettings, unique: str
) -> None:
    running, _ = stack
    cid = f"{unique}-d"
    first = await create_and_erase(running, kafka, cid)
    mails_before = len(running.mails())
    msg = DeliverMessage(
        notification_id=f"{unique}-late",
        ats_event_id=first["id"],
        candidate_id=cid,
        channel=Channel.EMAIL,
        stage=Stage.APPLICATION,
        template="stage_update",
        language="nl",
        to="sanne@example.org",  # the router decided before the erasure; the notifier must not use this
        context=MessageContext(candidate_name="Sanne", job_title="Data engineer"),
        event_time=NIGHT,
        decided_at=NIGHT,
        preference_version=1,
    )
    command = DeliverMessageCommand(id=msg.notification_id, time=NIGHT, subject=cid, data=msg)
    await produce(kafka, dispatch_topic(Channel.EMAIL), [command.model_dump(mode="json")])
    state = (await wait_status(kafka, cid, "suppressed", notification_id=msg.notification_id))[0]
    assert "erased" in state["reason"]
    assert len(running.mails()) == mails_before


async def test_a_new_application_with_renewed_consent_is_the_documented_way_back(
    stack: tuple[Running, Clock], kafka: KafkaSettings, unique: str
) -> None:
    running, clock = stack
    cid = f"{unique}-w"
    first = await create_and_erase(running, kafka, cid)
    clock.now = NIGHT + timedelta(days=30)
    renewed = ats_event("ats.application.received", cid, time_=clock.now, email="sanne.new@example.org")
    renewed["data"]["application"] |= {"id": "app-2", "consent_renewed_at": clock.now.isoformat()}
    await produce(kafka, ATS_EVENTS, [renewed])

    sent = (await wait_status(kafka, cid, "sent", ats_event_id=renewed["id"]))[0]
    assert sent["channel"] == "email"
    assert [m for m in running.mails() if m["rcpt_tos"] == ["sanne.new@example.org"]]
    profile = await running.preference.get(f"/v1/candidates/{cid}/preferences", headers=KEY)
    assert profile.status_code == 200 and profile.json()["version"] > 2, "versions go on past the erasure"
    history = (await running.preference.get(f"/v1/candidates/{cid}/preferences/history", headers=KEY)).json()
    assert "renewed consent" in history[0]["summary"]

    await produce(kafka, ATS_EVENTS, [first])  # the old life, replayed: still suppressed
    await wait_status(kafka, cid, "suppressed", ats_event_id=first["id"])
