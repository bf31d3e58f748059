"""Consumer lag per group and partition, measured from outside the consumers.

Every few seconds the service asks the broker for the committed offsets of its own consumer groups
(OffsetFetch through the admin client) and for the end offsets of the topics they read (ListOffsets
through a group-less consumer), and exports the difference as `kafka_consumer_lag`. Each instance
reports the whole group, so a dead instance's partitions still show their growing lag; dashboards
and alerts take `max` over instances, never `sum`. The same measurements feed the stall detector
(services/common/stalls.py): lag that does not move makes /ready 503 on the instance that owns it.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Mapping, Sequence

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from faststream.kafka import KafkaBroker
from prometheus_client import CollectorRegistry, Gauge

from services.common.http import Readiness
from services.common.kafka import aiokafka_kwargs
from services.common.runtime import every
from services.common.settings import KafkaSettings
from services.common.stalls import Key, Position, StallDetector

Groups = Callable[[], Mapping[str, Sequence[str]]]


def subscriptions(broker: KafkaBroker) -> dict[str, list[str]]:
    """Consumer group -> topics, for every subscriber of a broker that belongs to a group."""
    groups: dict[str, list[str]] = {}
    for sub in broker.subscribers:
        group = getattr(sub, "group_id", None)
        if group:
            groups.setdefault(group, []).extend(getattr(sub, "topic_names", ()))
    return groups


def assignments(broker: KafkaBroker) -> dict[str, set[tuple[str, int]]]:
    """Consumer group -> (topic, partition) assigned to this instance's consumers right now."""
    owned: dict[str, set[tuple[str, int]]] = {}
    for sub in broker.subscribers:
        group, consumer = getattr(sub, "group_id", None), getattr(sub, "consumer", None)
        if group and consumer is not None:
            owned.setdefault(group, set()).update((tp.topic, tp.partition) for tp in consumer.assignment())
    return owned


def lag_of(end: int, committed: int | None, beginning: int) -> int:
    """Records a group still has to read in one partition (never negative)."""
    start = committed if committed is not None and committed >= 0 else beginning
    return max(0, end - start)


class ConsumerLag:
    """Exports kafka_consumer_lag{group,topic,partition} for the groups `groups()` names."""

    def __init__(
        self, kafka: KafkaSettings, registry: CollectorRegistry, groups: Groups, stalls: StallDetector | None = None
    ) -> None:
        self._kafka = kafka
        self._groups = groups
        self._stalls = stalls
        self._admin: AIOKafkaAdminClient | None = None
        self._consumer: AIOKafkaConsumer | None = None
        self.gauge = Gauge(
            "kafka_consumer_lag",
            "End offset minus the group's committed offset, per partition (every instance reports the whole group).",
            ["group", "topic", "partition"],
            registry=registry,
        )

    async def _clients(self) -> tuple[AIOKafkaAdminClient, AIOKafkaConsumer]:
        if self._admin is None or self._consumer is None:
            # Kept before starting, so close() finds them whatever happens during the start.
            self._admin = AIOKafkaAdminClient(**aiokafka_kwargs(self._kafka), client_id="lag-monitor")
            self._consumer = AIOKafkaConsumer(**aiokafka_kwargs(self._kafka), group_id=None, client_id="lag-monitor")
            await self._admin.start()
            await self._consumer.start()
        return self._admin, self._consumer

    async def measure(self) -> dict[Key, Position]:
        """(group, topic, partition) -> lag and committed offset, for every partition the groups read."""
        groups = {g: sorted(set(t)) for g, t in self._groups().items() if t}
        if not groups:
            return {}
        admin, consumer = await self._clients()
        topics = sorted({t for ts in groups.values() for t in ts})
        described = await admin.describe_topics(topics)
        parts = [
            TopicPartition(d["topic"], p["partition"])
            for d in described
            if not d["error_code"]
            for p in d["partitions"]
        ]
        ends = await consumer.end_offsets(parts)
        beginnings = await consumer.beginning_offsets(parts)
        out: dict[Key, Position] = {}
        for group, group_topics in groups.items():
            committed = await admin.list_consumer_group_offsets(group)
            for tp in parts:
                if tp.topic in group_topics:
                    offset = meta.offset if (meta := committed.get(tp)) else -1
                    lag = lag_of(ends[tp], offset, beginnings[tp])
                    out[(group, tp.topic, tp.partition)] = Position(lag, offset)
        return out

    async def refresh(self) -> None:
        """Measure once and update the gauge; reconnect next time after an error."""
        try:
            measured = await self.measure()
        except Exception:
            await self.close()
            raise
        for (group, topic, partition), pos in measured.items():
            self.gauge.labels(group=group, topic=topic, partition=str(partition)).set(pos.lag)
        if self._stalls is not None:
            self._stalls.observe(measured)

    async def close(self) -> None:
        """Close the clients (a later refresh opens new ones)."""
        admin, consumer, self._admin, self._consumer = self._admin, self._consumer, None, None
        with contextlib.suppress(Exception):
            if consumer is not None:
                await consumer.stop()
        with contextlib.suppress(Exception):
            if admin is not None:
                await admin.close()


async def watch_lag(
    kafka: KafkaSettings,
    broker: KafkaBroker,
    registry: CollectorRegistry,
    interval_s: float = 5.0,
    *,
    readiness: Readiness | None = None,
    stall_after_s: float = 60.0,
) -> None:
    """Export the lag of the broker's consumer groups every `interval_s` until cancelled.

    With `readiness`, a group with a stalled partition this instance consumes makes it not ready.
    """
    stalls = StallDetector(stall_after_s, registry, lambda: assignments(broker))
    if readiness is not None:
        readiness.probe(stalls.problems)
    lag = ConsumerLag(kafka, registry, lambda: subscriptions(broker), stalls)
    try:
        await asyncio.sleep(interval_s)  # the groups join first; short-lived test apps never open the clients
        await every(interval_s, lag.refresh, "consumer-lag")
    finally:
        await lag.close()
