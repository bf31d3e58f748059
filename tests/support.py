"""Helpers for tests: ATS event factories, raw Kafka I/O, polling with a deadline, running apps in-process."""

from __future__ import annotations

import asyncio
import json
import random
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Literal, TypeVar

import httpx
from aiokafka import AIOKafkaConsumer, ConsumerRecord, TopicPartition
from confluent_kafka import Producer
from fastapi import FastAPI

from deploy.local.ats_cli import librdkafka_config
from deploy.local.smtp_sink import read_index, serve
from services.common.settings import KafkaSettings

T = TypeVar("T")


async def eventually(
    check: Callable[[], Awaitable[T | None]], timeout: float = 20.0, interval: float = 0.05, what: str = "condition"
) -> T:
    """Poll `check` until it returns something truthy; fail with `what` after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    last: T | None = None
    while time.monotonic() < deadline:
        last = await check()
        if last:
            return last
        await asyncio.sleep(interval)
    raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what} (last: {last!r})")


def zone_at(local_hour: int, now: datetime) -> str:
    """An IANA zone (Etc/GMT±N) where the local time is now `local_hour`:MM (its sign is inverted)."""
    offset = (local_hour - now.hour) % 24
    if offset > 14:
        offset -= 24
    return "Etc/GMT" if offset == 0 else f"Etc/GMT{'-' if offset > 0 else '+'}{abs(offset)}"


# Tests on the real clock that send SMS or WhatsApp put their candidates where it is early afternoon:
# in the default zone those channels wait for the end of quiet hours when the suite runs at night.
DAYTIME = zone_at(13, datetime.now(UTC))


def ats_event(
    kind: str,
    candidate_id: str = "cand-1",
    *,
    event_id: str | None = None,
    email: str | None = "sanne@example.org",
    phone: str | None = None,
    locale: str = "nl-NL",
    timezone: str = "Europe/Amsterdam",
    opt_ins: tuple[str, ...] = (),
    stage: str = "interview",
    start: datetime | None = None,
    sequence: int = 0,
    interview_id: str = "iv-1",
    time_: datetime | None = None,
    options: tuple[datetime, ...] = (),
    **extra: Any,
) -> dict[str, Any]:
    """A valid ATS event as the ATS would send it (a dict, serialised by the caller)."""
    now = time_ or datetime.now(UTC)
    start = start or (now + timedelta(days=3)).replace(hour=9, minute=0, second=0, microsecond=0)
    data: dict[str, Any] = {
        "candidate": {
            "id": candidate_id,
            "name": "Sanne de Vries",
            "email": email,
            "phone": phone,
            "locale": locale,
            "timezone": timezone,
            "opt_ins": list(opt_ins),
        },
        "application": {"id": "app-1", "job_title": "Data engineer", "stage": stage},
    }
    if kind.startswith("ats.interview"):
        data["interview"] = {
            "id": interview_id,
            "start": start.isoformat(),
            "end": (start + timedelta(hours=1)).isoformat(),
            "location": "Utrecht",
            "sequence": sequence,
            "options": [o.isoformat() for o in options],
        }
    if kind == "ats.offer.extended":
        data["offer"] = {"deadline": (now + timedelta(days=5)).isoformat()}
    if kind == "ats.message.requested":
        data["message"] = {"subject": "Even bijpraten", "body": "Heb je tijd?"}
    data.update(extra)
    return {
        "specversion": "1.0",
        "id": event_id or str(uuid.uuid4()),
        "source": "urn:test:ats",
        "type": kind,
        "time": now.isoformat(),
        "subject": candidate_id,
        "datacontenttype": "application/json",
        "data": data,
    }


# How a foreign producer picks partitions: librdkafka's default (CRC32 of the key, random when keyless), its
# Java-compatible murmur2, or an explicit random partition per record.
Partitioning = Literal["consistent_random", "murmur2_random", "random"]


def _produce_with_librdkafka(
    kafka: KafkaSettings,
    topic: str,
    records: list[tuple[bytes | None, bytes | None]],
    partitioner: Partitioning,
    max_request_size: int,
) -> list[tuple[int, int]]:
    """Produce with confluent-kafka (librdkafka), the client behind most ATS integrations; blocking."""
    config = librdkafka_config(kafka) | {  # the same security settings as the services (SASL, TLS)
        "message.max.bytes": max_request_size + 4096,
        "partitioner": "murmur2_random" if partitioner == "murmur2_random" else "consistent_random",
    }
    producer = Producer(config)
    count = None
    if partitioner == "random":
        count = len(producer.list_topics(topic, timeout=10).topics[topic].partitions)
    placed: list[tuple[int, int] | None] = [None] * len(records)
    errors: list[str] = []

    def delivered(i: int) -> Callable[[Any, Any], None]:
        def report(err: Any, msg: Any) -> None:
            if err is not None:
                errors.append(str(err))
            else:
                placed[i] = (msg.partition(), msg.offset())

        return report

    for i, (key, value) in enumerate(records):
        if count:  # an explicit partition per record, whatever the key
            producer.produce(topic, value=value, key=key, partition=random.randrange(count), on_delivery=delivered(i))
        else:
            producer.produce(topic, value=value, key=key, on_delivery=delivered(i))
        producer.poll(0)
    if producer.flush(30) or errors:
        raise RuntimeError(f"librdkafka could not deliver every record: {errors[:3]}")
    return [p for p in placed if p is not None]


async def produce(
    kafka: KafkaSettings,
    topic: str,
    values: list[bytes | dict[str, Any] | None],
    key: str | bytes | None = None,
    max_request_size: int = 1024 * 1024,
    partitioner: Partitioning = "consistent_random",
    keyed: bool = True,
) -> list[tuple[int, int]]:
    """Produce raw records to a contract topic (prefix applied) as a stranger would; (partition, offset) per record.

    The producer is librdkafka (confluent-kafka), not the services' own client: by default with its own
    default partitioner, so nothing may depend on how a producer hashes keys. The key is `key`, else the
    event's subject (none at all with keyed=False); a None value is a tombstone.
    """
    records: list[tuple[bytes | None, bytes | None]] = []
    for v in values:
        raw = v if isinstance(v, bytes) or v is None else json.dumps(v).encode()
        k = key if key is not None else (v.get("subject") if isinstance(v, dict) else "unknown")
        k_bytes = k if isinstance(k, bytes) else (k.encode() if k else None)
        records.append((k_bytes if keyed else None, raw))
    return await asyncio.to_thread(
        _produce_with_librdkafka,
        kafka,
        kafka.topic(topic),
        records,
        partitioner,
        max_request_size,
    )


async def profile_from_ats(
    client: httpx.AsyncClient, kafka: KafkaSettings, candidate_id: str, what: str, api_key: str = "dev-only-api-key"
) -> None:
    """Send a candidate's first ATS event and wait until the preference service (`client`) has their profile."""
    await produce(kafka, "ats.events", [ats_event("ats.application.received", candidate_id)])

    async def profile() -> bool:
        r = await client.get(f"/v1/candidates/{candidate_id}/preferences", headers={"X-API-Key": api_key})
        return r.status_code == 200

    await eventually(profile, what=what)


