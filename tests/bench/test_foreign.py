"""The harness's foreign producer: librdkafka's default partitioner on ats.events, our rule on internal topics."""

from __future__ import annotations

import asyncio
import json
import os
import re
import sys
import zlib
from datetime import UTC, datetime
from pathlib import Path

import pytest

from bench.feeding import contacts, write_accepted, write_snapshots
from bench.foreign import DeliveryFailedError, ForeignProducer, Placement, foreign_producer
from bench.generator import events
from schemas.ats import ATS_EVENT_ADAPTER
from schemas.partitioning import partition_for
from schemas.preferences import PREFERENCES_EVENT_ADAPTER
from schemas.topics import ATS_ACCEPTED, ATS_EVENTS, PREFERENCE_VERSION_HEADER, PREFERENCES_CHANGED
from services.common.settings import KafkaSettings
from tests.support import read_topic

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[2]


def crc32_partition(key: str, partitions: int) -> int:
    """Where librdkafka's default partitioner (consistent_random) puts a keyed record."""
    return zlib.crc32(key.encode()) % partitions


def telling_keys(partitions: int, count: int) -> list[str]:
    """Candidate ids that CRC32 and murmur2 (our rule, the Java client's default) put on different partitions."""
    ids = (f"cand-{i}" for i in range(10_000))
    return [k for k in ids if crc32_partition(k, partitions) != partition_for(k, partitions)][:count]


async def test_ats_records_land_where_librdkafkas_default_partitioner_puts_them(kafka: KafkaSettings) -> None:
    keys = telling_keys(kafka.partitions, 12)
    async with foreign_producer(kafka.bootstrap_servers) as producer:
        for key in keys:
            await producer.send(kafka.topic(ATS_EVENTS), f'{{"k": "{key}"}}'.encode(), key.encode())
    assert producer.delivered == len(keys)
    records = await read_topic(kafka, ATS_EVENTS)
    placed = {r.key.decode(): r.partition for r in records if r.key}
    assert placed == {k: crc32_partition(k, kafka.partitions) for k in keys}


async def test_internal_records_follow_our_rule_with_the_version_header(kafka: KafkaSettings) -> None:
    script = list(events(9, 3, prefix="feed-"))
    async with foreign_producer(kafka.bootstrap_servers) as producer:
        versions = await write_snapshots(producer, kafka, contacts(script), datetime.now(UTC))
        assert await write_accepted(producer, kafka, script, versions) == len(script)
    assert versions == {f"feed-c{i:07d}": 1 for i in range(3)}
    snapshots = await read_topic(kafka, PREFERENCES_CHANGED)
    assert len(snapshots) == 3
    for r in snapshots:
        snapshot = PREFERENCES_EVENT_ADAPTER.validate_json(r.value or b"").data
        assert r.key == snapshot.candidate_id.encode()
        assert r.partition == partition_for(snapshot.candidate_id, kafka.partitions)
        assert dict(r.headers)[PREFERENCE_VERSION_HEADER] == b"1" and snapshot.version == 1
        assert snapshot.contacts.email is not None  # the profile holds the ATS's contact data
    accepted = await read_topic(kafka, ATS_ACCEPTED)
    assert sorted(r.value or b"" for r in accepted) == sorted(s.value for s in script)  # the ATS's own bytes
    for r in accepted:
        cid = ATS_EVENT_ADAPTER.validate_json(r.value or b"").subject
        assert r.partition == partition_for(cid, kafka.partitions)
        assert dict(r.headers)[PREFERENCE_VERSION_HEADER] == b"1"


async def test_a_full_queue_waits_for_room_instead_of_failing(kafka: KafkaSettings) -> None:
    async with foreign_producer(kafka.bootstrap_servers, **{"queue.buffering.max.messages": 4}) as producer:
        for n in range(40):
            await producer.send(kafka.topic(ATS_EVENTS), b"{}", f"k{n}".encode())
    assert producer.delivered == 40
    assert len(await read_topic(kafka, ATS_EVENTS)) == 40


async def test_a_placement_says_where_the_broker_put_the_record(kafka: KafkaSettings) -> None:
    placements = [Placement() for _ in range(8)]
    async with foreign_producer(kafka.bootstrap_servers) as producer:
        for n, placement in enumerate(placements):
            await producer.send(kafka.topic(ATS_EVENTS), f"v{n}".encode(), f"k{n}".encode(), placement=placement)
    where = {(r.partition, r.offset): r.value for r in await read_topic(kafka, ATS_EVENTS)}
    assert len(where) == len(placements)
    assert [where.get((p.partition, p.offset)) for p in placements] == [f"v{n}".encode() for n in range(8)]


def test_the_ats_keeps_the_default_partitioner() -> None:
    with pytest.raises(ValueError, match="default partitioner"):
        ForeignProducer("127.0.0.1:1", partitioner="murmur2_random")


async def test_undeliverable_records_fail_the_flush(kafka: KafkaSettings) -> None:
    producer = ForeignProducer(kafka.bootstrap_servers, **{"message.timeout.ms": 1500})
    await producer.send(kafka.topic("no.such.topic"), b"{}", b"k")
    with pytest.raises(DeliveryFailedError):
        await producer.flush(timeout_s=20)


async def test_ats_cli_produces_with_librdkafka(kafka: KafkaSettings) -> None:
    [cid] = telling_keys(kafka.partitions, 1)
    env = {**os.environ, "KAFKA_BOOTSTRAP_SERVERS": kafka.bootstrap_servers, "KAFKA_TOPIC_PREFIX": kafka.topic_prefix}
    cli = ("-m", "deploy.local.ats_cli", "interview-scheduled", "--candidate", cid, "--event-id", "ev-cli-1")
    proc = await asyncio.create_subprocess_exec(
        sys.executable, *cli, cwd=ROOT, env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
    )
    out, err = await asyncio.wait_for(proc.communicate(), 60)
    assert proc.returncode == 0, err.decode()
    found = re.search(rb"id=ev-cli-1 to partition (\d+) offset (\d+)", out)
    assert found, out.decode()
    [record] = await read_topic(kafka, ATS_EVENTS)
    assert (record.partition, record.offset) == (int(found[1]), int(found[2]))
    assert record.partition == crc32_partition(cid, kafka.partitions)
    assert record.key == cid.encode()
    event = ATS_EVENT_ADAPTER.validate_json(record.value or b"")
    assert (event.id, event.subject, event.type) == ("ev-cli-1", cid, "ats.interview.scheduled")
    # --print shows the same kind of event and produces nothing.
    proc = await asyncio.create_subprocess_exec(
        sys.executable, *cli, "--print", cwd=ROOT, env=env, stdout=asyncio.subprocess.PIPE
    )
    printed, _ = await asyncio.wait_for(proc.communicate(), 60)
    assert json.loads(printed)["subject"] == cid
    assert len(await read_topic(kafka, ATS_EVENTS)) == 1
