"""Taking webhooks: verify, parse, dedupe, complete, map, validate, produce (acks=all), remember.

Every answer is an `Answer` (status and a small JSON body without personal data), chosen so the ATS does
the right thing: 2xx when there is nothing more to do (taken, duplicate, ping, an event type we do not map),
4xx for a delivery that will never be taken (bad signature, malformed), 422 for an unmapped stage and 503
when the ATS's API or our broker failed, so the ATS redelivers later and nothing is lost.
"""

from __future__ import annotations

import asyncio
import inspect
import json
import logging
from collections.abc import Awaitable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from faststream.kafka import KafkaBroker

from schemas.topics import ATS_EVENTS
from services.common.publishing import CLOUDEVENTS_JSON
from services.common.settings import KafkaSettings
from services.connectors.adapters import (
    Adapter,
    FetchFailed,
    KnownInterview,
    Occurrence,
    Ping,
    Rejected,
    SignsPerEventType,
    WebhookItem,
)
from services.connectors.cloudevents import validate
from services.connectors.mapping import UnmappedStage, candidate_id, to_cloudevent
from services.connectors.metrics import ConnectorMetrics
from services.connectors.parts import Parts, UsesParts
from services.connectors.store import ConnectorStore, ErrorRecord, Link

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Answer:
    """The HTTP answer to a webhook."""

    status: int
    body: dict[str, Any] = field(default_factory=dict)


class EventProducer:
    """Puts events on ats.events keyed by candidate and waits until the broker acknowledged all (acks=all)."""

    def __init__(self, broker: KafkaBroker, kafka: KafkaSettings) -> None:
        self._broker = broker
        self._kafka = kafka

    async def produce(self, events: Sequence[Mapping[str, Any]]) -> None:
        """Send every event without waiting for the one before; return once all are acknowledged."""
        pending: list[Awaitable[Any]] = []
        for event in events:
            sent = await self._broker.publish(
                json.dumps(event, separators=(",", ":")).encode(),
                self._kafka.topic(ATS_EVENTS),
                key=str(event["subject"]).encode(),
                correlation_id=str(event["id"]),
                headers={"content-type": CLOUDEVENTS_JSON},
                no_confirm=True,
            )
            if inspect.isawaitable(sent):
                pending.append(sent)
        await asyncio.gather(*pending)


