"""Composition root of the connector service: create_app(settings) wires adapters, API clients, store, broker.

POST /v1/events                  CloudEvents over HTTP (structured, batched, binary) -> ats.events; 202 after acks=all
POST /v1/webhooks/<connection>   an ATS's signed webhook -> ats.* events on ats.events (see intake.py)
consumer of notifications.status -> notes in the ATS (see writeback.py)
consumer of preferences.changed  -> a note when the candidate changed their preferences (preference_notes.py)
poller of Greenhouse's scheduled interviews -> ats.interview.* on ats.events (interview_poller.py)
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import asynccontextmanager
from datetime import datetime, timedelta

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from prometheus_client import CollectorRegistry

from schemas.envelope import EventDecoder, utcnow
from schemas.preferences import PREFERENCES_CHANGED_TYPE, PREFERENCES_EVENT_ADAPTER
from schemas.status import STATUS_ADAPTER, STATUS_HEADER, STATUS_TYPES
from schemas.topics import NOTIFICATIONS_STATUS, PREFERENCES_CHANGED
from services.common.consuming import subscribe_batch
from services.common.guard import InputGuard
from services.common.http import Readiness, mount_probes
from services.common.kafka import DeadLetters, header, make_broker
from services.common.lag import watch_lag
from services.common.mongo import make_client, ping
from services.common.runtime import cancel, every, shut_down
from services.connectors.adapters import Adapter
from services.connectors.api import AtsClient
from services.connectors.cloudevents import BindingError, read_events, validate
from services.connectors.intake import EventProducer, Intake
from services.connectors.interview_poller import InterviewPoller
from services.connectors.metrics import ConnectorMetrics
from services.connectors.parts import Parts
from services.connectors.preference_notes import PreferenceNotes, is_erasure
from services.connectors.registry import load_adapters
from services.connectors.settings import ConnectorSettings
from services.connectors.store import MongoConnectorStore
from services.connectors.writeback import NoteWriter, WriteBack

log = logging.getLogger(__name__)


class TooLarge(Exception):  # noqa: N818 - a condition, answered 413
    """The request body is over the limit."""


async def read_body(request: Request, limit: int) -> bytes:
    """The raw body, refused as soon as it passes `limit` bytes (declared or streamed)."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise TooLarge
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > limit:
            raise TooLarge
    return bytes(body)


def _counter(metrics: ConnectorMetrics, name: str) -> Callable[[str], None]:
    """Counts one connection's REST calls by outcome."""

    def count(outcome: str) -> None:
        metrics.api_calls.labels(name, outcome).inc()

    return count


def _clients(
    settings: ConnectorSettings, adapters: Mapping[str, Adapter], metrics: ConnectorMetrics
) -> dict[str, AtsClient]:
    """One REST client per connection; a connection without a secret or a known ATS stops the start."""
    clients = {}
    for name, conn in settings.connections.items():
        ats = settings.ats_of(name)
        if ats not in adapters:
            raise ValueError(f"connection {name!r}: unknown ATS {ats!r} (known: {sorted(adapters)})")
        if not conn.signed():
            raise ValueError(
                f"connection {name!r}: its webhook secret is not set (CONNECTORS_CONNECTIONS__{name.upper()}__SECRET"
                " or __SIGNATURE_TOKENS__<EVENT TYPE>)"
            )
        if left := conn.placeholders():
            variables = ", ".join(f"CONNECTORS_CONNECTIONS__{name.upper()}__{v}" for v in left)
            raise ValueError(f"connection {name!r}: a CHANGE-ME placeholder in {variables}; set the real value")
        clients[name] = AtsClient(
            adapters[ats],
            conn.api_url,
            conn.api_key.get_secret_value(),
            conn.options,
            timeout_s=settings.api_timeout_s,
            attempts=settings.api_attempts,
            backoff_s=settings.api_backoff_s,
            on_call=_counter(metrics, name),
        )
    return clients


