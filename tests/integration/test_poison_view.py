"""Bad records on the compacted preferences.changed, and a view reader that fails, on the real broker.

A record without a UTF-8 key, with an undecodable value, or keyed by another candidate than its snapshot is
dead-lettered to preferences.changed.dlq by each view reader (once per process: compaction keeps the record,
every rebuild meets it again), counted, and stops neither startup nor the tail; mail keeps flowing. A reader
whose run() fails is restarted, and the service is not ready until the view has caught up again.
"""

from __future__ import annotations

import asyncio
import json
import zlib
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from prometheus_client import CollectorRegistry
from prometheus_client.parser import text_string_to_metric_families

from schemas.ats import ATS_EVENT_ADAPTER
from schemas.defaults import default_snapshot
from schemas.partitioning import partition_for
from schemas.preferences import PreferencesChangedEvent, PreferenceSnapshot
from schemas.topics import ATS_EVENTS, PREFERENCES_CHANGED, dlq_topic
from services.common.http import Readiness
from services.common.kafka import DLQ_CONSUMER, DLQ_ERROR_KIND, DLQ_ERROR_REASON, DLQ_ORIGINAL_OFFSET
from services.common.settings import KafkaSettings, MongoSettings
from services.common.view import ViewReader
from services.common.viewing import ViewSupervisor, preferences_topic, view_consumer
from tests.stacks import Running, services_running
from tests.support import Partitioning, ats_event, eventually, produce, read_topic


def snapshot_value(candidate_id: str, version: int = 1) -> bytes:
    """A valid preferences.changed value for a candidate."""
    candidate = ATS_EVENT_ADAPTER.validate_python(ats_event("ats.application.received", candidate_id)).data.candidate
    snapshot = default_snapshot(candidate, datetime.now(UTC), version=version)
    return PreferencesChangedEvent.of(snapshot).model_dump_json().encode()


async def put(
    kafka: KafkaSettings, key: bytes, value: bytes | None, partitioner: Partitioning = "murmur2_random"
) -> tuple[int, int]:
    """One record on preferences.changed, written by a foreign client; (partition, offset).

    librdkafka's murmur2 partitioner places a key where the project's rule does (schemas/partitioning.py).
    """
    [placed] = await produce(kafka, PREFERENCES_CHANGED, [value], key=key, partitioner=partitioner)
    return placed


def misplaced_candidate(prefix: str, partitions: int) -> str:
    """A candidate id that librdkafka's default (CRC32) partitioner puts elsewhere than the project's rule."""
    return next(
        cid
        for cid in (f"{prefix}-misplaced-{i}" for i in range(100))
        if zlib.crc32(cid.encode()) % partitions != partition_for(cid, partitions)
    )


async def dead_letters(kafka: KafkaSettings, expected: int) -> list[dict[str, str]] | None:
    records = await read_topic(kafka, dlq_topic(PREFERENCES_CHANGED))
    if len(records) < expected:
        return None
    return [{k: v.decode() for k, v in r.headers} | {"key": repr(r.key)} for r in records]


async def both_ready(stack: Running) -> bool:
    return all([(await c.get("/ready")).status_code == 200 for c in (stack.router, stack.notifier)])


async def mail_reaches(stack: Running, kafka: KafkaSettings, candidate_id: str) -> None:
    address = f"{candidate_id}@example.org"
    await produce(kafka, ATS_EVENTS, [ats_event("ats.interview.scheduled", candidate_id, email=address)])

    async def arrived() -> bool:
        return any(m["rcpt_tos"] == [address] for m in stack.mails())

    await eventually(arrived, timeout=30, what=f"the mail to {candidate_id}")


async def dlq_count(client: Any, kafka: KafkaSettings, kind: str) -> float:
    text = (await client.get("/metrics")).text
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            labels = s.labels
            if s.name == "dlq_records_total" and labels == {"topic": kafka.topic(PREFERENCES_CHANGED), "kind": kind}:
                return float(s.value)
    return -1.0


