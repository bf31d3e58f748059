"""Router memory per candidate: build the router's view from N varied snapshots on the real topic.

    python -m bench.memory --bootstrap 127.0.0.1:9092 --topic <prefix>.preferences.changed

Run as its own process so the resident-set difference measures the view and nothing else.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import random
import resource
import time
from datetime import UTC, datetime, timedelta
from typing import Any

from aiokafka import AIOKafkaProducer

from schemas.common import Channel, Stage
from schemas.partitioning import partition_for
from schemas.topics import PREFERENCE_VERSION_HEADER
from services.common.settings import KafkaSettings
from services.common.view import ViewReader
from services.common.viewing import view_consumer
from services.router.prefs import compact


def _rss() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * resource.getpagesize()


def snapshot(i: int, rng: random.Random, now: datetime) -> dict[str, Any]:
    """A realistic, varied snapshot: contacts, some consent, sometimes overrides and learned affinity."""
    channels = [c.value for c in Channel]
    order = rng.sample(channels[:4], k=rng.randint(1, 3))
    consent = {
        c: {
            "application": {
                "state": rng.choice(["granted", "unknown", "revoked"]),
                "source": "self_service",
                "at": now.isoformat(),
                "evidence": "selfservice-v1",
            }
        }
        for c in rng.sample(channels, k=rng.randint(0, 3))
    }
    overrides = {s.value: [rng.choice(channels[:3])] for s in rng.sample(list(Stage), k=rng.randint(0, 2))}
    data: dict[str, Any] = {
        "candidate_id": f"m{i:08d}",
        "version": rng.randint(1, 20),
        "updated_at": now.isoformat(),
        "name": f"Kandidaat {i}",
        "contacts": {
            "email": {"address": f"k{i}@example.org"},
            "phone": {"address": f"+316{10_000_000 + i % 89_999_999}"},
        },
        "consent": consent,
        "channel_order": order,
        "stage_overrides": overrides,
        "language": rng.choice(["nl", "en"]),
        "timezone": rng.choice(["Europe/Amsterdam", "Europe/London"]),
        "provenance": {"channel_order": {"source": "self_service", "at": (now - timedelta(days=i % 90)).isoformat()}},
    }
    if rng.random() < 0.3:
        data["affinity"] = {"email": {"score": round(rng.random(), 3), "samples": rng.randint(1, 9)}}
    if rng.random() < 0.1:
        data["paused_until"] = (now + timedelta(days=7)).isoformat()
    return {
        "specversion": "1.0",
        "id": f"m{i}:{data['version']}",
        "source": "urn:bench",
        "type": "preferences.changed",
        "time": now.isoformat(),
        "subject": data["candidate_id"],
        "data": data,
    }


async def fill(bootstrap: str, topic: str, count: int, partitions: int) -> float:
    """Produce `count` snapshots as the preference service does (own partition, version header); seconds taken."""
    rng, now = random.Random(5), datetime.now(UTC)
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks=1, linger_ms=20, max_batch_size=512 * 1024)
    await producer.start()
    started = time.perf_counter()
    pending = []
    for i in range(count):
        event = snapshot(i, rng, now)
        cid = event["subject"]
        pending.append(
            await producer.send(
                topic,
                json.dumps(event).encode(),
                key=cid.encode(),
                partition=partition_for(cid, partitions),
                headers=[(PREFERENCE_VERSION_HEADER, str(event["data"]["version"]).encode())],
            )
        )
        if len(pending) >= 20_000:
            await asyncio.gather(*pending)
            pending.clear()
    await asyncio.gather(*pending)
    await producer.stop()
    return time.perf_counter() - started


async def measure(bootstrap: str, prefix: str) -> dict[str, Any]:
    """RSS before and after rebuilding the router's compact view from the whole topic."""
    kafka = KafkaSettings(bootstrap_servers=bootstrap, topic_prefix=prefix)
    consumer = view_consumer(kafka, "bench-memory")
    await consumer.start()
    reader = ViewReader(consumer, kafka.topic("preferences.changed"), compact)
    gc.collect()
    before = _rss()
    started = time.perf_counter()
    await reader.assign(await reader.partitions())
    rebuild = time.perf_counter() - started
    await consumer.stop()
    gc.collect()
    after = _rss()
    n = len(reader.view)
    return {
        "candidates": n,
        "bytes_per_candidate": (after - before) / max(1, n),
        "rebuild_s": rebuild,
        "snapshots_per_s": n / rebuild,
    }


def main() -> None:
    """Measure (the topic must already hold the snapshots)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--bootstrap", required=True)
    parser.add_argument("--prefix", required=True)
    args = parser.parse_args()
    print(json.dumps(asyncio.run(measure(args.bootstrap, args.prefix))))


if __name__ == "__main__":
    main()
