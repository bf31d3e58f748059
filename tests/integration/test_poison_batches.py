"""Poison records and outages in a batch consumer, on the real broker and the real database.

A record the database refuses (a deterministic failure) is narrowed down, dead-lettered with its reason after
a few tries, and the other candidates' events of the same partition are stored and committed. An unreachable
database (transient) is retried with backoff, never dead-lettered, and reported on readiness until it is back.
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from aiokafka.admin import AIOKafkaAdminClient
from prometheus_client import CollectorRegistry
from pymongo import AsyncMongoClient

from schemas.ats import ATS_EVENT_ADAPTER, ATS_EVENT_TYPES, AtsEvent
from schemas.envelope import EventDecoder
from schemas.topics import ATS_ACCEPTED, dlq_topic
from services.common.consuming import subscribe_batch
from services.common.guard import InputGuard
from services.common.http import Readiness
from services.common.kafka import (
    DLQ_ERROR_KIND,
    DLQ_ERROR_REASON,
    DLQ_ORIGINAL_OFFSET,
    DeadLetters,
    Record,
    make_broker,
)
from services.common.metrics import dead_letter_counter
from services.common.settings import KafkaSettings, MongoSettings
from tests.support import ats_event, eventually, produce, read_topic

INT64_MAX = 2**63 - 1
Docs = AsyncMongoClient[dict[str, Any]]


def interview(candidate: str, sequence: int = 0) -> dict[str, Any]:
    return ats_event("ats.interview.scheduled", candidate, sequence=sequence)


class Interviews:
    """A handler that keeps each candidate's next interview sequence in MongoDB, through a switchable client."""

    def __init__(self, client: Docs, database: str) -> None:
        self.client = client
        self.database = database

    async def store(self, batch: list[tuple[Record, AtsEvent]]) -> None:
        seen = self.client[self.database]["interviews"]
        for _, event in batch:
            sequence = event.data.interview.sequence  # type: ignore[attr-defined]
            # `+ 1` is this handler's bug: the schema allows INT64_MAX, BSON cannot hold one more.
            await seen.replace_one({"_id": event.subject}, {"next_sequence": sequence + 1}, upsert=True)


@asynccontextmanager
async def consumer(
    kafka: KafkaSettings, group: str, handle: Any, guard: InputGuard
) -> AsyncIterator[CollectorRegistry]:
    """The handler subscribed to ats.accepted in `group` on a started broker; yields the metrics registry."""
    registry = CollectorRegistry()
    broker = make_broker(kafka, registry, "poison-test")
    counter = dead_letter_counter(registry)
    dead_letters = DeadLetters(broker, group, lambda t, k, n=1: counter.labels(topic=t, kind=k).inc(n), guard)
    decoder = EventDecoder(ATS_EVENT_ADAPTER, ATS_EVENT_TYPES, 100_000)
    topic = kafka.topic(ATS_ACCEPTED)
    subscribe_batch(broker, [topic], group_id=group, decoder=decoder, dead_letters=dead_letters, handle=handle)
    await broker.start()
    try:
        yield registry
    finally:
        await broker.stop()


