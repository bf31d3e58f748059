"""A send is two documents on the real store (FerretDB): the claim and the outcome, which carries the
message's stage, the router's `queued` and what was rendered; the timeline and callbacks read the outcome."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from schemas.common import Channel, NotificationStatus, Stage
from schemas.status import StatusChange
from services.common.mongo import make_client
from services.common.settings import MongoSettings
from services.notifier.store import MongoNotifierStore, SendRecord, TimelineEntry

pytestmark = pytest.mark.integration
NOW = datetime.now(UTC).replace(microsecond=0)


def record(nid: str, channel: Channel, ref: str) -> SendRecord:
    return SendRecord(
        nid, "sent", channel.value, "cand-1", "smtp", ref, "", ats_event_id=f"ats-{nid}", application_id="app-1",
        stage=Stage.INTERVIEW_SCHEDULING.value, attempt=1, queued_at=NOW - timedelta(seconds=1),
        queued_reason="first choice",
    )  # fmt: skip


def entry(nid: str, channel: Channel) -> TimelineEntry:
    return TimelineEntry(
        nid, "cand-1", "app-1", f"ats-{nid}", channel.value, Stage.INTERVIEW_SCHEDULING.value, 1, "interview_invite",
        2, "nl", ("first choice",), "Je gesprek", "Hoi Sanne", NOW,
    )  # fmt: skip


async def test_a_send_is_a_claim_and_an_outcome_and_the_timeline_shows_both_states(mongo: MongoSettings) -> None:
    client = make_client(mongo, "test-outcomes")
    store = MongoNotifierStore(client, mongo.database)
    await store.ensure_indexes()
    try:
        mail, sms = record("n-mail", Channel.EMAIL, "<n-mail@x>"), record("n-sms", Channel.SMS, "SM123")
        await store.claim([mail, sms], NOW)
        await store.finish([mail, sms], {"n-mail": entry("n-mail", Channel.EMAIL)}, NOW + timedelta(seconds=1))
        # A later state (a delivery receipt) arrives as a state document; `queued` and `sent` are in the outcome.
        await store.apply_statuses(
            [
                StatusChange(
                    notification_id="n-mail",
                    ats_event_id="ats-n-mail",
                    candidate_id="cand-1",
                    application_id="app-1",
                    status=NotificationStatus.DELIVERED,
                    channel=Channel.EMAIL,
                    stage=Stage.INTERVIEW_SCHEDULING,
                    attempt=1,
                    reason="",
                    occurred_at=NOW + timedelta(seconds=5),
                )
            ]
        )
        db = client[mongo.database]
        names = await db.list_collection_names()
        counts = {n: await db[n].count_documents({}) for n in names}
        assert counts.get("contents", 0) == 0 and counts["claims"] == 2 and counts["outcomes"] == 2
        assert counts["provider_refs"] == 1  # the SMS sid; the e-mail's Message-ID is made from its id
        rows = {r["_id"]: r for r in await store.timeline("cand-1")}
        assert [h["status"] for h in rows["n-mail"]["history"]] == ["queued", "sent", "delivered"]
        assert rows["n-mail"]["history"][0]["reason"] == "first choice"
        assert counts["states"] == 1  # only the receipt
        assert rows["n-mail"]["subject"] == "Je gesprek" and rows["n-mail"]["reasons"] == ["first choice"]
        assert rows["n-sms"]["status"] == "sent" and "subject" not in rows["n-sms"]
        found = await store.send_of("n-mail")
        assert found is not None and found.context() == {
            "_id": "n-mail", "ats_event_id": "ats-n-mail", "application_id": "app-1",
            "stage": Stage.INTERVIEW_SCHEDULING.value, "attempt": 1,
        }  # fmt: skip
        by_ref = await store.send_by_ref("SM123")
        assert by_ref is not None and by_ref.notification_id == "n-sms" and by_ref.stage is not None
    finally:
        await client.close()
