"""Publishes snapshots (and erasure tombstones) to the compacted `preferences.changed` topic."""

from __future__ import annotations

from typing import Protocol

from aiokafka import AIOKafkaProducer

from schemas.preferences import PreferencesChangedEvent, PreferenceSnapshot
from schemas.topics import PREFERENCES_CHANGED
from services.common.kafka import aiokafka_kwargs
from services.common.settings import KafkaSettings


class SnapshotPublisher(Protocol):
    """Puts a snapshot on the topic and says where it landed."""

    async def publish(self, snapshot: PreferenceSnapshot) -> tuple[int, int]: ...
    async def tombstone(self, candidate_id: str) -> tuple[int, int]: ...


class KafkaSnapshotPublisher:
    """aiokafka directly: a tombstone needs a null value, which FastStream's publish cannot send."""

    def __init__(self, kafka: KafkaSettings) -> None:
        self._kafka = kafka
        self._topic = kafka.topic(PREFERENCES_CHANGED)
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
        assert self._producer is not None, "start() first"
        md = await self._producer.send_and_wait(self._topic, value, key=snapshot.candidate_id.encode())
        return md.partition, md.offset

    async def tombstone(self, candidate_id: str) -> tuple[int, int]:
        """Null value: compaction removes the candidate and every view forgets them."""
        assert self._producer is not None, "start() first"
        md = await self._producer.send_and_wait(self._topic, None, key=candidate_id.encode())
        return md.partition, md.offset
