"""Create the contract's topics on a cluster, then check them: python -m deploy.tools.create_topics.

The one-shot job of deploy/compose.yaml and the Kubernetes Job run this with the services image.
Connection, partition count and replication factor come from the KAFKA_* environment (KafkaSettings),
exactly as the services read it. Creation is idempotent; the check then fails when an existing topic
has another partition count than KAFKA_PARTITIONS (that would break co-partitioning: partition N of
every candidate-keyed topic must hold the same candidates) or fewer replicas than asked for.
"""

from __future__ import annotations

import asyncio
import sys

from aiokafka.admin import AIOKafkaAdminClient

from schemas.topics import TOPICS
from services.common.kafka import aiokafka_kwargs, create_topics
from services.common.settings import KafkaSettings


async def mismatches(settings: KafkaSettings) -> list[str]:
    """What differs between the cluster's contract topics and the settings (empty when all agree)."""
    admin = AIOKafkaAdminClient(**aiokafka_kwargs(settings), request_timeout_ms=15000)
    await admin.start()
    try:
        names = [settings.topic(spec.name) for spec in TOPICS]
        described = await admin.describe_topics(names)
    finally:
        await admin.close()
    problems: list[str] = []
    for topic in described:
        partitions = topic["partitions"]
        if topic["error_code"] != 0 or not partitions:
            problems.append(f"{topic['topic']}: missing (error code {topic['error_code']})")
            continue
        if len(partitions) != settings.partitions:
            problems.append(f"{topic['topic']}: {len(partitions)} partitions, KAFKA_PARTITIONS={settings.partitions}")
        fewest = min(len(p["replicas"]) for p in partitions)
        if fewest < settings.replication_factor:
            wanted = settings.replication_factor
            problems.append(f"{topic['topic']}: {fewest} replicas, KAFKA_REPLICATION_FACTOR={wanted}")
    return problems


async def run(settings: KafkaSettings) -> int:
    """Create what is missing, then verify every contract topic; return the exit code."""
    created = await create_topics(settings)
    print(
        f"create_topics: created {len(created)} of {len(TOPICS)} topics "
        f"({settings.partitions} partitions, replication factor {settings.replication_factor})",
        flush=True,
    )
    problems = await mismatches(settings)
    for problem in problems:
        print(f"create_topics: ERROR {problem}", file=sys.stderr, flush=True)
    return 1 if problems else 0


def main() -> int:
    """Entry point of the one-shot job."""
    return asyncio.run(run(KafkaSettings()))


if __name__ == "__main__":
    raise SystemExit(main())
