"""Readiness that tells the truth, on the real broker.

A consumer group with records waiting and a committed offset that stands still makes /ready 503 naming the
group (and consumer_stalled 1) until it commits again. The notifier whose preference view lags behind the
acknowledged offsets retries its batch (transient) and says so on /ready, where it used to answer 200.
"""

from __future__ import annotations

import asyncio
import socket
from pathlib import Path
from typing import Any

from faststream.kafka import KafkaBroker
from prometheus_client import CollectorRegistry
from pymongo import AsyncMongoClient

from schemas.ats import ATS_EVENT_ADAPTER, ATS_EVENT_TYPES
from schemas.envelope import EventDecoder
from schemas.topics import ATS_ACCEPTED, ATS_EVENTS
from services.common.consuming import subscribe_batch
from services.common.guard import InputGuard
from services.common.http import Readiness
from services.common.kafka import DeadLetters, Record
from services.common.lag import watch_lag
from services.common.settings import KafkaSettings, MongoSettings
from tests.stacks import services_running
from tests.support import ats_event, eventually, produce

Docs = AsyncMongoClient[dict[str, Any]]


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def test_a_group_that_stops_committing_makes_ready_503_naming_it_until_it_moves_again(
    kafka: KafkaSettings, mongo: MongoSettings, unique: str
) -> None:
    unreachable: Docs = AsyncMongoClient(f"mongodb://127.0.0.1:{closed_port()}/", serverSelectionTimeoutMS=100)
    reachable: Docs = AsyncMongoClient(mongo.url.get_secret_value())
    database = [unreachable]

    async def store(batch: list[tuple[Record, Any]]) -> None:
        for _, event in batch:
            await database[0][mongo.database]["seen"].replace_one({"_id": event.id}, {"at": event.time}, upsert=True)

    group = f"{unique}.router"
    registry, readiness = CollectorRegistry(), Readiness()
    broker = KafkaBroker(kafka.bootstrap_servers)
    guard = InputGuard(backoff_s=0.1, backoff_max_s=0.2)
    readiness.probe(guard.problems)
    subscribe_batch(
        broker,
        [kafka.topic(ATS_ACCEPTED)],
        group_id=group,
        decoder=EventDecoder(ATS_EVENT_ADAPTER, ATS_EVENT_TYPES, 100_000),
        dead_letters=DeadLetters(broker, group, guard=guard),
        handle=store,
    )
    await broker.start()
    watcher = asyncio.create_task(
        watch_lag(kafka, broker, registry, interval_s=0.3, readiness=readiness, stall_after_s=1.5)
    )
    try:
        [(partition, _)] = await produce(kafka, ATS_ACCEPTED, [ats_event("ats.application.received", "anna")])

        async def stalled() -> str | None:
            return readiness.reasons().get(f"stalled:{group}")

        reason = await eventually(stalled, what="the stall reported on readiness")
        assert reason.startswith(f"{kafka.topic(ATS_ACCEPTED)}/{partition}: 1 records waiting, committed offset -1")

        async def gauge_up() -> bool:  # set at the next measurement; readiness asks the clock at once
            return registry.get_sample_value("consumer_stalled", {"group": group}) == 1

        await eventually(gauge_up, what="consumer_stalled 1")
        assert "inputs" in readiness.reasons(), "the cause shows too: the handler is retrying"

        database[0] = reachable  # the outage ends: the group commits and the stall clears

        async def moving() -> bool:
            return readiness.ready and registry.get_sample_value("consumer_stalled", {"group": group}) == 0

        await eventually(moving, what="ready again once the group commits")
    finally:
        watcher.cancel()
        await asyncio.gather(watcher, return_exceptions=True)
        await broker.stop()
        await asyncio.gather(unreachable.close(), reachable.close())


async def test_the_notifier_is_not_ready_while_its_view_is_behind_and_mails_once_it_caught_up(
    kafka: KafkaSettings, mongo: MongoSettings, tmp_path: Path, unique: str
) -> None:
    # Every live batch of the notifier's view waits 3 s; its send barrier gives up after 0.2 s.
    slow_view = {"test_view_delay_s": 3.0, "consent_wait_s": 0.2}
    async with services_running(kafka, mongo, tmp_path, unique, notifier=slow_view) as stack:
        address = f"{unique}@example.org"
        await produce(kafka, ATS_EVENTS, [ats_event("ats.interview.scheduled", f"{unique}-c", email=address)])

        async def not_ready() -> dict[str, Any] | None:
            response = await stack.notifier.get("/ready")
            return response.json() if response.status_code == 503 else None

        body = await eventually(not_ready, what="the notifier saying it is not ready")
        assert body["pending"] == ["inputs"]
        assert "notifier:on_dispatch_email retrying" in body["reasons"]["inputs"]
        assert "services.notifier.delivery.ViewBehindError" in body["reasons"]["inputs"]

        async def mailed() -> bool:
            return any(m["rcpt_tos"] == [address] for m in stack.mails())

        await eventually(mailed, what="the mail once the view caught up")

        async def ready() -> bool:
            return (await stack.notifier.get("/ready")).status_code == 200

        await eventually(ready, what="ready again")
        metrics = (await stack.notifier.get("/metrics")).text
        assert 'consumer_transient_failures_total{handler="notifier:on_dispatch_email"}' in metrics
        assert 'dlq_records_total{kind="processing_failed"' in metrics
        assert (
            'dlq_records_total{kind="processing_failed",topic="' + kafka.topic("dispatch.email") + '"} 0.0' in metrics
        )
