"""A preference change survives a real crash (SIGKILL of a separate process) at every point between
storing it and confirming its publication: after restart the database and the broker agree, the
snapshot is on the compacted topic, history has each version exactly once."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from pymongo import AsyncMongoClient

from schemas.topics import ATS_EVENTS, PREFERENCES_CHANGED
from services.common.settings import KafkaSettings, MongoSettings
from tests.processes import ServiceProcess
from tests.support import ats_event, eventually, produce, read_topic


def service_env(kafka: KafkaSettings, mongo: MongoSettings, unique: str) -> dict[str, str]:
    return {
        "KAFKA_BOOTSTRAP_SERVERS": kafka.bootstrap_servers,
        "KAFKA_TOPIC_PREFIX": kafka.topic_prefix,
        "KAFKA_PARTITIONS": str(kafka.partitions),
        "MONGODB_URL": mongo.url.get_secret_value(),
        "MONGODB_DATABASE": mongo.database,
        "PREFERENCE_GROUP_ID": f"{unique}.preference",
        "PREFERENCE_OUTBOX_GRACE_S": "0.3",
        "PREFERENCE_OUTBOX_INTERVAL_S": "0.2",
        "KAFKA_SESSION_TIMEOUT_MS": "2000",
    }


async def versions(mongo: MongoSettings, candidate: str) -> list[dict[str, Any]]:
    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(mongo.url.get_secret_value())
    try:
        db = client[mongo.database]
        confirmed = {d["_id"] async for d in db["preference_published"].find({})}
        cursor = db["preference_versions"].find({"candidate_id": candidate}).sort("version", 1)
        return [{"version": d["version"], "published": d["_id"] in confirmed} async for d in cursor]
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

    # What the crash left: the version is stored but not confirmed as published.
    assert await versions(mongo, cid) == [{"version": 1, "published": False}]
    assert await snapshots(kafka, cid) == on_topic_after_crash

    restarted = ServiceProcess("preference", env, tmp_path / "second.log").start()
    try:
        await restarted.ready()
        confirmed = await eventually(
            lambda: _published(mongo, cid), what="the outbox relay confirming version 1 after restart"
        )
        assert confirmed == [{"version": 1, "published": True}]
        on_topic = await snapshots(kafka, cid)
        assert on_topic and set(on_topic) == {1} and on_topic[-1] == 1
        # The ATS event was redelivered (its offset was never committed) and changed nothing.
        assert len(on_topic) == len(on_topic_after_crash) + 1
    finally:
        restarted.stop()


async def _published(mongo: MongoSettings, cid: str) -> list[dict[str, Any]] | None:
    found = await versions(mongo, cid)
    return found if found and all(v["published"] for v in found) else None
