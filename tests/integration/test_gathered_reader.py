"""Readers off the hot path gather records into fuller fetches, on the real broker, and still miss none.

A busy pipeline answers every fetch of a reader that asks for one record at a time with the one or two
records that arrived since its last fetch; each is a request the broker and the reader pay for. A
gathering reader (`gather_ms`) is answered when 64 KiB are waiting or the time is up, so a trickle of
records reaches it in a few batches, and a lone record after at most that time.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from aiokafka import AIOKafkaProducer
from prometheus_client import CollectorRegistry

from schemas.ats import ATS_EVENT_ADAPTER, ATS_EVENT_TYPES, AtsEvent
from schemas.envelope import EventDecoder
from schemas.topics import ATS_ACCEPTED
from services.common.consuming import subscribe_batch
from services.common.guard import InputGuard
from services.common.kafka import DeadLetters, Record, aiokafka_kwargs, make_broker
from services.common.metrics import dead_letter_counter
from services.common.settings import KafkaSettings
from tests.support import ats_event, eventually, produce

GATHER_MS = 400


class Batches:
    """What one reader was handed, batch by batch."""

    def __init__(self) -> None:
        self.sizes: list[int] = []
        self.seen: set[str] = set()
        self.at: dict[str, float] = {}

    async def handle(self, batch: list[tuple[Record, AtsEvent]]) -> None:
        self.sizes.append(len(batch))
        for _, event in batch:
            self.seen.add(event.id)
            self.at[event.id] = time.monotonic()


@asynccontextmanager
async def reader(kafka: KafkaSettings, group: str, batches: Batches, gather_ms: int) -> AsyncIterator[None]:
    registry = CollectorRegistry()
    broker = make_broker(kafka, registry, group)
    counter = dead_letter_counter(registry)
    dead_letters = DeadLetters(broker, group, lambda t, k, n=1: counter.labels(topic=t, kind=k).inc(n), InputGuard())
    subscribe_batch(
        broker,
        [kafka.topic(ATS_ACCEPTED)],
        group_id=group,
        decoder=EventDecoder(ATS_EVENT_ADAPTER, ATS_EVENT_TYPES, 100_000),
        dead_letters=dead_letters,
        handle=batches.handle,
        gather_ms=gather_ms,
    )
    await broker.start()
    try:
        yield
    finally:
        await broker.stop()


async def test_a_gathering_reader_gets_a_trickle_in_few_batches_and_a_lone_record_within_its_wait(
    kafka: KafkaSettings, unique: str
) -> None:
    hot, gathered = Batches(), Batches()
    async with reader(kafka, f"{unique}.hot", hot, 0), reader(kafka, f"{unique}.gathered", gathered, GATHER_MS):
        # Both readers in their groups and at the end of the (empty) topic before the trickle starts.
        warm: list[dict[str, Any]] = [ats_event("ats.interview.scheduled", "warm-up")]
        await produce(kafka, ATS_ACCEPTED, list(warm))
        await eventually(lambda: _has(hot, gathered, warm[0]["id"]), what="the warm-up record", timeout=30)
        hot.sizes.clear()
        gathered.sizes.clear()

        trickle = [ats_event("ats.interview.scheduled", f"c{i}", sequence=i) for i in range(40)]
        producer = AIOKafkaProducer(**aiokafka_kwargs(kafka), linger_ms=0)
        await producer.start()
        try:
            for event in trickle:  # one record at a time, as a busy pipeline's states arrive
                await producer.send_and_wait(kafka.topic(ATS_ACCEPTED), json.dumps(event).encode(), partition=0)
                await asyncio.sleep(0.01)
        finally:
            await producer.stop()
        wanted = {e["id"] for e in trickle}
        await eventually(lambda: _all(hot, gathered, wanted), what="every record in both readers", timeout=30)
        assert len(gathered.sizes) * 3 <= len(hot.sizes), (gathered.sizes, hot.sizes)

        lone = ats_event("ats.interview.scheduled", "lone")
        sent = time.monotonic()
        await produce(kafka, ATS_ACCEPTED, [lone])
        await eventually(lambda: _has(hot, gathered, lone["id"]), what="the lone record", timeout=30)
        assert gathered.at[lone["id"]] - sent < GATHER_MS / 1000 + 1.5


async def _has(hot: Batches, gathered: Batches, event_id: str) -> bool:
    return event_id in hot.seen and event_id in gathered.seen


async def _all(hot: Batches, gathered: Batches, wanted: set[str]) -> bool:
    return wanted <= hot.seen and wanted <= gathered.seen