class Intake(UsesParts):
    """The webhook side of the connector service."""

    def __init__(self, parts: Parts, producer: EventProducer) -> None:
        super().__init__(parts)
        self._producer = producer

    def reject(self, name: str, reason: str, status: int, detail: str = "") -> Answer:
        """Count and answer a refused delivery (`detail` names fields or stage names, never values)."""
        self._metrics.webhooks.labels(name, "rejected").inc()
        self._metrics.rejected.labels(name, reason).inc()
        log.warning("webhook rejected", extra={"connection": name, "reason": reason})
        return Answer(status, {"status": "rejected", "reason": reason, **({"detail": detail} if detail else {})})

    async def webhook(self, name: str, headers: Mapping[str, str], body: bytes) -> Answer:
        """Handle one delivery to /v1/webhooks/<name> (headers lower-case, the raw body)."""
        name = name.lower()  # connection names are case-insensitive (environment variables are upper case)
        conn = self._settings.connection(name)
        if conn is None or not conn.signed():
            return self.reject("unknown", "unknown_connection", 404)
        adapter = self._adapters[self._settings.ats_of(name)]
        now = self._clock()
        event_type = adapter.signed_event(body) if isinstance(adapter, SignsPerEventType) else None
        secret = conn.secret_for(event_type)
        if secret is None:  # a type without its own token and no fallback: nothing it could be checked against
            return self.reject(name, "no_signature_token", 401, (event_type or "")[:64])
        try:
            adapter.verify(headers, body, secret.get_secret_value(), now)  # before any parsing
            parsed = adapter.parse(headers, body)
        except Rejected as exc:
            if exc.reason == "unknown_event_type":  # 200: an ATS retries (and may disable the hook) on errors
                self._metrics.webhooks.labels(name, "ignored").inc()
                return Answer(200, {"status": "ignored", "reason": exc.reason})
            return self.reject(name, exc.reason, 401 if "signature" in exc.reason or exc.reason == "replayed" else 400)
        if isinstance(parsed, Ping):
            self._metrics.webhooks.labels(name, "ping").inc()
            return Answer(200, {"status": "ok", "detail": parsed.detail})
        return await self._take(name, adapter, [replace(i, occurred_at=i.occurred_at or now) for i in parsed])

    async def _take(self, name: str, adapter: Adapter, items: list[WebhookItem]) -> Answer:
        seen = await self._store.seen(name, [i.event_id for i in items])
        fresh = [i for i in items if i.event_id not in seen]
        if not fresh:
            self._metrics.webhooks.labels(name, "duplicate").inc()
            return Answer(200, {"status": "duplicate"})
        conn = self._settings.connections[name.lower()]
        fresh = await self._with_known_interviews(name, fresh)
        events: list[dict[str, Any]] = []
        links: list[Link] = []
        told: list[KnownInterview] = []
        for item in fresh:
            try:
                occurrences = await adapter.complete(item, self._apis[name.lower()])
                events += [to_cloudevent(name, conn, item.event_id, o, self._settings.source) for o in occurrences]
            except FetchFailed as exc:
                return await self._failed(name, "fetch_failed", exc.reason, item.event_id, 503)
            except UnmappedStage as exc:
                await self._failed(name, "unmapped_stage", str(exc), item.event_id, 422)
                return self.reject(name, "unmapped_stage", 422, str(exc))
            except Rejected as exc:
                return self.reject(name, exc.reason, 400)
            links += [Link(candidate_id(name, o.candidate.ats_id), name, o.note_target) for o in occurrences]
            told += [known_interview(name, o) for o in occurrences if o.interview is not None]
        problems = validate(events)
        if problems:
            reasons = "; ".join(f"{p.field}: {p.message}" for p in problems[:5])
            await self._failed(name, "invalid_event", reasons, fresh[0].event_id, 422)
            return self.reject(name, "invalid_event", 422, reasons)
        return await self._produce(name, fresh, events, links, told)

    async def _with_known_interviews(self, name: str, items: list[WebhookItem]) -> list[WebhookItem]:
        """Items that name an interview by id only get what the connector remembers of it."""
        refs = [i.interview_ref for i in items if i.interview_ref]
        if not refs:
            return items
        known = await self._store.known_interviews(name, refs)
        return [replace(i, known_interview=known.get(i.interview_ref or "")) for i in items]

    async def _produce(
        self,
        name: str,
        items: list[WebhookItem],
        events: list[dict[str, Any]],
        links: list[Link],
        told: list[KnownInterview],
    ) -> Answer:
        try:
            await self._store.link(links)  # first: a note can be written as soon as a status comes back
            await self._producer.produce(events)
            await self._store.remember_interviews(told)  # a later poll or deletion compares against these
        except Exception as exc:
            log.warning("webhook not taken; the ATS will redeliver", extra={"connection": name}, exc_info=exc)
            self._metrics.webhooks.labels(name, "failed").inc()
            return Answer(503, {"status": "unavailable"})
        await self._store.taken(name, [i.event_id for i in items], self._clock())
        self._metrics.webhooks.labels(name, "accepted").inc()
        self._metrics.produced.labels("webhook").inc(len(events))
        return Answer(202, {"status": "accepted", "events": [e["id"] for e in events]})

    async def _failed(self, name: str, kind: str, reason: str, ref: str, status: int) -> Answer:
        """Keep an error record for an operator and answer so the ATS redelivers."""
        await record_error(self._store, self._metrics, ErrorRecord(kind, name, reason, ref, self._clock()))
        if kind == "fetch_failed":
            self._metrics.webhooks.labels(name, "failed").inc()
        return Answer(status, {"status": "failed", "reason": kind})


def known_interview(name: str, occ: Occurrence) -> KnownInterview:
    """What to remember of an interview an occurrence tells the pipeline about."""
    assert occ.interview is not None
    cancelled = occ.type == "ats.interview.cancelled"
    return KnownInterview(name, occ.application_id, occ.candidate.ats_id, occ.interview, cancelled)


async def record_error(store: ConnectorStore, metrics: ConnectorMetrics, record: ErrorRecord) -> None:
    """Count, log and keep an error record for an operator (a store that fails too is logged, not raised)."""
    metrics.errors.labels(record.connection, record.kind).inc()
    where = {"connection": record.connection, "kind": record.kind}
    log.error("connector failure recorded", extra={**where, "reason": record.reason})
    try:
        await store.error(record)
    except Exception:
        log.exception("error record not stored", extra=where)
