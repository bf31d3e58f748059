"""Composition root of the router: create_app(settings) wires view, policy, store, scheduler, broker."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from prometheus_client import CollectorRegistry

from schemas.common import Channel
from schemas.envelope import utcnow
from schemas.topics import ATS_ACCEPTED, NOTIFICATIONS_STATUS, PREFERENCES_CHANGED, dispatch_topic
from services.common.guard import InputGuard
from services.common.http import Readiness, mount_probes
from services.common.kafka import DeadLetters, Partitioner, make_broker
from services.common.lag import watch_lag
from services.common.mongo import make_client, ping
from services.common.runtime import cancel, every, shut_down
from services.common.view import Erased, ViewReader
from services.common.viewing import (
    ViewSupervisor,
    preferences_topic,
    propagation_observer,
    view_consumer,
    view_dead_letters,
)
from services.router.admission import Admission
from services.router.dispatch_log import DispatchLog
from services.router.handlers import register_handlers
from services.router.metrics import RouterMetrics
from services.router.outputs import Outputs
from services.router.prefs import RoutingPrefs, compact
from services.router.scheduler import Scheduler
from services.router.service import Clock, RouterService
from services.router.settings import RouterSettings
from services.router.store import MongoRouterStore

log = logging.getLogger(__name__)
CO_PARTITIONED = (ATS_ACCEPTED, NOTIFICATIONS_STATUS, PREFERENCES_CHANGED, *(dispatch_topic(c) for c in Channel))


class ViewHandle:
    """The router's preference view, for parts wired before the reader exists (it starts in the lifespan)."""

    def __init__(self, holder: dict[str, ViewReader[RoutingPrefs]]) -> None:
        self._holder = holder

    def get(self, candidate_id: str) -> RoutingPrefs | None:
        """A candidate's preferences (None when unknown, erased, or not on this instance's partitions)."""
        return self._holder["reader"].view.get(candidate_id)

    def state(self, candidate_id: str) -> RoutingPrefs | Erased | None:
        """Preferences, an erasure marker, or None."""
        return self._holder["reader"].view.state(candidate_id)

    async def read_to_end(self, candidate_ids: set[str], timeout_s: float) -> bool:
        """Wait until the view has read these candidates' partitions to their current end; False on timeout."""
        reader = self._holder["reader"]
        return await reader.wait_caught_up({reader.view.partition_of(c) for c in candidate_ids}, timeout_s)


def create_app(settings: RouterSettings, clock: Clock = utcnow) -> FastAPI:
    """Build the router service."""
    registry = CollectorRegistry()
    metrics = RouterMetrics(registry)
    readiness = Readiness("kafka", "mongodb", "view")
    # The services' own transient failures (ViewBehindError, SnapshotMissingError) are TransientErrors.
    guard = InputGuard(settings.poison_attempts, registry=registry)
    readiness.probe(guard.problems)
    view_supervisor = ViewSupervisor(registry, readiness, "router")
    broker = make_broker(settings.kafka, registry, "router")
    client = make_client(settings.mongo, "router", registry)
    store = MongoRouterStore(client, settings.mongo.database, settings.timer_backstop_s)
    cfg = settings.routing()
    holder: dict[str, ViewReader[RoutingPrefs]] = {}
    view = ViewHandle(holder)
    partitioner = Partitioner()  # loaded at start from the topics' metadata
    outputs = Outputs(broker, settings.kafka, partitioner)
    admission = Admission(view, settings.snapshot_wait_s)
    commands = DispatchLog(settings.kafka)
    service = RouterService(store, outputs, view.get, admission, cfg, clock, metrics, commands)
    prefs = view.get
    scheduler = Scheduler(service, store, outputs, prefs, lambda: holder["reader"].assigned, cfg, clock, metrics)

    async def on_assigned(partitions: set[int]) -> None:
        readiness.set("view", False)
        reader = holder["reader"]
        await reader.assign(partitions)
        await scheduler.load_pending()
        metrics.view_candidates.set(len(reader.view))
        metrics.view_rebuild_seconds.set(reader.last_rebuild_s)
        readiness.set("view", True)
        log.info(
            "partitions assigned; view rebuilt",
            extra={
                "partitions": sorted(partitions),
                "candidates": len(reader.view),
                "rebuild_s": round(reader.last_rebuild_s, 3),
            },
        )

    register_handlers(
        broker,
        settings,
        service,
        DeadLetters(broker, settings.group_id, metrics.dead_letter, guard),
        on_assigned,
        lambda: holder["reader"].assigned,
    )

    async def watch() -> None:
        readiness.set("mongodb", await ping(client))
        metrics.view_candidates.set(len(holder["reader"].view))

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        await store.ensure_indexes()
        readiness.set("mongodb")
        await partitioner.load(settings.kafka, CO_PARTITIONED)
        consumer = view_consumer(settings.kafka, "router-view")
        await consumer.start()
        holder["reader"] = ViewReader(
            consumer,
            preferences_topic(settings.kafka),
            compact,
            on_change=scheduler.preference_changed,
            on_live_snapshot=propagation_observer(metrics.propagation, "router"),
            dead_letter=view_dead_letters(
                broker, settings.kafka, f"{settings.group_id}.view", metrics.dead_letter
            ).send,
        )
        await commands.start()
        await broker.start()
        readiness.set("kafka")
        tasks = [
            asyncio.create_task(view_supervisor.run(holder["reader"])),
            asyncio.create_task(every(settings.scheduler_interval_s, scheduler.tick, "scheduler")),
            asyncio.create_task(scheduler.run_redecisions()),
            asyncio.create_task(every(5.0, watch, "watch")),
            asyncio.create_task(
                watch_lag(settings.kafka, broker, registry, readiness=readiness, stall_after_s=settings.stall_after_s)
            ),
        ]
        try:
            yield
        finally:
            await shut_down(
                [
                    ("background tasks", lambda: cancel(*tasks)),
                    ("consumers", broker.stop),
                    ("view consumer", consumer.stop),
                    ("dispatch log consumer", commands.stop),
                    ("database client", client.close),
                ]
            )

    app = FastAPI(title="Router", version="1", lifespan=lifespan)
    app.state.service = service
    app.state.scheduler = scheduler
    app.state.holder = holder
    mount_probes(app, readiness, registry)
    return app