def create_app(settings: ConnectorSettings, clock: Callable[[], datetime] = utcnow) -> FastAPI:
    """Build the connector service."""
    registry = CollectorRegistry()
    metrics = ConnectorMetrics(registry)
    metrics.expect(settings.connections)
    readiness = Readiness("kafka", "mongodb")
    guard = InputGuard(settings.poison_attempts, registry=registry)
    readiness.probe(guard.problems)
    adapters = load_adapters()
    clients = _clients(settings, adapters, metrics)
    broker = make_broker(settings.kafka, registry, "connectors")
    client = make_client(settings.mongo, "connectors")
    store = MongoConnectorStore(client, settings.mongo.database)
    producer = EventProducer(broker, settings.kafka)
    parts = Parts(settings, adapters, clients, store, metrics, clock)
    intake = Intake(parts, producer)
    poller = InterviewPoller(parts, producer)
    notes = NoteWriter(parts)
    writeback = WriteBack(notes, settings.note_states)
    wanted = frozenset(settings.note_states)
    subscribe_batch(
        broker,
        [settings.kafka.topic(NOTIFICATIONS_STATUS)],
        group_id=settings.group_id,
        decoder=EventDecoder(STATUS_ADAPTER, STATUS_TYPES, 256 * 1024),
        dead_letters=DeadLetters(broker, settings.group_id, metrics.dead_letter, guard),
        handle=writeback.on_statuses,
        session_timeout_ms=settings.kafka.session_timeout_ms,
        skip=lambda r: (state := header(r, STATUS_HEADER)) is not None and state not in wanted,
        gather_ms=settings.kafka.projection_fetch_wait_ms,
        title="connectors:on_statuses",
        description=writeback.on_statuses.__doc__,
    )
    # Its own group: the compacted topic is read from its beginning once, whatever the status notes' offsets.
    preferences_group = f"{settings.group_id}.preferences"
    preference_dead_letters = DeadLetters(broker, preferences_group, metrics.dead_letter, guard)
    preference_notes = PreferenceNotes(
        notes,
        preference_dead_letters,
        clock,
        sources=settings.preference_note_sources,
        max_age=timedelta(days=settings.preference_note_max_age_days),
    )
    subscribe_batch(
        broker,
        [settings.kafka.topic(PREFERENCES_CHANGED)],
        group_id=preferences_group,
        decoder=EventDecoder(PREFERENCES_EVENT_ADAPTER, frozenset({PREFERENCES_CHANGED_TYPE}), 256 * 1024),
        dead_letters=preference_dead_letters,
        handle=preference_notes.on_preferences,
        session_timeout_ms=settings.kafka.session_timeout_ms,
        skip=is_erasure,  # nothing to tell the ATS (its own data is the ATS's)
        gather_ms=settings.kafka.projection_fetch_wait_ms,
        title="connectors:on_preferences",
        description=preference_notes.on_preferences.__doc__,
    )

    async def watch() -> None:
        readiness.set("mongodb", await ping(client))

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        readiness.set("mongodb", await ping(client))
        await broker.start()
        readiness.set("kafka")
        tasks = [
            asyncio.create_task(every(5.0, watch, "watch")),
            asyncio.create_task(
                watch_lag(settings.kafka, broker, registry, readiness=readiness, stall_after_s=settings.stall_after_s)
            ),
        ]
        if settings.interview_poll_s > 0 and poller.connections:  # Greenhouse has no interview web hook
            tasks.append(asyncio.create_task(every(settings.interview_poll_s, poller.poll_all, "interview_poller")))
        try:
            yield
        finally:
            await shut_down(
                [
                    ("background tasks", lambda: cancel(*tasks)),
                    ("consumers", broker.stop),
                    *[(f"{name} API client", api.close) for name, api in clients.items()],
                    ("database client", client.close),
                ]
            )

    app = FastAPI(title="Connectors", version="1", lifespan=lifespan)

    @app.post("/v1/events", status_code=202)
    async def post_events(request: Request) -> JSONResponse:
        """CloudEvents over HTTP: 202 once all are on ats.events; 400 with field-level reasons, nothing produced."""
        started = time.monotonic()
        try:
            body = await read_body(request, settings.max_body_bytes)
            events = read_events({k.lower(): v for k, v in request.headers.items()}, body, settings.max_batch_events)
        except TooLarge:
            metrics.cloudevents.labels("invalid").inc()
            return JSONResponse({"error": "request body too large"}, status_code=413)
        except BindingError as exc:
            metrics.cloudevents.labels("invalid").inc()
            return JSONResponse({"error": exc.reason}, status_code=exc.status)
        problems = validate(events)
        if problems:
            metrics.cloudevents.labels("invalid").inc()
            errors = [{"index": p.index, "field": p.field, "message": p.message} for p in problems]
            return JSONResponse({"error": "invalid events; none was accepted", "errors": errors}, status_code=400)
        try:
            await producer.produce(events)
        except Exception:
            log.exception("events not produced")
            metrics.cloudevents.labels("failed").inc()
            return JSONResponse({"error": "the events could not be stored; retry"}, status_code=503)
        metrics.cloudevents.labels("accepted").inc()
        metrics.produced.labels("cloudevents").inc(len(events))
        metrics.intake_seconds.labels("cloudevents").observe(time.monotonic() - started)
        return JSONResponse({"accepted": [e["id"] for e in events]}, status_code=202)

    @app.post("/v1/webhooks/{connection}")
    async def post_webhook(connection: str, request: Request) -> JSONResponse:
        """An ATS's signed webhook (verified before it is parsed)."""
        started = time.monotonic()
        try:
            body = await read_body(request, settings.max_body_bytes)
        except TooLarge:
            known = connection if settings.connection(connection) else "unknown"
            answer = intake.reject(known, "too_large", 413)
        else:
            answer = await intake.webhook(connection, {k.lower(): v for k, v in request.headers.items()}, body)
        if answer.status == 202:
            metrics.intake_seconds.labels("webhook").observe(time.monotonic() - started)
        return JSONResponse(answer.body, status_code=answer.status)

    app.state.store = store
    app.state.metrics = metrics
    mount_probes(app, readiness, registry)
    return app
