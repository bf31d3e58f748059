"""Shared fixtures: one real broker and one database per session, a unique topic prefix and database per test."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from deploy.local import stack
from deploy.local.components import INFRA, LocalStackSettings
from services.common.kafka import create_topics, delete_prefixed_topics
from services.common.settings import KafkaSettings, MongoSettings

ARTIFACTS = Path(__file__).resolve().parents[1] / "test-artifacts"


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Tests under integration/, e2e/, browser/ are marked by folder, so `-m` can select them."""
    for item in items:
        parts = Path(str(item.fspath)).parts
        for marker in ("integration", "e2e", "browser"):
            if marker in parts:
                item.add_marker(getattr(pytest.mark, marker))


@pytest.fixture(scope="session")
def local_stack() -> Iterator[LocalStackSettings]:
    """Kafka and FerretDB for the whole session: reused if running, else started here and stopped at the end."""
    settings = LocalStackSettings()
    stack.install(settings)
    started = asyncio.run(stack.up(settings, list(INFRA)))
    yield settings
    stack.down(settings, started)


@pytest.fixture
def unique() -> str:
    """A short unique name for this test's topics and database."""
    return f"t{uuid.uuid4().hex[:10]}"


@pytest.fixture
async def kafka(local_stack: LocalStackSettings, unique: str) -> AsyncIterator[KafkaSettings]:
    """Kafka settings with this test's own topics (all contract topics, 3 partitions each), deleted afterwards."""
    settings = KafkaSettings(bootstrap_servers=local_stack.bootstrap, topic_prefix=f"{unique}.", partitions=3)
    await create_topics(settings)
    yield settings
    # Every partition holds open files on the broker; a session's worth of them exhausts its limit.
    await delete_prefixed_topics(settings)


@pytest.fixture
async def mongo(local_stack: LocalStackSettings, unique: str) -> AsyncIterator[MongoSettings]:
    """This test's own database, dropped afterwards."""
    from pymongo import AsyncMongoClient

    settings = MongoSettings(url=local_stack.mongodb_url, database=unique)  # type: ignore[arg-type]
    yield settings
    client: AsyncMongoClient[dict[str, object]] = AsyncMongoClient(local_stack.mongodb_url)
    await client.drop_database(unique)
    await client.close()


@pytest.fixture
def artifacts() -> Path:
    """Where tests keep what a person may want to look at afterwards (screenshots, mails)."""
    ARTIFACTS.mkdir(exist_ok=True)
    return ARTIFACTS
