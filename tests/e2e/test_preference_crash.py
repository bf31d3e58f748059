"""A preference change survives a real crash (SIGKILL of a separate process) at every point between
storing it and publishing it: after restart the database and the broker agree, the snapshot is on the
compacted topic exactly once (the topic is the record of what was published: a version the crash left
unpublished goes out once, one that reached the topic is not published again), and history has each
version exactly once."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from pymongo import AsyncMongoClient

from schemas.topics import ATS_ACCEPTED, ATS_EVENTS, PREFERENCES_CHANGED
from services.common.settings import KafkaSettings, MongoSettings
from tests.processes import ServiceProcess, stack_env
from tests.support import ats_event, eventually, produce, read_topic


def service_env(kafka: KafkaSettings, mongo: MongoSettings, unique: str) -> dict[str, str]:
    return {
        **stack_env(kafka, mongo),
        "KAFKA_PARTITIONS": str(kafka.partitions),
        "PREFERENCE_GROUP_ID": f"{unique}.preference",
        "PREFERENCE_OUTBOX_GRACE_S": "0.3",
        "PREFERENCE_OUTBOX_INTERVAL_S": "0.2",
        "PREFERENCE_NOTICE_LEASE_S": "1",
    }


async def versions(mongo: MongoSettings, candidate: str) -> list[int]:
    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(mongo.url.get_secret_value())
    try:
        cursor = client[mongo.database]["preference_versions"].find({"candidate_id": candidate}).sort("version", 1)
        return [d["version"] async for d in cursor]
    finally:
        await client.close()


async def snapshots(kafka: KafkaSettings, candidate: str) -> list[int]:
    return [
        json.loads(r.value)["data"]["version"]
        for r in await read_topic(kafka, PREFERENCES_CHANGED)
        if r.key == candidate.encode() and r.value
    ]


@pytest.mark.parametrize(("crash_at", "on_topic_after_crash"), [("after_write", []), ("after_publish", [1])])
async def test_a_change_survives_sigkill_at_every_crash_point(
    kafka: KafkaSettings,
    mongo: MongoSettings,
    tmp_path: Path,
    unique: str,
    crash_at: str,
    on_topic_after_crash: list[int],
) -> None:
    env = service_env(kafka, mongo, unique)
    cid = f"{unique}-crash"
    crashing = ServiceProcess("preference", {**env, "PREFERENCE_CRASH_AT": crash_at}, tmp_path / "first.log").start()
    try:
        await crashing.ready()
        await produce(kafka, ATS_EVENTS, [ats_event("ats.application.received", cid)])
        assert await crashing.exited() == -9, "the process must die by SIGKILL at the crash point"
    finally:
        crashing.kill()

    # What the crash left: the version is stored, and on the topic only if the crash came after publishing.
    assert await versions(mongo, cid) == [1]
    assert await snapshots(kafka, cid) == on_topic_after_crash

    restarted = ServiceProcess("preference", env, tmp_path / "second.log").start()
    try:
        await restarted.ready()
        await eventually(lambda: _on_topic(kafka, cid), what="version 1 on the topic after restart")
        # The ATS event was redelivered (its offset was never committed) and changed nothing; the relay ran
        # many times meanwhile (every 0.2 s): version 1 is on the topic exactly once, whichever the crash.
        await eventually(lambda: _forwarded(kafka, cid), what="the redelivered event forwarded after restart")
        assert await snapshots(kafka, cid) == [1]
        assert await versions(mongo, cid) == [1]
    finally:
        restarted.stop()


async def _on_topic(kafka: KafkaSettings, cid: str) -> bool:
    return bool(await snapshots(kafka, cid))


async def _forwarded(kafka: KafkaSettings, cid: str) -> bool:
    return any(r.key == cid.encode() for r in await read_topic(kafka, ATS_ACCEPTED))
