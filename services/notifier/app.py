"""Composition root of the notifier: create_app(settings) wires view, adapters, deliveries, store, broker."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from prometheus_client import CollectorRegistry

from schemas.common import Channel
from schemas.envelope import utcnow
from schemas.topics import CANDIDATE_INBOUND, NOTIFICATIONS_STATUS, PREFERENCES_CHANGED
from services.common.failpoints import CrashPoints
from services.common.guard import InputGuard
from services.common.http import BodyLimit, Readiness, mount_probes
from services.common.kafka import DeadLetters, Partitioner, make_broker
from services.common.lag import watch_lag
from services.common.mongo import make_client, ping
from services.common.ratelimit import RateLimit, Rule
from services.common.runtime import cancel, every, shut_down, stop_if_cancelled
from services.common.view import Erased, ViewReader
from services.common.viewing import (
    ViewSupervisor,
    offsets_consumer,
    preferences_topic,
    propagation_observer,
    view_consumer,
    view_dead_letters,
)
from services.notifier.callbacks import PhoneBook, callback_routes
from services.notifier.channels.base import ChannelAdapter
from services.notifier.channels.email import EmailAdapter
from services.notifier.channels.portal import PortalAdapter
from services.notifier.channels.twilio import SmsAdapter, WhatsAppAdapter
from services.notifier.channels.voice import VoiceAdapter
from services.notifier.delivery import Clock, Delivery
from services.notifier.handlers import register_handlers
from services.notifier.inbound_smtp import InboundMail, start_inbound_smtp
from services.notifier.metrics import NotifierMetrics
from services.notifier.reach import Reach, reach_of
from services.notifier.recruiter import recruiter_api
from services.notifier.recruiter_pages import page_routes
from services.notifier.rendering import Renderer
from services.notifier.reports import Reports
from services.notifier.settings import NotifierSettings
from services.notifier.store import MongoNotifierStore


def create_app(settings: NotifierSettings, clock: Clock = utcnow) -> FastAPI:
    """Build the notifier service."""
    registry = CollectorRegistry()
    metrics = NotifierMetrics(registry)
    readiness = Readiness("kafka", "mongodb", "view")
    # The services' own transient failures (ViewBehindError, SnapshotMissingError) are TransientErrors.
    guard = InputGuard(settings.poison_attempts, registry=registry)
    readiness.probe(guard.problems)
    view_supervisor = ViewSupervisor(registry, readiness, "notifier")
    broker = make_broker(settings.kafka, registry, "notifier")
    client = make_client(settings.mongo, "notifier", registry)
    store = MongoNotifierStore(client, settings.mongo.database)
    partitioner = Partitioner()  # loaded at start from the topics' metadata
    reports = Reports(broker, settings.kafka, partitioner)
    renderer = Renderer()
    crash = CrashPoints(settings.crash_at)
    holder: dict[str, ViewReader[Reach]] = {}
    erasures: asyncio.Queue[str] = asyncio.Queue()

    def reach(candidate_id: str) -> Reach | None:
        """A candidate's view entry (None when unknown or erased)."""
        reader = holder.get("reader")
        return reader.view.get(candidate_id) if reader else None

    def erased(candidate_id: str) -> bool:
        """The view holds an erasure marker for the candidate."""
        reader = holder.get("reader")
        return reader is not None and isinstance(reader.view.state(candidate_id), Erased)

    async def barrier(candidate_ids: set[str]) -> bool:
        reader = holder["reader"]
        partitions = {reader.view.partition_of(cid) for cid in candidate_ids}
        return await reader.wait_caught_up(partitions, settings.consent_wait_s)

    inbound_mail = InboundMail(settings, store, reports, metrics, reach, clock)
    phonebook = PhoneBook()  # the preference view, also indexed by number for inbound messages
    voice = VoiceAdapter(settings, store.add_work, clock)
    adapters: dict[Channel, ChannelAdapter] = {
        Channel.EMAIL: EmailAdapter(settings),
        Channel.SMS: SmsAdapter(settings),
        Channel.WHATSAPP: WhatsAppAdapter(settings, store.last_inbound, clock),
        Channel.VOICE: voice,
        Channel.PORTAL: PortalAdapter(settings, clock),
    }
    deliveries = {
        ch: Delivery(settings, ch, ad, store, reach, barrier, renderer, reports, metrics, clock, crash)
        for ch, ad in adapters.items()
    }
    register_handlers(
        broker,
        settings,
        deliveries,
        store,
        DeadLetters(broker, settings.group_prefix, metrics.dead_letter, guard),
        clock,
        erased,
    )

    def on_change(partition: int, candidate_id: str, old: Reach | None, new: Reach | None) -> None:
        if new is None:
            erasures.put_nowait(candidate_id)

    async def erase_forgotten() -> None:
        while True:
            stop_if_cancelled()
            await store.erase(await erasures.get())

    async def watch() -> None:
        readiness.set("mongodb", await ping(client))

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        await store.ensure_indexes()
        readiness.set("mongodb")
        await partitioner.load(settings.kafka, (NOTIFICATIONS_STATUS, CANDIDATE_INBOUND, PREFERENCES_CHANGED))
        consumer = view_consumer(settings.kafka, "notifier-view")
        await consumer.start()
        offsets = offsets_consumer(settings.kafka, "notifier-barrier")
        await offsets.start()
        reader = ViewReader(
            consumer,
            preferences_topic(settings.kafka),
            reach_of,
            on_change=on_change,
            on_live_snapshot=propagation_observer(metrics.propagation, "notifier"),
            live_delay_s=settings.test_view_delay_s,
            offsets=offsets,
            dead_letter=view_dead_letters(
                broker, settings.kafka, f"{settings.group_prefix}.view", metrics.dead_letter
            ).send,
        )
        reader.view = phonebook
        holder["reader"] = reader
        await reader.assign(await reader.partitions())
        readiness.set("view")
        await broker.start()
        readiness.set("kafka")
        smtp_listener = await start_inbound_smtp(settings, inbound_mail)
        tasks = [
            asyncio.create_task(view_supervisor.run(reader)),
            asyncio.create_task(erase_forgotten()),
            asyncio.create_task(every(5.0, watch, "watch")),
            asyncio.create_task(
                watch_lag(settings.kafka, broker, registry, readiness=readiness, stall_after_s=settings.stall_after_s)
            ),
        ]
        try:
            yield
        finally:
            if smtp_listener is not None:
                smtp_listener.close()
            await shut_down(
                [
                    *([("bounce listener", smtp_listener.wait_closed)] if smtp_listener is not None else []),
                    ("background tasks", lambda: cancel(*tasks)),
                    ("consumers", broker.stop),
                    ("view consumer", consumer.stop),
                    ("barrier consumer", offsets.stop),
                    *[(f"{name} adapter", adapter.close) for name, adapter in adapters.items()],
                    ("database client", client.close),
                ]
            )

    app = FastAPI(title="Notifier", version="1", lifespan=lifespan)
    app.state.store = store
    app.state.deliveries = deliveries
    app.add_middleware(BodyLimit, max_bytes=settings.max_body_bytes)
    callbacks = Rule("callbacks", "/callbacks/", settings.callback_rate_per_minute)
    app.add_middleware(RateLimit, rules=[callbacks], registry=registry)
    mount_probes(app, readiness, registry)
    app.include_router(recruiter_api(settings, store, reach, clock))
    app.include_router(page_routes(settings, store, reach, clock))
    app.include_router(
        callback_routes(settings, store, reports, metrics, phonebook.candidates_for, voice.hang_up, clock)
    )
    return app
