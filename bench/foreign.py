"""librdkafka as the ATS: the foreign producer every benchmark and chaos run plays the ATS with.

An ATS integration is rarely built on our client: most Python, Go, .NET and Node integrations sit on
librdkafka, whose default partitioner (`consistent_random`, CRC32 of the key) hashes differently from the
murmur2 rule of our internal topics (schemas/partitioning.py). So the harness produces with
confluent-kafka and leaves the partitioner at its default; nothing downstream may depend on which
partition of `ats.events` a record lands on. The stages that run one service alone write its
internal input with the same producer, on explicit partitions (bench/feeding.py).

The produce is asynchronous, so the generator is not the bottleneck: records are queued in librdkafka
(its own threads batch and send them), every `send` serves the delivery reports that are ready
(`poll(0)`, never blocking the event loop), and `flush` waits for the last acknowledgement in a worker
thread. confluent-kafka's own `aio.AIOProducer` is not used: it cannot send headers (the bench writes
`preference.version` on internal topics) and holds records up to a second in its own buffer, which
would show up in every latency figure.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from typing import Any

from confluent_kafka import KafkaError, Message, Producer

# As an ATS integration would configure it: durable, idempotent, short batching. No `partitioner` key:
# librdkafka's default is the point.
ATS_CONFIG: dict[str, Any] = {"acks": "all", "enable.idempotence": True, "linger.ms": 1}
Headers = Sequence[tuple[str, bytes]]


@dataclass
class Placement:
    """Where the broker put one record (filled in by its delivery report; -1 until then)."""

    partition: int = -1
    offset: int = -1


class DeliveryFailedError(RuntimeError):
    """librdkafka gave up on records (after its own retries) or could not flush them in time."""


class ForeignProducer:
    """One librdkafka producer with delivery reports counted; use `foreign_producer()` to open and flush it."""

    def __init__(self, bootstrap: str, **overrides: Any) -> None:
        config = {"bootstrap.servers": bootstrap, **ATS_CONFIG, **overrides}
        if "partitioner" in config:
            raise ValueError("the ATS keeps librdkafka's default partitioner")
        self._producer = Producer(config)
        self.delivered = 0
        self.errors: list[str] = []

    def _report(self, err: KafkaError | None, msg: Message, placement: Placement | None = None) -> None:
        """Delivery report (served by poll/flush on the calling thread)."""
        if err is not None:
            self.errors.append(str(err))
            return
        self.delivered += 1
        if placement is not None:
            partition, offset = msg.partition(), msg.offset()
            placement.partition = -1 if partition is None else partition
            placement.offset = -1 if offset is None else offset

    async def send(
        self,
        topic: str,
        value: bytes | None,
        key: bytes | None,
        partition: int | None = None,
        headers: Headers = (),
        placement: Placement | None = None,
    ) -> None:
        """Queue one record (the default partitioner picks the partition unless one is given).

        With `placement`, the record's partition and offset are written into it once it is acknowledged.
        """
        report = self._report if placement is None else functools.partial(self._report, placement=placement)
        extra: dict[str, Any] = {}
        if partition is not None:
            extra["partition"] = partition
        if headers:
            extra["headers"] = list(headers)
        while True:
            try:
                self._producer.produce(topic, value=value, key=key, on_delivery=report, **extra)
                break
            except BufferError:  # librdkafka's queue is full: let acknowledgements free room
                self._producer.poll(0)
                await asyncio.sleep(0.005)
        self._producer.poll(0)

    async def flush(self, timeout_s: float = 120.0) -> int:
        """Wait until every queued record is acknowledged; how many were delivered in all."""
        left = await asyncio.to_thread(self._producer.flush, timeout_s)
        if left or self.errors:
            raise DeliveryFailedError(f"{left} unacknowledged after {timeout_s:.0f}s; errors: {self.errors[:3]}")
        return self.delivered


@contextlib.asynccontextmanager
async def foreign_producer(bootstrap: str, **overrides: Any) -> AsyncIterator[ForeignProducer]:
    """A ForeignProducer that is flushed on a normal exit (everything sent is acknowledged)."""
    producer = ForeignProducer(bootstrap, **overrides)
    yield producer
    await producer.flush()
