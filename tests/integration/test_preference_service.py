"""The preference service on the real broker and database: API, concurrency, replies, outcomes, privacy."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from schemas.common import Channel, NotificationStatus
from schemas.topics import ATS_EVENTS, CANDIDATE_EVENTS, CANDIDATE_INBOUND, NOTIFICATIONS_STATUS, PREFERENCES_CHANGED
from services.common.settings import KafkaSettings, MongoSettings
from services.preference.app import create_app
from services.preference.learning import learn
from services.preference.settings import PreferenceSettings
from tests.support import ats_event, eventually, produce, read_json, read_topic, running

KEY = {"X-API-Key": "dev-only-api-key"}


@pytest.fixture
async def pref(kafka: KafkaSettings, mongo: MongoSettings, unique: str) -> AsyncIterator[httpx.AsyncClient]:
    settings = PreferenceSettings(
        kafka=kafka, mongo=mongo, group_id=f"{unique}.preference", outbox_grace_s=0.5, outbox_interval_s=0.2
    )
    async with running(create_app(settings)) as client:
        client.app = client._transport.app  # type: ignore[attr-defined]
        yield client


async def created(client: httpx.AsyncClient, kafka: KafkaSettings, candidate: str, **kw: Any) -> dict[str, Any]:
    await produce(kafka, ATS_EVENTS, [ats_event("ats.application.received", candidate, **kw)])

    async def fetched() -> dict[str, Any] | None:
        r = await client.get(f"/v1/candidates/{candidate}/preferences", headers=KEY)
        return r.json() if r.status_code == 200 else None

    return await eventually(fetched, what=f"profile of {candidate}")


async def test_api_changes_are_acknowledged_with_their_place_on_the_topic(
    pref: httpx.AsyncClient, kafka: KafkaSettings, unique: str
) -> None:
    cid = f"{unique}-a"
    first = await created(pref, kafka, cid, phone="+31612345678")
    assert first["version"] == 1 and first["channel_order"] == ["email"]

    r = await pref.patch(
        f"/v1/candidates/{cid}/preferences?evidence=phone%20call%2020-11",
        headers=KEY,
        json={"channel_order": ["sms", "email"], "stage_overrides": {"interview_scheduling": ["sms"]}},
    )
    assert r.status_code == 200, r.text
    ack = r.json()
    assert ack["changed"] and ack["version"] == 2
    on_topic = [
        rec
        for rec in await read_topic(kafka, PREFERENCES_CHANGED)
        if rec.partition == ack["partition"] and rec.offset == ack["offset"]
    ]
    snapshot = json.loads(on_topic[0].value)["data"]
    assert snapshot["version"] == 2 and snapshot["channel_order"] == ["sms", "email"]
    assert snapshot["consent"]["sms"]["application"]["state"] == "granted"
    assert snapshot["consent"]["sms"]["application"]["source"] == "recruiter"
    assert snapshot["provenance"]["stage:interview_scheduling"]["evidence"] == "phone call 20-11"

    same = await pref.patch(f"/v1/candidates/{cid}/preferences", headers=KEY, json={"channel_order": ["sms", "email"]})
    assert same.json()["changed"] is False and same.json()["version"] == 2

    revoked = await pref.post(
        f"/v1/candidates/{cid}/consent",
        headers=KEY,
        json={"channel": "sms", "state": "revoked", "source": "recruiter", "evidence": "asked"},
    )
    assert revoked.json()["version"] == 3
    assert revoked.json()["preferences"]["consent"]["sms"]["talent_pool"]["state"] == "revoked"

    history = (await pref.get(f"/v1/candidates/{cid}/preferences/history", headers=KEY)).json()
    assert [h["version"] for h in history] == [1, 2, 3]
    assert history[1]["source"] == "recruiter"


@pytest.mark.parametrize(
    ("method", "path", "body", "status"),
    [
        ("get", "/v1/candidates/nobody-here/preferences", None, 404),
        ("patch", "/v1/candidates/{cid}/preferences", {"channel_order": ["pigeon"]}, 422),
        ("patch", "/v1/candidates/{cid}/preferences", {"channel_order": ["sms", "sms"]}, 422),
        ("patch", "/v1/candidates/{cid}/preferences", {"contacts": {"phone": "0612"}}, 422),
        ("patch", "/v1/candidates/{cid}/preferences", {"contacts": {"email": "not-an-address"}}, 422),
        ("patch", "/v1/candidates/{cid}/preferences", {"stage_overrides": {"lunch": ["sms"]}}, 422),
        ("patch", "/v1/candidates/{cid}/preferences", {"timezone": "Mars/Olympus"}, 422),
        ("patch", "/v1/candidates/{cid}/preferences", "{broken", 422),
        ("patch", "/v1/candidates/{cid}/preferences", {"preferred_call_times": "x" * 70_000}, 413),
        ("post", "/v1/candidates/{cid}/consent", {"channel": "sms", "state": "maybe", "source": "recruiter"}, 422),
    ],
)
async def test_bad_requests_get_a_clear_4xx_and_change_nothing(
    pref: httpx.AsyncClient, kafka: KafkaSettings, unique: str, method: str, path: str, body: Any, status: int
) -> None:
    cid = f"{unique}-b"
    await created(pref, kafka, cid)
    kwargs: dict[str, Any] = {"headers": KEY}
    if isinstance(body, str):
        kwargs.update(content=body, headers={**KEY, "content-type": "application/json"})
    elif body is not None:
        kwargs["json"] = body
    r = await getattr(pref, method)(path.format(cid=cid), **kwargs)
    assert r.status_code == status, r.text
    if status == 422:
        assert r.json()["detail"][0]["loc"]  # field-level reasons
    after = (await pref.get(f"/v1/candidates/{cid}/preferences", headers=KEY)).json()
    assert after["version"] == 1


async def test_recruiter_endpoints_need_an_api_key(pref: httpx.AsyncClient) -> None:
    assert (await pref.get("/v1/candidates/x/preferences")).status_code == 401
    assert (await pref.get("/v1/candidates/x/preferences", headers={"X-API-Key": "guess"})).status_code == 403
    assert (
        await pref.get("/v1/candidates/x/preferences", headers={"Authorization": "Bearer dev-only-api-key"})
    ).status_code == 404


async def test_concurrent_writers_never_lose_each_other(
    pref: httpx.AsyncClient, kafka: KafkaSettings, unique: str
) -> None:
    cid = f"{unique}-c"
    await created(pref, kafka, cid)
    service = pref.app.state.service  # type: ignore[attr-defined]
    now = datetime.now(UTC)
    writers = 30
    await asyncio.gather(
        *(
            service.change(cid, lambda cur: learn(cur, Channel.EMAIL, NotificationStatus.REPLIED, now))
            for _ in range(writers)
        )
    )
    final = await service.get(cid)
    assert final.version == writers + 1
    assert final.affinity[Channel.EMAIL].samples == writers
    history = await service.history(cid)
    assert [h.version for h in history] == list(range(1, writers + 2))


async def test_replies_change_preferences_or_reach_the_ats_and_recruiters(
    pref: httpx.AsyncClient, kafka: KafkaSettings, unique: str
) -> None:
    cid = f"{unique}-r"
    await created(pref, kafka, cid, phone="+31612345678", opt_ins=("sms", "voice"))
    now = datetime.now(UTC)
    slots = [(now + timedelta(days=d)).isoformat() for d in (1, 2, 3)]

    def reply(text: str, channel: str = "sms", **kw: Any) -> dict[str, Any]:
        return {
            "specversion": "1.0",
            "id": f"r-{text}",
            "source": "urn:test",
            "type": "candidate.reply.received",
            "time": now.isoformat(),
            "subject": cid,
            "data": {"candidate_id": cid, "channel": channel, "text": text, "received_at": now.isoformat(), **kw},
        }

    await produce(
        kafka,
        CANDIDATE_INBOUND,
        [
            reply("stop met bellen, sms mag wel"),
            reply("STOP"),
            reply("optie 2", slot_options=slots, interview_id="iv-9"),
            reply("Is de functie nog open?"),
        ],
    )

    async def settled() -> dict[str, Any] | None:
        prefs = (await pref.get(f"/v1/candidates/{cid}/preferences", headers=KEY)).json()
        return prefs if prefs["version"] >= 3 else None

    prefs = await eventually(settled, what="both replies applied")
    assert prefs["consent"]["voice"]["application"]["state"] == "revoked"
    assert prefs["consent"]["sms"]["application"]["state"] == "revoked"  # the later STOP wins
    assert prefs["consent"]["sms"]["application"]["evidence"] == "STOP"
    assert prefs["channel_order"] == ["email"]  # STOP took SMS out of the order too

    events = await eventually(lambda: _events(kafka, 2), what="candidate.events")
    by_type = {e["type"]: e["data"] for e in events}
    assert by_type["candidate.slot.chosen"]["option"] == 2
    assert by_type["candidate.slot.chosen"]["start"].startswith(slots[1][:16])
    assert by_type["candidate.reply.unparsed"]["channel"] == "sms"


async def _events(kafka: KafkaSettings, n: int) -> list[dict[str, Any]] | None:
    events = await read_json(kafka, CANDIDATE_EVENTS)
    return events if len(events) >= n else None


async def test_outcomes_teach_affinity_and_invalidate_addresses(
    pref: httpx.AsyncClient, kafka: KafkaSettings, unique: str
) -> None:
    cid = f"{unique}-o"
    await created(pref, kafka, cid)
    now = datetime.now(UTC).isoformat()

    def status(n: str, st: str, channel: str, invalid: bool = False) -> dict[str, Any]:
        return {
            "specversion": "1.0",
            "id": f"{n}:{st}",
            "source": "urn:test",
            "type": "notification.status.changed",
            "time": now,
            "subject": cid,
            "data": {
                "notification_id": n,
                "ats_event_id": "e",
                "candidate_id": cid,
                "status": st,
                "channel": channel,
                "stage": "application",
                "occurred_at": now,
                "contact_invalid": invalid,
                "reason": "mailbox does not exist" if invalid else "",
            },
        }

    await produce(
        kafka,
        NOTIFICATIONS_STATUS,
        [
            status("n1", "replied", "whatsapp"),
            status("n2", "sent", "email"),
            status("n3", "bounced", "email", invalid=True),
        ],
    )

    async def settled() -> dict[str, Any] | None:
        p = (await pref.get(f"/v1/candidates/{cid}/preferences", headers=KEY)).json()
        return p if p["version"] >= 3 else None

    prefs = await eventually(settled, what="outcomes applied")
    assert prefs["affinity"]["whatsapp"]["score"] > 0 and prefs["affinity"]["whatsapp"]["samples"] == 1
    assert prefs["contacts"]["email"]["valid"] is False
    assert "mailbox does not exist" in prefs["contacts"]["email"]["invalid_reason"]
    assert prefs["channel_order"] == ["email"]  # learning never overrides a choice


async def test_erasure_forgets_everywhere_and_is_not_undone_by_the_next_ats_event(
    pref: httpx.AsyncClient, kafka: KafkaSettings, unique: str
) -> None:
    cid = f"{unique}-e"
    await created(pref, kafka, cid)
    export = (await pref.get(f"/v1/candidates/{cid}/export", headers=KEY)).json()
    assert export["preferences"]["candidate_id"] == cid and export["history"]

    assert (await pref.delete(f"/v1/candidates/{cid}", headers=KEY)).json() == {"candidate_id": cid, "erased": True}
    assert (await pref.get(f"/v1/candidates/{cid}/preferences", headers=KEY)).status_code == 404
    records = [r for r in await read_topic(kafka, PREFERENCES_CHANGED) if r.key == cid.encode()]
    assert records[-1].value is None  # the tombstone every view applies

    await produce(
        kafka,
        ATS_EVENTS,
        [ats_event("ats.stage.changed", cid), ats_event("ats.application.received", f"{unique}-after")],
    )
    await created(pref, kafka, f"{unique}-after")  # the later event in the same partition order was processed
    assert (await pref.get(f"/v1/candidates/{cid}/preferences", headers=KEY)).status_code == 404
    metrics = (await pref.get("/metrics")).text
    assert "preference_suppressed_events_total 1.0" in metrics
