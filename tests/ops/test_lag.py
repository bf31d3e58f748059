"""Consumer lag measured against the real broker: committed offsets of a group vs the end of its topics."""

from __future__ import annotations

import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.structs import OffsetAndMetadata
from faststream.kafka import KafkaBroker
from prometheus_client import CollectorRegistry

from schemas.topics import ATS_EVENTS, NOTIFICATIONS_STATUS
from services.common.consuming import subscribe_batch
from services.common.kafka import DeadLetters
from services.common.lag import ConsumerLag, subscriptions
from services.common.settings import KafkaSettings
from tests.support import produce

pytestmark = pytest.mark.integration


async def commit(kafka: KafkaSettings, group: str, tp: TopicPartition, offset: int) -> None:
    consumer = AIOKafkaConsumer(bootstrap_servers=kafka.bootstrap_servers, group_id=group, enable_auto_commit=False)
    await consumer.start()
    try:
        consumer.assign([tp])
        await consumer.commit({tp: OffsetAndMetadata(offset, "")})
    finally:
        await consumer.stop()


async def test_lag_per_group_and_partition(kafka: KafkaSettings, unique: str) -> None:
    written = await produce(kafka, ATS_EVENTS, [b"a", b"b", b"c", b"d", b"e"], key="one-candidate")
    partition = written[0][0]
    topic = kafka.topic(ATS_EVENTS)
    behind, fresh = f"{unique}.behind", f"{unique}.fresh"
    await commit(kafka, behind, TopicPartition(topic, partition), 2)
    registry = CollectorRegistry()
    lag = ConsumerLag(kafka, registry, lambda: {behind: [topic], fresh: [topic]})
    try:
        await lag.refresh()
    finally:
        await lag.close()

    def value(group: str, p: int) -> float | None:
        return registry.get_sample_value("kafka_consumer_lag", {"group": group, "topic": topic, "partition": str(p)})

    assert value(behind, partition) == 3
    assert value(fresh, partition) == 5, "a group that never committed has the whole log ahead of it"
    others = [p for p in range(kafka.partitions) if p != partition]
    assert [value(behind, p) for p in others] == [0] * len(others)


def test_the_groups_come_from_the_brokers_subscribers() -> None:
    broker = KafkaBroker()
    dead = DeadLetters(broker, "router")
    for topics, group in (([ATS_EVENTS, NOTIFICATIONS_STATUS], "router"), ([ATS_EVENTS], "preference")):
        subscribe_batch(broker, topics, group_id=group, decoder=None, dead_letters=dead, handle=None)  # type: ignore[arg-type]
    assert subscriptions(broker) == {"router": [ATS_EVENTS, NOTIFICATIONS_STATUS], "preference": [ATS_EVENTS]}
