"""Publishes snapshots (and erasure tombstones) to the compacted `preferences.changed` topic."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterable, Sequence
from typing import Protocol

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRecord, TopicPartition

from schemas.preferences import PreferencesChangedEvent, PreferenceSnapshot
from schemas.topics import PREFERENCE_VERSION_HEADER, PREFERENCES_CHANGED
from services.common.kafka import Partitioner, aiokafka_kwargs
from services.common.settings import KafkaSettings


class SnapshotPublisher(Protocol):
    """Puts a snapshot on the topic and says where it landed."""

    async def publish(self, snapshot: PreferenceSnapshot) -> tuple[int, int]: ...
    async def tombstone(self, candidate_id: str, version: int) -> tuple[int, int]: ...


class KafkaSnapshotPublisher:
    """aiokafka directly: a tombstone needs a null value, which FastStream's publish cannot send."""

    def __init__(self, kafka: KafkaSettings, partitioner: Partitioner) -> None:
        self._kafka = kafka
        self._topic = kafka.topic(PREFERENCES_CHANGED)
        self._partitioner = partitioner
        self._producer: AIOKafkaProducer | None = None

    async def start(self) -> None:
        """Connect (aiokafka clients must be created inside the running loop)."""
        self._producer = AIOKafkaProducer(
            **aiokafka_kwargs(self._kafka),
            acks="all",
            enable_idempotence=True,
            linger_ms=0,
            client_id="preference-snapshots",
        )
        await self._producer.start()

    async def stop(self) -> None:
        """Flush and disconnect."""
        if self._producer is not None:
            await self._producer.stop()

    async def publish(self, snapshot: PreferenceSnapshot) -> tuple[int, int]:
        """Send and wait for the broker's acknowledgement (acks=all); return (partition, offset)."""
        value = PreferencesChangedEvent.of(snapshot).model_dump_json().encode()
        return await self._send(snapshot.candidate_id, value, snapshot.version)

    async def tombstone(self, candidate_id: str, version: int) -> tuple[int, int]:
        """Null value at the erasure's version: views forget the candidate, compaction removes them."""
        return await self._send(candidate_id, None, version)

    async def _send(self, candidate_id: str, value: bytes | None, version: int) -> tuple[int, int]:
        assert self._producer is not None, "start() first"
        md = await self._producer.send_and_wait(
            self._topic,
            value,
            key=candidate_id.encode(),
            partition=self._partitioner.of(candidate_id),
            headers=[(PREFERENCE_VERSION_HEADER, str(version).encode())],
        )
        return md.partition, md.offset


def record_version(value: bytes | None, headers: Sequence[tuple[str, bytes]]) -> int | None:
    """The snapshot version a record of the topic carries: its header, else (older records) its body."""
    for name, raw in headers:
        if name == PREFERENCE_VERSION_HEADER:
            return int(raw) if raw.isdigit() else None
    try:
        version = json.loads(value)["data"]["version"] if value else None
    except (ValueError, KeyError, TypeError):
        return None
    return version if isinstance(version, int) else None


async def records_until_now(
    kafka: KafkaSettings, topic: str, partitions: Iterable[int], client_id: str
) -> AsyncIterator[ConsumerRecord[bytes, bytes]]:
    """Every record of these partitions of a topic (full name), from the beginning to at least the end it has now."""
    consumer = AIOKafkaConsumer(
        **aiokafka_kwargs(kafka),
        enable_auto_commit=False,
        auto_offset_reset="earliest",  # an assignment without a group otherwise starts at the end
        client_id=client_id,
    )
    await consumer.start()
    try:
        parts = [TopicPartition(topic, p) for p in partitions]
        consumer.assign(parts)
        ends = await consumer.end_offsets(parts)
        await consumer.seek_to_beginning(*parts)
        pending = {tp for tp in parts if ends[tp] > 0}
        while pending:
            batch = await consumer.getmany(*pending, timeout_ms=500, max_records=10_000)
            for records in batch.values():
                for r in records:
                    yield r
            pending = {tp for tp in pending if await consumer.position(tp) < ends[tp]}
    finally:
        await consumer.stop()


async def published_versions(kafka: KafkaSettings, partitions: int) -> dict[str, int]:
    """The newest version of every candidate on `preferences.changed` now (read once, at start).

    The topic is the record of what was published: a stored version above it is one a crash left
    unpublished, so no confirmation is written per version.
    """
    out: dict[str, int] = {}
    topic = kafka.topic(PREFERENCES_CHANGED)
    # Every partition, by the count the Partitioner read.
    async for r in records_until_now(kafka, topic, range(partitions), "preference-published"):
        version = record_version(r.value, r.headers)
        if r.key is not None and version is not None:
            cid = r.key.decode("utf-8", "replace")
            out[cid] = max(out.get(cid, 0), version)
    return out
