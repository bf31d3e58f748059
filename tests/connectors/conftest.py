"""Fixtures of the connector tests: the service in-process against the test's own topics and database."""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from typing import Any

import httpx
import pytest

from services.common.settings import KafkaSettings, MongoSettings
from services.connectors.app import create_app
from services.connectors.settings import ConnectorSettings
from tests.support import running

ConnectorFactory = Callable[..., AbstractAsyncContextManager[httpx.AsyncClient]]


@pytest.fixture
def connector(kafka: KafkaSettings, mongo: MongoSettings, unique: str) -> ConnectorFactory:
    """Start the connector service with these settings overrides (its own group, topics and database)."""

    def start(**overrides: Any) -> AbstractAsyncContextManager[httpx.AsyncClient]:
        settings = ConnectorSettings(
            kafka=kafka, mongo=mongo, group_id=f"{unique}.connectors", api_backoff_s=0.01, **overrides
        )
        return _running(settings)

    return start


def _running(settings: ConnectorSettings) -> AbstractAsyncContextManager[httpx.AsyncClient]:
    return running(create_app(settings))
