"""The dispatch topics as the router's decision log: a command read back by its position.

A message that went out is not stored by the router: its command on dispatch.<channel> is the record.
When the notifier reports it failed or bounced, the report says where that command is
(DISPATCH_REF_HEADER), and the fallback is decided from it. Failures are rare, so each is one fetch
on a consumer of its own (no group: it only seeks). A command older than its topic's retention is
gone; the caller hands such a message to a recruiter.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable

from aiokafka import AIOKafkaConsumer, TopicPartition
from pydantic import ValidationError

from schemas.common import Channel
from schemas.dispatch import DISPATCH_ADAPTER, DeliverMessageCommand
from schemas.topics import dispatch_topic
from services.common.kafka import aiokafka_kwargs
from services.common.settings import KafkaSettings

log = logging.getLogger(__name__)
Position = tuple[Channel, int, int]  # channel (its dispatch topic), partition, offset


class DispatchLog:
    """Reads dispatch commands by (channel, partition, offset)."""

    def __init__(self, kafka: KafkaSettings, wait_ms: int = 2000) -> None:
        self._kafka = kafka
        self._wait_ms = wait_ms
        self._lock = asyncio.Lock()  # one consumer, one position at a time
        self._consumer: AIOKafkaConsumer | None = None

    async def start(self) -> None:
        """Connect (aiokafka clients are made inside the running loop)."""
        self._consumer = AIOKafkaConsumer(
            **aiokafka_kwargs(self._kafka),
            enable_auto_commit=False,
            auto_offset_reset="earliest",  # a position below the log's start lands on its first record
            client_id="router-dispatch-log",
        )
        await self._consumer.start()

    async def stop(self) -> None:
        """Disconnect."""
        if self._consumer is not None:
            await self._consumer.stop()

    async def read(self, positions: Iterable[Position]) -> dict[Position, DeliverMessageCommand]:
        """The commands at these positions; one that is gone (retention) or unreadable is left out."""
        found: dict[Position, DeliverMessageCommand] = {}
        async with self._lock:
            for position in sorted(set(positions)):
                value = await self._value_at(*position)
                if value is None:
                    continue
                try:
                    found[position] = DISPATCH_ADAPTER.validate_json(value)
                except ValidationError as exc:
                    log.warning("a dispatch command read back does not decode", extra={"error": str(exc)[:300]})
        return found

    async def _value_at(self, channel: Channel, partition: int, offset: int) -> bytes | None:
        consumer = self._consumer
        assert consumer is not None, "started in the service's lifespan"
        tp = TopicPartition(self._kafka.topic(dispatch_topic(channel)), partition)
        consumer.assign([tp])
        consumer.seek(tp, offset)
        batch = await consumer.getmany(tp, timeout_ms=self._wait_ms, max_records=1)
        records = batch.get(tp, [])
        if not records or records[0].offset != offset:
            log.warning(
                "a dispatch command is no longer on its topic",
                extra={"topic": tp.topic, "partition": partition, "offset": offset},
            )
            return None
        value: bytes | None = records[0].value
        return value