async def committed(kafka: KafkaSettings, group: str, partition: int) -> int:
    admin = AIOKafkaAdminClient(bootstrap_servers=kafka.bootstrap_servers)
    await admin.start()
    try:
        offsets = await admin.list_consumer_group_offsets(group)
        return next((m.offset for tp, m in offsets.items() if tp.partition == partition), -1)
    finally:
        await admin.close()


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def test_a_record_the_database_refuses_is_dead_lettered_and_its_partition_moves_on(
    kafka: KafkaSettings, mongo: MongoSettings, unique: str
) -> None:
    client: Docs = AsyncMongoClient(mongo.url.get_secret_value())
    interviews = Interviews(client, mongo.database)
    group = f"{unique}.router"
    async with consumer(kafka, group, interviews.store, InputGuard(poison_attempts=3)) as registry:
        # One key for all, so they share a partition (and a batch): the poison sits between two candidates.
        values: list[bytes | dict[str, Any] | None] = [
            interview("anna", 1),
            interview("poison", INT64_MAX),
            interview("bram", 2),
            interview("carla", 3),
        ]
        placed = await produce(kafka, ATS_ACCEPTED, values, key="same-partition")
        partition, poison_offset = placed[1]
        assert {p for p, _ in placed} == {partition}

        async def stored() -> dict[str, int] | None:
            docs = {d["_id"]: d["next_sequence"] async for d in client[mongo.database]["interviews"].find()}
            return docs if len(docs) == 3 else None

        assert await eventually(stored, what="the other candidates' interviews") == {"anna": 2, "bram": 3, "carla": 4}
        dead = await eventually(lambda: read_topic(kafka, dlq_topic(ATS_ACCEPTED)), what="the dead letter")
        await eventually(lambda: _equals(committed(kafka, group, partition), 4), what="the commit past the batch")
        sample = registry.get_sample_value(
            "dlq_records_total", {"topic": kafka.topic(ATS_ACCEPTED), "kind": "processing_failed"}
        )
    await client.close()
    assert len(dead) == 1 and dead[0].key == b"same-partition"
    headers = {k: v.decode() for k, v in dead[0].headers}
    assert headers[DLQ_ERROR_KIND] == "processing_failed"
    assert headers[DLQ_ORIGINAL_OFFSET] == str(poison_offset)
    reason = headers[DLQ_ERROR_REASON]
    assert reason.startswith("OverflowError at tests/integration/test_poison_batches.py:"), reason
    assert reason.endswith("(failed 3 times in a row)")
    assert str(INT64_MAX) not in reason
    assert ATS_EVENT_ADAPTER.validate_json(dead[0].value).subject == "poison", "kept whole for a redrive"
    assert sample == 1


async def test_an_unreachable_database_is_retried_with_backoff_reported_and_never_dead_lettered(
    kafka: KafkaSettings, mongo: MongoSettings, unique: str
) -> None:
    unreachable: Docs = AsyncMongoClient(f"mongodb://127.0.0.1:{closed_port()}/", serverSelectionTimeoutMS=150)
    reachable: Docs = AsyncMongoClient(mongo.url.get_secret_value())
    interviews = Interviews(unreachable, mongo.database)
    guard = InputGuard(poison_attempts=1, backoff_s=0.1, backoff_max_s=0.4)
    readiness = Readiness()
    readiness.probe(guard.problems)
    group = f"{unique}.router"
    async with consumer(kafka, group, interviews.store, guard):
        [(partition, _)] = await produce(kafka, ATS_ACCEPTED, [interview("anna", 1)], key="anna")

        async def retried_several_times() -> dict[str, str] | None:
            reasons = readiness.reasons()
            return reasons if "(3 tries)" in reasons.get("inputs", "") else None

        reasons = await eventually(retried_several_times, what="retries reported on readiness")
        assert "pymongo.errors.ServerSelectionTimeoutError" in reasons["inputs"]
        assert await committed(kafka, group, partition) in (-1, 0), "nothing committed while the database is away"
        interviews.client = reachable  # the database is back

        async def stored() -> bool:
            return await reachable[mongo.database]["interviews"].find_one({"_id": "anna"}) is not None

        await eventually(stored, what="the interview after the outage")
        await eventually(lambda: _equals(committed(kafka, group, partition), 1), what="the commit")
        await eventually(lambda: _true(readiness.ready), what="ready again")
    await asyncio.gather(unreachable.close(), reachable.close())
    assert await read_topic(kafka, dlq_topic(ATS_ACCEPTED)) == [], "an outage is not the record's fault"


async def _equals(value: Any, expected: int) -> bool:
    return await value == expected


async def _true(value: bool) -> bool:
    return value
