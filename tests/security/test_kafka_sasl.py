"""Kafka SASL/SCRAM-SHA-512 with the real broker: a separate single-node Kafka whose only client listener
is SASL_PLAINTEXT. The services' own Kafka plumbing (services.common.kafka: aiokafka_kwargs for the
admin, producers and view readers; faststream_security for FastStream's broker) connects with the
credentials, creates the contract's topics, and a whole service (preference) runs on it; a wrong
password or no SASL at all is refused, with the broker's reason in the log and no password anywhere.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.errors import KafkaConnectionError
from prometheus_client import CollectorRegistry

from deploy.local.components import LocalStackSettings
from schemas.topics import ATS_EVENTS, PREFERENCES_CHANGED
from services.common.kafka import aiokafka_kwargs, create_topics, delete_prefixed_topics, make_broker
from services.common.settings import KafkaSettings, MongoSettings
from services.preference.app import create_app
from services.preference.settings import PreferenceSettings
from tests.security.sasl_kafka import SaslBroker, sasl_kafka
from tests.support import profile_from_ats, running

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]


@pytest.fixture(scope="module")
async def broker(
    local_stack: LocalStackSettings, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[SaslBroker]:
    async with sasl_kafka(tmp_path_factory.mktemp("sasl-kafka"), local_stack) as started:
        yield started


@pytest.fixture
async def sasl(broker: SaslBroker, unique: str) -> AsyncIterator[KafkaSettings]:
    settings = broker.settings(topic_prefix=f"{unique}.", partitions=2)
    await create_topics(settings)
    yield settings
    await delete_prefixed_topics(settings)


async def read_all(k: KafkaSettings, topic: str) -> list[bytes]:
    consumer = AIOKafkaConsumer(**aiokafka_kwargs(k), group_id=None, auto_offset_reset="earliest")
    await consumer.start()
    try:
        parts = [TopicPartition(k.topic(topic), p) for p in range(k.partitions)]
        consumer.assign(parts)
        batch = await consumer.getmany(*parts, timeout_ms=2000)
        return [r.value for records in batch.values() for r in records if r.value]
    finally:
        await consumer.stop()


@pytest.mark.usefixtures("local_stack")
async def test_topics_are_created_over_scram(sasl: KafkaSettings) -> None:
    admin = AIOKafkaAdminClient(**aiokafka_kwargs(sasl))
    await admin.start()
    try:
        topics = set(await admin.list_topics())
    finally:
        await admin.close()
    assert {sasl.topic(ATS_EVENTS), sasl.topic(PREFERENCES_CHANGED), sasl.topic(ATS_EVENTS) + ".dlq"} <= topics


async def test_faststream_broker_publishes_and_consumes_over_scram(sasl: KafkaSettings, unique: str) -> None:
    broker = make_broker(sasl, CollectorRegistry(), "sasl-test")
    received: asyncio.Queue[dict[str, str]] = asyncio.Queue()

    @broker.subscriber(sasl.topic(ATS_EVENTS), group_id=f"{unique}.sasl", auto_offset_reset="earliest")
    async def on_record(body: dict[str, str]) -> None:
        await received.put(body)

    await broker.start()
    try:
        await broker.publish(b'{"hello": "scram"}', sasl.topic(ATS_EVENTS), key=b"cand-1")
        assert await asyncio.wait_for(received.get(), 20) == {"hello": "scram"}
    finally:
        await broker.stop()
    assert await read_all(sasl, ATS_EVENTS) == [b'{"hello": "scram"}']


async def test_a_service_runs_on_a_scram_only_broker(sasl: KafkaSettings, mongo: MongoSettings, unique: str) -> None:
    """The preference service: FastStream consumers, the snapshot producer, lag monitor, all over SCRAM."""
    settings = PreferenceSettings(kafka=sasl, mongo=mongo, group_id=f"{unique}.preference")
    async with running(create_app(settings)) as client:
        assert (await client.get("/ready")).status_code == 200
        await profile_from_ats(
            client, sasl, f"{unique}-c", what="the profile created from an event consumed over SCRAM"
        )
    snapshots = [json.loads(v) for v in await read_all(sasl, PREFERENCES_CHANGED)]
    assert [s["subject"] for s in snapshots] == [f"{unique}-c"]


@pytest.mark.parametrize("mode", ["wrong password", "no SASL"])
async def test_wrong_credentials_are_refused_with_the_brokers_reason(
    broker: SaslBroker, mode: str, caplog: pytest.LogCaptureFixture
) -> None:
    wrong = "not-the-password-" + broker.password[-6:]
    settings = (
        broker.settings(password=wrong)
        if mode == "wrong password"
        else KafkaSettings(bootstrap_servers=f"127.0.0.1:{broker.port}")
    )
    admin = AIOKafkaAdminClient(**aiokafka_kwargs(settings), request_timeout_ms=3000)
    try:
        with caplog.at_level(logging.WARNING, logger="aiokafka"), pytest.raises(KafkaConnectionError) as refused:
            await asyncio.wait_for(admin.start(), 15)
    finally:
        await admin.close()
    said = caplog.text + str(refused.value)
    if mode == "wrong password":
        assert "SaslAuthenticationFailed" in said and "invalid credentials" in said, said
        assert wrong not in said and broker.password not in said
    else:
        # The broker drops a client that skips the SASL handshake.
        assert f"127.0.0.1:{broker.port} closed" in said and "Unable to bootstrap" in said, said


def test_the_launcher_leaves_the_shared_broker_alone(broker: SaslBroker, local_stack: LocalStackSettings) -> None:
    assert broker.port not in (local_stack.kafka_port, local_stack.kafka_controller_port)
    assert Path(broker.log).parent != local_stack.state_dir