async def read_topic(kafka: KafkaSettings, topic: str, timeout: float = 2.0) -> list[ConsumerRecord[bytes, bytes]]:
    """Every record currently on a topic (all partitions), read from the beginning."""
    consumer = AIOKafkaConsumer(
        bootstrap_servers=kafka.bootstrap_servers, group_id=None, enable_auto_commit=False, auto_offset_reset="earliest"
    )
    await consumer.start()
    try:
        name = kafka.topic(topic)
        parts = [TopicPartition(name, p) for p in range(kafka.partitions)]
        consumer.assign(parts)
        await consumer.seek_to_beginning(*parts)
        ends = await consumer.end_offsets(parts)
        records: list[ConsumerRecord[bytes, bytes]] = []
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            positions = {tp: await consumer.position(tp) for tp in parts}
            if all(positions[tp] >= ends[tp] for tp in parts):
                break
            batch = await consumer.getmany(timeout_ms=200)
            for recs in batch.values():
                records.extend(recs)
        return records
    finally:
        await consumer.stop()


async def read_json(kafka: KafkaSettings, topic: str) -> list[dict[str, Any]]:
    """The JSON values of every record on a topic."""
    return [json.loads(r.value) for r in await read_topic(kafka, topic) if r.value]


async def statuses(kafka: KafkaSettings, cid: str) -> list[dict[str, Any]]:
    """Every state change on notifications.status about one candidate, in order."""
    return [e["data"] for e in await read_json(kafka, "notifications.status") if e["subject"] == cid]


async def wait_status(kafka: KafkaSettings, cid: str, status: str, n: int = 1, **match: Any) -> list[dict[str, Any]]:
    """Wait until at least `n` state changes `status` (with these field values) exist for a candidate."""

    async def found() -> list[dict[str, Any]] | None:
        hits = [
            s
            for s in await statuses(kafka, cid)
            if s["status"] == status and all(s.get(k) == v for k, v in match.items())
        ]
        return hits if len(hits) >= n else None

    return await eventually(found, what=f"{n} x {status} {match or ''} for {cid}")


@asynccontextmanager
async def running(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    """Run an app's lifespan in this loop and give an HTTP client talking to it in-process."""
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://app") as client:
            yield client


@asynccontextmanager
async def smtp_sink(
    directory: Path, dsn_relay: tuple[str, int] | None = None
) -> AsyncIterator[tuple[int, Callable[[], list[dict[str, Any]]]]]:
    """The project's SMTP sink on a free port; yields (port, read index). DSNs go to `dsn_relay`, if given."""
    server = await serve("127.0.0.1", 0, directory, dsn_relay)
    port = server.sockets[0].getsockname()[1]
    try:
        yield port, lambda: read_index(directory)
    finally:
        server.close()
        await server.wait_closed()


class Clock:
    """A clock tests move by hand (the services take time as an injected callable)."""

    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def advance(self, delta: timedelta) -> None:
        """Move time forward."""
        self.now += delta