async def test_bad_snapshot_records_are_dead_lettered_once_per_process_and_stop_nothing(
    kafka: KafkaSettings, mongo: MongoSettings, tmp_path: Path, unique: str
) -> None:
    # On the topic before the services start: the rebuild meets them first.
    await put(kafka, b"\xff\xfe-not-utf-8", snapshot_value(f"{unique}-victim"))
    await put(kafka, f"{unique}-truncated".encode(), b'{"specversion": "1.0", "data": {"contacts": ')
    await put(kafka, f"{unique}-mismatch".encode(), snapshot_value(f"{unique}-someone-else"))
    misplaced = misplaced_candidate(unique, kafka.partitions)
    partition, _ = await put(kafka, misplaced.encode(), snapshot_value(misplaced), partitioner="consistent_random")
    assert partition != partition_for(misplaced, kafka.partitions)
    router_view, notifier_view = f"{unique}.router.view", f"{unique}.notifier.view"

    async with services_running(kafka, mongo, tmp_path / "first", unique) as stack:
        await eventually(lambda: both_ready(stack), what="both views rebuilt past the bad records")
        dead = await eventually(lambda: dead_letters(kafka, 8), what="dead letters of both readers")
        by_reader = Counter((d[DLQ_CONSUMER], d[DLQ_ERROR_KIND]) for d in dead)
        for reader in (router_view, notifier_view):
            assert by_reader[(reader, "invalid_key")] == 2 and by_reader[(reader, "malformed_json")] == 1
            assert by_reader[(reader, "wrong_partition")] == 1
        assert all("someone-else" not in d[DLQ_ERROR_REASON] and "victim" not in d[DLQ_ERROR_REASON] for d in dead)
        await mail_reaches(stack, kafka, f"{unique}-before")

        # A bad record arriving while the services run: dead-lettered by both tails, and mail still flows.
        _, live_offset = await put(kafka, b"\x80\x81", b"{}")
        dead = await eventually(lambda: dead_letters(kafka, 10), what="the live bad record dead-lettered")
        live = [d for d in dead if d[DLQ_ORIGINAL_OFFSET] == str(live_offset) and d["key"] == repr(b"\x80\x81")]
        assert sorted(d[DLQ_CONSUMER] for d in live) == [notifier_view, router_view]
        await mail_reaches(stack, kafka, f"{unique}-after")
        assert await both_ready(stack)
        assert await dlq_count(stack.router, kafka, "invalid_key") == 3
        assert await dlq_count(stack.notifier, kafka, "invalid_key") == 3
        assert await dlq_count(stack.notifier, kafka, "malformed_json") == 1
    assert len(await read_topic(kafka, dlq_topic(PREFERENCES_CHANGED))) == 10, "once per process, not per rebuild"

    # A restart meets the same five records again: startup succeeds, each reader dead-letters them once more.
    async with services_running(kafka, mongo, tmp_path / "second", unique) as stack:
        await eventually(lambda: both_ready(stack), what="ready after a restart")
        await eventually(lambda: dead_letters(kafka, 20), what="one more copy per reader")
        await mail_reaches(stack, kafka, f"{unique}-restarted")


@dataclass(frozen=True)
class Seen:
    candidate_id: str
    version: int


def seen(snapshot: PreferenceSnapshot) -> Seen:
    return Seen(snapshot.candidate_id, snapshot.version)


async def test_a_failed_view_reader_is_restarted_and_the_service_is_not_ready_until_it_caught_up(
    kafka: KafkaSettings, unique: str
) -> None:
    registry, readiness = CollectorRegistry(), Readiness()
    supervisor = ViewSupervisor(registry, readiness, "router", backoff_s=1.0)
    notified: list[str] = []

    def on_change(partition: int, candidate_id: str, old: Seen | None, new: Seen | None) -> None:
        notified.append(candidate_id)
        if candidate_id == f"{unique}-bug":
            raise KeyError("a bug in the service's change callback")

    consumer = view_consumer(kafka, "test-view")
    await consumer.start()
    reader: ViewReader[Seen] = ViewReader(consumer, preferences_topic(kafka), seen, on_change=on_change)
    await put(kafka, f"{unique}-early".encode(), snapshot_value(f"{unique}-early"))
    await reader.assign(await reader.partitions())
    task = asyncio.create_task(supervisor.run(reader))
    try:
        assert readiness.ready and reader.view.get(f"{unique}-early") == Seen(f"{unique}-early", 1)
        await put(kafka, f"{unique}-bug".encode(), snapshot_value(f"{unique}-bug"))

        async def restarting() -> str | None:
            return readiness.reasons().get("view")

        reason = await eventually(restarting, what="the view marked not ready")
        assert reason.startswith("view reader restarting after KeyError at tests/integration/test_poison_view.py:")
        await put(kafka, f"{unique}-late".encode(), snapshot_value(f"{unique}-late"))  # during the backoff

        async def ready_again() -> bool:
            return readiness.ready

        await eventually(ready_again, what="ready again")
        assert reader.view.get(f"{unique}-late") == Seen(f"{unique}-late", 1), "ready only once caught up"
        assert reader.view.get(f"{unique}-bug") == Seen(f"{unique}-bug", 1)
        assert registry.get_sample_value("preference_view_restarts_total", {"service": "router"}) == 1
        assert notified == [f"{unique}-bug", f"{unique}-late"], "resuming re-applies without notifying twice"
        # The restarted reader keeps tailing.
        await put(kafka, f"{unique}-later".encode(), snapshot_value(f"{unique}-later", version=4))

        async def applied() -> bool:
            return reader.view.get(f"{unique}-later") == Seen(f"{unique}-later", 4)

        await eventually(applied, what="a change after the restart")
        assert json.dumps(readiness.reasons()) == "{}"
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        await consumer.stop()
