"""The erasure notice's claim on the real database (FerretDB): of senders racing for one notice, one holds it;
a released or removed notice can be claimed again, and another notice's claim is not in the way."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

from pymongo import AsyncMongoClient

from schemas.candidate_events import DataErased, DataErasedEvent
from services.common.settings import MongoSettings
from services.preference.erasure_notices import MongoNoticeOutbox

LEASE = timedelta(seconds=60)
AT = datetime(2026, 12, 1, 12, 0, 17, tzinfo=UTC)


def _notice(cid: str) -> DataErasedEvent:
    data = DataErased(candidate_id=cid, requested_by="candidate", erased_at=AT, last_version=1, kept=("a hash",))
    return DataErasedEvent(id=f"notice-{cid}", source="urn:test", time=AT, subject=cid, data=data)


async def test_of_racing_senders_one_holds_the_notice_until_it_is_released_or_removed(mongo: MongoSettings) -> None:
    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(mongo.url.get_secret_value())
    try:
        db = client[mongo.database]
        instances = [MongoNoticeOutbox(db) for _ in range(8)]  # eight preference instances, one database
        notice = _notice("c1")
        await instances[0].add(notice, AT)

        won = await asyncio.gather(*(o.claim(notice.id, AT, LEASE) for o in instances))
        assert won.count(True) == 1, won
        assert await instances[1].claim(_notice("c2").id, AT, LEASE), "another notice is claimed on its own"
        assert not await instances[1].claim(notice.id, AT + LEASE, LEASE)  # lost: gives back the slot it got
        assert await instances[1].claim(notice.id, AT + LEASE * 2, LEASE), "the lease ran out"

        await instances[1].release(notice.id)  # that sender's send failed
        assert await instances[3].claim(notice.id, AT + LEASE * 2, LEASE)

        await instances[3].remove(notice.id)  # on the topic: the notice and its claims are gone
        assert not await instances[0].holds(notice.id)
        assert await db["erasure_notice_claims"].count_documents({"notice_id": notice.id}) == 0
    finally:
        await client.close()
