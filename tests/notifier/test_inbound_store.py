"""Shared-number attribution and erasure on the real store (FerretDB): the timeline rows the rules read."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from prometheus_client import CollectorRegistry

from schemas.common import Channel, NotificationStatus, Stage
from schemas.status import StatusChange
from services.common.mongo import make_client
from services.common.settings import MongoSettings
from services.notifier.inbound_sms import InboundMessages
from services.notifier.metrics import NotifierMetrics
from services.notifier.store import MongoNotifierStore
from tests.notifier.provider_doubles import FakeReports

pytestmark = pytest.mark.integration
NOW = datetime.now(UTC).replace(microsecond=0)
SHARED = "+31612345678"


def _state(cid: str, nid: str, status: NotificationStatus, channel: Channel, at: datetime) -> StatusChange:
    return StatusChange(
        notification_id=nid,
        ats_event_id=f"ats-{nid}",
        candidate_id=cid,
        application_id=f"app-{cid}",
        status=status,
        channel=channel,
        stage=Stage.INTERVIEW_SCHEDULING,
        attempt=1,
        reason="",
        provider="twilio-sms",
        occurred_at=at,
    )


async def test_attribution_reads_the_stores_timeline_and_erasure_removes_shared_items(mongo: MongoSettings) -> None:
    client = make_client(mongo, "test-inbound")
    store = MongoNotifierStore(client, mongo.database)
    await store.ensure_indexes()
    await store.apply_statuses(
        [
            _state("cand-a", "n-a", NotificationStatus.QUEUED, Channel.SMS, NOW - timedelta(minutes=40)),
            _state("cand-a", "n-a", NotificationStatus.SENT, Channel.SMS, NOW - timedelta(minutes=30)),
            _state("cand-b", "n-b", NotificationStatus.SENT, Channel.SMS, NOW - timedelta(minutes=20)),
            _state("cand-b", "n-b", NotificationStatus.DELIVERED, Channel.SMS, NOW - timedelta(minutes=19)),
            # queued later than n-b was sent, but never sent: it answers nothing
            _state("cand-a", "n-a2", NotificationStatus.QUEUED, Channel.SMS, NOW - timedelta(minutes=1)),
        ]
    )
    reports, metrics = FakeReports(), NotifierMetrics(CollectorRegistry())

    async def owners(number: str, channel: Channel) -> tuple[str, ...]:
        return ("cand-a", "cand-b") if number == SHARED else ()

    inbound = InboundMessages(store, reports, metrics, owners, lambda: NOW)  # type: ignore[arg-type]
    try:
        await inbound.receive({"MessageSid": "SM1", "From": SHARED, "Body": "Ja"})
        await inbound.receive({"MessageSid": "SM2", "From": f"whatsapp:{SHARED}", "Body": "Wie?"})
        [(reply, _)] = reports.replies
        assert (reply.candidate_id, reply.in_reply_to, reply.application_id) == ("cand-b", "n-b", "app-cand-b")
        assert await store.last_inbound("cand-b", "sms") == NOW
        [item] = await store.worklist()
        assert (item["_id"], item["kind"], item["sharing"]) == (
            "unattributed_reply:SM2",
            "unattributed_reply",
            ["cand-a", "cand-b"],
        )
        await store.erase("cand-a")  # the item holds cand-a's number: it goes with cand-a
        assert await store.worklist(include_handled=True) == []
    finally:
        await client.close()
