"""The router's timer scan on FerretDB: held messages come due on time, with as few scans as possible."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from pymongo import AsyncMongoClient

from schemas.common import Channel, NotificationStatus, Stage
from services.common.mongo import make_client
from services.common.settings import MongoSettings
from services.router.policy import Recent, RoutingConfig, plan_event
from services.router.store import MongoRouterStore, Routed
from tests.router.builders import event, prefs

CFG = RoutingConfig(stage_map={"interview": Stage.INTERVIEW_SCHEDULING})
NIGHT = datetime(2026, 12, 1, 21, 30, tzinfo=UTC)  # 22:30 in Amsterdam: SMS waits until 08:00
MORNING = datetime(2026, 12, 2, 7, 0, tzinfo=UTC)


def held_sms(event_id: str) -> Routed:
    sms = prefs((Channel.SMS,), granted=(Channel.SMS,), explicit=True)
    planned = plan_event(
        event("ats.stage.changed", event_id=event_id, time_=NIGHT), sms, NIGHT, CFG, Recent()
    ).messages[0]
    assert planned.state is NotificationStatus.HELD and planned.due_at == MORNING
    return Routed(planned=planned, partition=0, to="+31612345678", preference_version=1, created_at=NIGHT)


class CountingFinds:
    """Counts the scans a store makes of its working set."""

    def __init__(self, store: MongoRouterStore) -> None:
        self.scans = 0
        pending = store._pending  # the test watches the one collection the timer reads
        original = pending.find

        def find(*args: Any, **kwargs: Any) -> Any:
            if args and "partition" in args[0]:  # a scan, not a point lookup by _id (find_one calls find)
                self.scans += 1
            return original(*args, **kwargs)

        pending.find = find  # type: ignore[method-assign]


async def test_a_held_message_comes_due_without_a_scan_per_tick(mongo: MongoSettings) -> None:
    client: AsyncMongoClient[dict[str, Any]] = make_client(mongo, "test")
    try:
        store = MongoRouterStore(client, mongo.database, timer_backstop_s=3600)
        counter = CountingFinds(store)
        assert await store.due([0], NIGHT, 100) == []  # the first call scans (nothing is known yet)
        await store.insert([held_sms("e-1")])  # brings the hint forward to 08:00
        for minute in range(1, 60):  # a tick a minute through the night: no scan before the hint
            assert await store.due([0], NIGHT + timedelta(minutes=minute), 100) == []
        assert counter.scans == 1
        released = await store.due([0], MORNING, 100)
        assert [r.id for r in released] == [held_sms("e-1").id]
        assert counter.scans == 2
    finally:
        await client.close()


async def test_what_another_instance_wrote_is_found_after_a_reassignment(mongo: MongoSettings) -> None:
    client: AsyncMongoClient[dict[str, Any]] = make_client(mongo, "test")
    try:
        mine = MongoRouterStore(client, mongo.database, timer_backstop_s=3600)
        other = MongoRouterStore(client, mongo.database, timer_backstop_s=3600)
        assert await mine.due([0], NIGHT, 100) == []
        await other.insert([held_sms("e-2")])  # this instance's hint knows nothing of it
        assert await mine.due([0], MORNING, 100) == []
        mine.forget_timers()  # what a partition assignment does
        assert [r.id for r in await mine.due([0], MORNING, 100)] == [held_sms("e-2").id]
        assert await mine.count_held([0]) == {"quiet_hours": 1}
    finally:
        await client.close()
