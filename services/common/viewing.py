"""Wiring a ViewReader into a service: the consumer, its dead letters, the supervised loop, readiness."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from aiokafka import AIOKafkaConsumer
from faststream.kafka import KafkaBroker
from prometheus_client import CollectorRegistry, Counter, Histogram

from schemas.preferences import PreferenceSnapshot
from schemas.topics import PREFERENCES_CHANGED
from services.common.failures import PROCESSING_FAILED, failure_reason
from services.common.http import Readiness
from services.common.kafka import DeadLetters, aiokafka_kwargs
from services.common.runtime import stop_if_cancelled
from services.common.settings import KafkaSettings
from services.common.snapshots import SNAPSHOT_KINDS
from services.common.view import ViewReader

log = logging.getLogger(__name__)


def view_consumer(kafka: KafkaSettings, client_id: str) -> AIOKafkaConsumer:
    """A consumer for directly assigned, never committed reads of preferences.changed."""
    return AIOKafkaConsumer(
        **aiokafka_kwargs(kafka),
        group_id=None,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        client_id=client_id,
        fetch_max_wait_ms=100,
        max_partition_fetch_bytes=4 * 1024 * 1024,
    )


def offsets_consumer(kafka: KafkaSettings, client_id: str) -> AIOKafkaConsumer:
    """A consumer that only asks for end offsets, on a connection of its own (see ViewReader)."""
    return AIOKafkaConsumer(**aiokafka_kwargs(kafka), group_id=None, enable_auto_commit=False, client_id=client_id)


def preferences_topic(kafka: KafkaSettings) -> str:
    """Physical name of preferences.changed."""
    return kafka.topic(PREFERENCES_CHANGED)


def propagation_observer(histogram: Histogram, service: str) -> Callable[[PreferenceSnapshot], None]:
    """Observe stored -> applied latency of live snapshots."""
    child = histogram.labels(service=service)

    def observe(snapshot: PreferenceSnapshot) -> None:
        child.observe(max(0.0, (datetime.now(UTC) - snapshot.updated_at).total_seconds()))

    return observe


def view_dead_letters(broker: KafkaBroker, kafka: KafkaSettings, consumer: str, on_dead_letter: Any) -> DeadLetters:
    """Dead letters of a view reader (`consumer` names it in the headers); their counters start at zero."""
    dead_letters = DeadLetters(broker, consumer, on_dead_letter)
    dead_letters.expect([preferences_topic(kafka)], (*SNAPSHOT_KINDS, PROCESSING_FAILED))
    return dead_letters


class ViewSupervisor:
    """Runs a ViewReader for ever, restarting it when run() fails.

    A failed run() is resumed from the last offsets it applied after a backoff, and counted; the
    readiness condition "view" is unmet from the failure until the reader has caught up again.
    """

    def __init__(
        self,
        registry: CollectorRegistry,
        readiness: Readiness,
        service: str,
        backoff_s: float = 0.5,
        backoff_max_s: float = 30.0,
    ) -> None:
        self.restarts = Counter(
            "preference_view_restarts_total",
            "Times the preference view reader failed and was restarted.",
            ["service"],
            registry=registry,
        ).labels(service=service)
        self._backoff_s = backoff_s
        self._backoff_max_s = backoff_max_s
        self._problem: str | None = None
        readiness.probe(lambda: {"view": self._problem} if self._problem else {})

    async def run(self, reader: ViewReader[Any]) -> None:
        """Tail the view until cancelled, restarting the reader after each failure."""
        failures = 0
        while True:
            stop_if_cancelled()
            catching_up: asyncio.Task[None] | None = None
            try:
                if self._problem:
                    await reader.resume()
                    catching_up = asyncio.create_task(self._ready_when_caught_up(reader))
                await reader.run()
            except Exception as exc:
                failures = 0 if self._problem is None else failures
                failures += 1
                self.restarts.inc()
                self._problem = f"view reader restarting after {failure_reason(exc)}"
                log.exception("preference view reader failed; restarting it", extra={"failures": failures})
                await asyncio.sleep(min(self._backoff_max_s, self._backoff_s * 2.0 ** min(failures - 1, 30)))
            finally:
                if catching_up is not None:
                    catching_up.cancel()
                    with contextlib.suppress(asyncio.CancelledError):
                        await catching_up

    async def _ready_when_caught_up(self, reader: ViewReader[Any]) -> None:
        """Clear the problem once the view has applied everything written before it came back."""
        while True:
            stop_if_cancelled()
            try:
                if await reader.wait_caught_up(reader.assigned, timeout_s=5.0):
                    self._problem = None
                    log.info("preference view reader caught up again")
                    return
            except Exception:
                log.exception("checking whether the view caught up failed; trying again")
                await asyncio.sleep(1.0)
