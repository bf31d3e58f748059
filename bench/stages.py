"""Each stage's own ceiling, measured in the same run as the raw-Kafka baseline.

The ATS is librdkafka with its default partitioner (bench/foreign.py). A service alone gets its input
pre-loaded as in production (bench/feeding.py): the preference service reads ats.events; the router
snapshots, then ats.accepted; the notifier snapshots, then dispatch commands.
"""

from __future__ import annotations

import asyncio
import random
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from pymongo import AsyncMongoClient

from bench.feeding import contacts, write_accepted, write_commands, write_snapshots
from bench.foreign import foreign_producer
from bench.generator import Scripted, candidate, events
from bench.harness import Env, progress, quantile, wait_count
from deploy.local.smtp_sink import read_index
from schemas.ats import CandidateContact
from schemas.common import Channel
from schemas.topics import ATS_ACCEPTED, ATS_EVENTS, NOTIFICATIONS_STATUS, TopicSpec, dispatch_topic
from services.common.kafka import create_topics

# The services' own client settings, for the raw-Kafka baseline only.
PRODUCER = {"acks": "all", "enable_idempotence": True, "linger_ms": 1}
BASELINE = TopicSpec(
    "bench.baseline", "Raw Kafka pass-through of the baseline.", writers=("bench",), readers=("bench",)
)


async def produce_all(env: Env, topic: str, script: list[Scripted]) -> float:
    """Produce the script as the ATS (librdkafka, default partitioner), as fast as it batches; seconds taken."""
    started = time.perf_counter()
    async with foreign_producer(env.local.bootstrap) as producer:
        for s in script:
            await producer.send(env.kafka.topic(topic), s.value, s.key.encode())
    return time.perf_counter() - started


async def baseline(env: Env, count: int, payload: bytes) -> dict[str, Any]:
    """Raw Kafka: produce -> consume pass-through with the services' own client (aiokafka), same payload size.

    On a topic of its own: this is the ceiling of our client on this broker, not the ATS.
    """
    await create_topics(env.kafka, [BASELINE])
    topic = env.kafka.topic(BASELINE.name)
    consumer = AIOKafkaConsumer(
        topic,
        bootstrap_servers=env.local.bootstrap,
        group_id=f"{env.name}.baseline",
        auto_offset_reset="earliest",
        enable_auto_commit=False,
    )
    await consumer.start()
    producer = AIOKafkaProducer(bootstrap_servers=env.local.bootstrap, **PRODUCER)
    await producer.start()
    received = 0

    async def consume() -> None:
        nonlocal received
        while received < count:
            batch = await consumer.getmany(timeout_ms=200, max_records=2000)
            received += sum(len(v) for v in batch.values())
            await consumer.commit()

    started = time.perf_counter()
    reader = asyncio.create_task(consume())
    futures = [await producer.send(topic, payload, key=f"k{i % 997}".encode()) for i in range(count)]
    await asyncio.gather(*futures)
    await reader
    elapsed = time.perf_counter() - started
    await producer.stop()
    await consumer.stop()
    return {"events": count, "seconds": elapsed, "per_s": count / elapsed}


async def database(env: Env, seconds: float = 2.0) -> dict[str, Any]:
    """FerretDB: serial single-document inserts (one writer), and 500-document batches."""
    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(env.local.mongodb_url)
    coll = client[env.name]["bench_writes"]
    doc = {"candidate_id": "c", "payload": "x" * 800}
    n, started = 0, time.perf_counter()
    while time.perf_counter() - started < seconds:
        await coll.insert_one(dict(doc))
        n += 1
    serial = n / (time.perf_counter() - started)
    m, started = 0, time.perf_counter()
    while time.perf_counter() - started < seconds:
        await coll.insert_many([dict(doc) for _ in range(500)])
        m += 500
    batched = m / (time.perf_counter() - started)
    await client.close()
    return {"serial_inserts_per_s": serial, "batched_inserts_per_s": batched}


async def router_alone(env: Env, count: int, candidates: int) -> dict[str, Any]:
    """Only the router, fed as in production: snapshots first, then accepted events; decisions out."""
    script = list(events(count, candidates, prefix=env.name))
    async with foreign_producer(env.local.bootstrap) as producer:
        versions = await write_snapshots(producer, env.kafka, contacts(script), datetime.now(UTC))
        await write_accepted(producer, env.kafka, script, versions)
    started = time.perf_counter()
    await env.start("router")
    took = await wait_count(env.kafka, [dispatch_topic(Channel.EMAIL)], count, limit_s=600)
    return {"events": count, "seconds": took, "per_s": count / took, "startup_s": time.perf_counter() - started - took}


async def preference_alone(env: Env, count: int, candidates: int) -> dict[str, Any]:
    """Only the preference service: ATS events in (librdkafka), profiles stored and published, events forwarded."""
    await produce_all(env, ATS_EVENTS, list(events(count, candidates, prefix=env.name)))
    started = time.perf_counter()
    await env.start("preference")
    took = await wait_count(env.kafka, [ATS_ACCEPTED], count, limit_s=600)
    return {"events": count, "seconds": took, "per_s": count / took, "startup_s": time.perf_counter() - started - took}


async def notifier_alone(env: Env, count: int, smtp_port: int, mail_dir: Path) -> dict[str, Any]:
    """Only the notifier with the SMTP sink: snapshots and e-mail commands pre-loaded, statuses out.

    `mails` counts what the sink received: a command the notifier refused (no snapshot, no consent) also
    ends in a status, so the statuses alone would not show that nothing was sent.
    """
    now = datetime.now(UTC)
    people = [
        CandidateContact.model_validate(candidate(i, random.Random(i), env.name)) for i in range(min(count, 5000))
    ]
    async with foreign_producer(env.local.bootstrap) as producer:
        versions = await write_snapshots(producer, env.kafka, people, now)
        await write_commands(producer, env.kafka, people, versions, count, now)
    started = time.perf_counter()
    await env.start("notifier", extra={"NOTIFIER_SMTP_PORT": str(smtp_port)})
    took = await wait_count(env.kafka, [NOTIFICATIONS_STATUS], count, limit_s=600)
    startup = time.perf_counter() - started - took
    return {
        "events": count,
        "seconds": took,
        "per_s": count / took,
        "startup_s": startup,
        "mails": len(read_index(mail_dir)),
    }


def latency_summary(samples: list[float]) -> dict[str, float]:
    """p50/p95/p99 in milliseconds."""
    return {f"p{int(q * 100)}_ms": quantile(samples, q) * 1000 for q in (0.5, 0.95, 0.99)}


def report(name: str, result: dict[str, Any]) -> dict[str, Any]:
    """Print a stage's result line and return it."""
    shown = ", ".join(f"{k}={v:.1f}" if isinstance(v, float) else f"{k}={v}" for k, v in result.items())
    progress(f"{name}: {shown}")
    return result
