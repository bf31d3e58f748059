"""deploy/tools/create_topics.py against the real local broker: creates, is idempotent, reports drift."""

from __future__ import annotations

import pytest

from deploy.local.components import LocalStackSettings
from deploy.tools import create_topics
from schemas.topics import TOPICS
from services.common.settings import KafkaSettings

pytestmark = pytest.mark.integration


async def test_creates_the_contract_topics_once_and_reports_drift(
    local_stack: LocalStackSettings, unique: str, capsys: pytest.CaptureFixture[str]
) -> None:
    settings = KafkaSettings(bootstrap_servers=local_stack.bootstrap, topic_prefix=f"{unique}.", partitions=2)

    assert await create_topics.run(settings) == 0
    assert f"created {len(TOPICS)} of {len(TOPICS)} topics" in capsys.readouterr().out
    assert await create_topics.run(settings) == 0
    assert f"created 0 of {len(TOPICS)} topics" in capsys.readouterr().out

    other_count = settings.model_copy(update={"partitions": 3})
    problems = await create_topics.mismatches(other_count)
    assert len(problems) == len(TOPICS)
    assert all("2 partitions, KAFKA_PARTITIONS=3" in p for p in problems)
    assert await create_topics.run(other_count) == 1
    assert "ERROR" in capsys.readouterr().err

    more_replicas = settings.model_copy(update={"replication_factor": 2})
    assert all("1 replicas, KAFKA_REPLICATION_FACTOR=2" in p for p in await create_topics.mismatches(more_replicas))
