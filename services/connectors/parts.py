"""What the connector's use cases share: configuration, ATS adapters and API clients, store, metrics, clock."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime

from services.connectors.adapters import Adapter, AtsApi
from services.connectors.metrics import ConnectorMetrics
from services.connectors.settings import ConnectorSettings
from services.connectors.store import ConnectorStore


@dataclass(frozen=True)
class Parts:
    """Built once in create_app and handed to each use case (webhook intake, interview poller, notes)."""

    settings: ConnectorSettings
    adapters: Mapping[str, Adapter]
    apis: Mapping[str, AtsApi]  # by connection name, lower case
    store: ConnectorStore
    metrics: ConnectorMetrics
    clock: Callable[[], datetime]


class UsesParts:
    """A use case with the shared parts as its own attributes."""

    def __init__(self, parts: Parts) -> None:
        self._settings = parts.settings
        self._adapters = parts.adapters
        self._apis = parts.apis
        self._store = parts.store
        self._metrics = parts.metrics
        self._clock = parts.clock
