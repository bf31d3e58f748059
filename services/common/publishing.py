"""Candidate-keyed publications in waves: on the candidate's partition, acknowledged together.

Every service answers an input batch with a wave of records keyed by candidate (dispatch commands, states,
replies, accepted events). Each goes to the partition the project's rule gives the candidate (not the
client's partitioner), is sent without waiting for the one before, and `flush` returns once the broker
acknowledged all of them; a consumer commits its input only after that, so a crash loses nothing.
"""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Awaitable, Mapping
from typing import Any

from faststream.kafka import KafkaBroker

from services.common.kafka import Partitioner
from services.common.settings import KafkaSettings

CLOUDEVENTS_JSON = "application/cloudevents+json"


class CandidateWave:
    """A group of candidate-keyed publications; `flush` waits until the broker acknowledged all of them."""

    def __init__(self, broker: KafkaBroker, kafka: KafkaSettings, partitioner: Partitioner) -> None:
        self._broker = broker
        self._kafka = kafka
        self._partitioner = partitioner
        self._pending: list[Awaitable[Any]] = []

    async def send(
        self,
        body: bytes,
        topic: str,
        candidate_id: str,
        correlation_id: str,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        """Send one record to a contract topic (prefix applied) on the candidate's partition."""
        sent = await self._broker.publish(
            body,
            self._kafka.topic(topic),
            key=candidate_id.encode(),
            partition=self._partitioner.of(candidate_id),
            correlation_id=correlation_id,
            headers={"content-type": CLOUDEVENTS_JSON, **(headers or {})},
            no_confirm=True,
        )
        if inspect.isawaitable(sent):  # the broker's acknowledgement (FastStream's in-memory test broker has none)
            self._pending.append(sent)

    async def flush(self) -> None:
        """Wait for the broker's acknowledgement of everything in this wave."""
        pending, self._pending = self._pending, []
        if pending:
            await asyncio.gather(*pending)
