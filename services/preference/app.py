"""Composition root of the preference service: create_app(settings) wires everything."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta

from fastapi import FastAPI
from prometheus_client import CollectorRegistry

from schemas.candidate_events import CandidateEvent
from schemas.envelope import utcnow
from schemas.topics import ATS_ACCEPTED, CANDIDATE_EVENTS, PREFERENCES_CHANGED
from services.common.failpoints import CrashPoints
from services.common.guard import InputGuard
from services.common.http import BodyLimit, Readiness, mount_probes
from services.common.kafka import DeadLetters, Partitioner, make_broker
from services.common.lag import watch_lag
from services.common.mongo import make_client, ping
from services.common.publishing import CandidateWave
from services.common.ratelimit import RateLimit, Rule
from services.common.runtime import cancel, every, shut_down
from services.preference.api import api_routes
from services.preference.erasure_notices import ErasureNotices, MongoNoticeOutbox, notices_on_topic
from services.preference.forwarding import Forwarder
from services.preference.handlers import register_handlers
from services.preference.metrics import PreferenceMetrics
from services.preference.pages import page_routes
from services.preference.publisher import KafkaSnapshotPublisher, published_versions
from services.preference.reactions import Reactions
from services.preference.service import Clock, PreferenceService
from services.preference.settings import PreferenceSettings
from services.preference.store import MongoPreferenceStore
from services.preference.verification_store import MongoVerificationStore


def create_app(settings: PreferenceSettings, clock: Clock = utcnow) -> FastAPI:
    """Build the preference service: broker, store, publisher, handlers, API, probes."""
    registry = CollectorRegistry()
    metrics = PreferenceMetrics(registry)
    readiness = Readiness("kafka", "mongodb")
    guard = InputGuard(settings.poison_attempts, registry=registry)
    readiness.probe(guard.problems)
    broker = make_broker(settings.kafka, registry, "preference")
    client = make_client(settings.mongo, "preference", registry)
    store = MongoPreferenceStore(client, settings.mongo.database)
    partitioner = Partitioner()  # loaded at start from the topics' metadata
    publisher = KafkaSnapshotPublisher(settings.kafka, partitioner)

    async def publish_candidate_event(event: CandidateEvent) -> None:
        wave = CandidateWave(broker, settings.kafka, partitioner)
        await wave.send(event.model_dump_json().encode(), CANDIDATE_EVENTS, event.subject, event.id)
        await wave.flush()

    service = PreferenceService(
        store,
        publisher,
        metrics,
        clock,
        settings.suppression_secret.get_secret_value().encode(),
        CrashPoints(settings.crash_at),
        notify=publish_candidate_event,
    )

    outbox = MongoNoticeOutbox(client[settings.mongo.database])
    notices = ErasureNotices(
        service,
        outbox,
        notices_on_topic(settings.kafka, partitioner),
        CrashPoints(settings.crash_at),
        timedelta(seconds=settings.notice_lease_s),
    )
    reactions = Reactions(service, publish_candidate_event, metrics, clock)
    dead_letters = DeadLetters(broker, settings.group_id, metrics.dead_letter, guard)
    forwarder = Forwarder(broker, settings.kafka, partitioner)
    register_handlers(broker, settings, service, reactions, dead_letters, forwarder)

    async def retention() -> None:
        await service.retention_once(timedelta(days=settings.retention_days), timedelta(days=settings.talent_pool_days))

    async def watch_mongo() -> None:
        readiness.set("mongodb", await ping(client))

    grace = timedelta(seconds=settings.outbox_grace_s)  # the relays leave what an inline send is still doing

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        await store.ensure_indexes()
        readiness.set("mongodb")
        await partitioner.load(settings.kafka, (PREFERENCES_CHANGED, ATS_ACCEPTED, CANDIDATE_EVENTS))
        # What a crash left unpublished (stored above the topic's version) goes out through the relay.
        await store.load_unconfirmed(await published_versions(settings.kafka, partitioner.count))
        await publisher.start()
        await broker.start()
        readiness.set("kafka")
        tasks = [
            asyncio.create_task(every(settings.outbox_interval_s, lambda: service.relay_once(grace), "outbox-relay")),
            asyncio.create_task(every(settings.outbox_interval_s, lambda: notices.relay_once(grace), "notice-relay")),
            asyncio.create_task(every(5.0, watch_mongo, "mongo-health")),
            asyncio.create_task(
                watch_lag(settings.kafka, broker, registry, readiness=readiness, stall_after_s=settings.stall_after_s)
            ),
            asyncio.create_task(every(settings.retention_interval_s, retention, "retention")),
        ]
        try:
            yield
        finally:
            await shut_down(
                [
                    ("background tasks", lambda: cancel(*tasks)),
                    ("consumers", broker.stop),
                    ("snapshot producer", publisher.stop),
                    ("database client", client.close),
                ]
            )

    app = FastAPI(title="Candidate preferences", version="1", lifespan=lifespan)
    app.state.service = service
    app.state.broker = broker
    app.add_middleware(BodyLimit, max_bytes=settings.max_body_bytes)
    pages = (("self-service", "/s/"), ("unsubscribe", "/u/"))
    limits = [Rule(name, path, settings.page_rate_per_minute, settings.link_rate_per_minute) for name, path in pages]
    app.add_middleware(RateLimit, rules=limits, registry=registry)  # outermost: refused before the body is read
    mount_probes(app, readiness, registry)
    app.include_router(api_routes(service, settings))
    verifications = MongoVerificationStore(client[settings.mongo.database])
    app.include_router(page_routes(service, settings, verifications, notices=notices))
    return app
