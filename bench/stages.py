"""Each stage's own ceiling, measured in the same run as the raw-Kafka baseline."""

from __future__ import annotations

import asyncio
import json
import time
from datetime import UTC, datetime
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from pymongo import AsyncMongoClient

from bench.generator import Scripted, events
from bench.harness import Env, progress, quantile, wait_count
from schemas.common import Channel
from schemas.topics import ATS_EVENTS, NOTIFICATIONS_STATUS, dispatch_topic

PRODUCER = {"acks": "all", "enable_idempotence": True, "linger_ms": 1}


async def produce_all(env: Env, topic: str, script: list[Scripted]) -> float:
    """Produce the script as fast as the producer batches it; seconds taken."""
    producer = AIOKafkaProducer(bootstrap_servers=env.local.bootstrap, **PRODUCER)
    await producer.start()
    started = time.perf_counter()
    try:
        futures = [await producer.send(env.kafka.topic(topic), s.value, key=s.key.encode()) for s in script]
        await asyncio.gather(*futures)
    finally:
        await producer.stop()
    return time.perf_counter() - started


async def baseline(env: Env, count: int, payload: bytes) -> dict[str, Any]:
    """Raw Kafka: aiokafka produce -> consume pass-through, same payload size and producer settings."""
    topic = env.kafka.topic(ATS_EVENTS)
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
    """Only the router: pre-loaded ATS events in, decisions (dispatch + queued) out."""
    script = list(events(count, candidates, prefix=env.name))
    await produce_all(env, ATS_EVENTS, script)
    started = time.perf_counter()
    await env.start("router")
    took = await wait_count(env.kafka, [dispatch_topic(Channel.EMAIL)], count, limit_s=600)
    return {"events": count, "seconds": took, "per_s": count / took, "startup_s": time.perf_counter() - started - took}


async def notifier_alone(env: Env, count: int, smtp_port: int) -> dict[str, Any]:
    """Only the notifier with the SMTP sink: pre-loaded e-mail commands in, sent statuses out."""
    now = datetime.now(UTC).isoformat()
    producer = AIOKafkaProducer(bootstrap_servers=env.local.bootstrap, **PRODUCER)
    await producer.start()
    futures = []
    for i in range(count):
        nid = f"00000000-0000-5000-8000-{i:012d}"
        data = {
            "notification_id": nid,
            "ats_event_id": f"e{i}",
            "candidate_id": f"c{i % 5000}",
            "channel": "email",
            "stage": "screening",
            "template": "stage_update",
            "language": "nl",
            "to": f"kandidaat{i % 5000}@example.org",
            "event_time": now,
            "decided_at": now,
            "preference_version": 0,
            "context": {"candidate_name": "Kandidaat", "job_title": "Monteur"},
        }
        cmd = {
            "specversion": "1.0",
            "id": nid,
            "type": "command.deliver_message",
            "time": now,
            "subject": data["candidate_id"],
            "data": data,
        }
        futures.append(
            await producer.send(
                env.kafka.topic(dispatch_topic(Channel.EMAIL)),
                json.dumps(cmd).encode(),
                key=str(data["candidate_id"]).encode(),
            )
        )
    await asyncio.gather(*futures)
    await producer.stop()
    started = time.perf_counter()
    await env.start("notifier", extra={"NOTIFIER_SMTP_PORT": str(smtp_port)})
    took = await wait_count(env.kafka, [NOTIFICATIONS_STATUS], count, limit_s=600)
    return {"events": count, "seconds": took, "per_s": count / took, "startup_s": time.perf_counter() - started - took}


def latency_summary(samples: list[float]) -> dict[str, float]:
    """p50/p95/p99 in milliseconds."""
    return {f"p{int(q * 100)}_ms": quantile(samples, q) * 1000 for q in (0.5, 0.95, 0.99)}


def report(name: str, result: dict[str, Any]) -> dict[str, Any]:
    """Print a stage's result line and return it."""
    shown = ", ".join(f"{k}={v:.1f}" if isinstance(v, float) else f"{k}={v}" for k, v in result.items())
    progress(f"{name}: {shown}")
    return result
