"""Publishes snapshots (and erasure tombstones) to the compacted `preferences.changed` topic."""

from __future__ import annotations

from typing import Protocol

from aiokafka import AIOKafkaProducer

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
