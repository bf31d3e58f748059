"""Fixtures of the connector tests: the ATS emulators on a real socket, the service in-process."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager
from typing import Any

import httpx
import pytest

from deploy.local.ats_emulators import EmulatorState
from deploy.local.ats_emulators import create_app as emulators_app
from services.common.settings import KafkaSettings, MongoSettings
from services.connectors.app import create_app
from services.connectors.settings import Connection, ConnectorSettings
from tests.notifier.provider_doubles import serving
from tests.support import running

ConnectorFactory = Callable[..., AbstractAsyncContextManager[httpx.AsyncClient]]
SECRETS = {"greenhouse": "gh-secret-for-tests", "recruitee": "rt-secret-for-tests"}


@pytest.fixture
async def ats_api() -> AsyncIterator[tuple[str, EmulatorState]]:
    """The ATS emulators over HTTP on a free port: (base URL, their state)."""
    state = EmulatorState()
    async with serving(emulators_app(state)) as url:
        yield url, state


def connections(api_url: str, **stages: dict[str, str]) -> dict[str, Connection]:
    """Greenhouse and Recruitee connections on the emulators, with extra stage maps per connection."""
    return {
        "greenhouse": Connection.model_validate(
            {
                "secret": SECRETS["greenhouse"],
                "api_url": f"{api_url}/greenhouse",
                "api_key": "dev-greenhouse-key",
                "options": {"on_behalf_of": "4080"},
                "stages": stages.get("greenhouse", {}),
            }
        ),
        "recruitee": Connection.model_validate(
            {
                "secret": SECRETS["recruitee"],
                "api_url": f"{api_url}/recruitee",
                "api_key": "dev-recruitee-key",
                "options": {"company_id": "54123"},
                "stages": stages.get("recruitee", {"Gesprek": "interview_scheduling"}),
            }
        ),
    }


@pytest.fixture
def connector(kafka: KafkaSettings, mongo: MongoSettings, unique: str) -> ConnectorFactory:
    """Start the connector service with these settings overrides (its own group, topics and database)."""

    def start(**overrides: Any) -> AbstractAsyncContextManager[httpx.AsyncClient]:
        settings = ConnectorSettings(
            kafka=kafka, mongo=mongo, group_id=f"{unique}.connectors", api_backoff_s=0.01, **overrides
        )
        return running(create_app(settings))

    return start
