"""Doubles for the provider tests: servers on free ports, an in-memory store and report sink, outgoing messages."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import uvicorn
from fastapi import FastAPI
from prometheus_client import CollectorRegistry
from starlette.types import ASGIApp

from deploy.local.provider_emulator import EmulatorConfig, create_app
from schemas.common import Channel, Stage
from schemas.dispatch import DeliverMessage, MessageContext
from schemas.inbound import InboundReply
from schemas.status import StatusChange
from services.notifier.callbacks import callback_routes
from services.notifier.channels.base import Outgoing
from services.notifier.channels.voice import VoiceAdapter
from services.notifier.metrics import NotifierMetrics
from services.notifier.rendering import Rendered
from services.notifier.settings import NotifierSettings
from services.notifier.store import SendRecord
from tests.support import eventually

NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)


@asynccontextmanager
async def serving(app: ASGIApp) -> AsyncIterator[str]:
    """Serve an ASGI app with uvicorn on a free port of 127.0.0.1; yields its base URL."""
    config = uvicorn.Config(
        app, host="127.0.0.1", port=0, log_level="warning", lifespan="on", timeout_graceful_shutdown=2
    )
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())

    async def up() -> bool:
        if task.done():
            task.result()
        return server.started

    await eventually(up, timeout=10, interval=0.01, what="uvicorn to start")
    port = server.servers[0].sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await task


@asynccontextmanager
async def emulator(directory: Path, **options: Any) -> AsyncIterator[tuple[str, Any]]:
    """The provider emulator on a free port; yields (base URL, its Emulator state)."""
    app = create_app(EmulatorConfig(directory, **{"step_s": 0.01, "hang_s": 5.0, **options}))
    async with serving(app) as url:
        yield url, app.state.emulator


def settings(provider_url: str, public_url: str = "http://127.0.0.1:9", **overrides: Any) -> NotifierSettings:
    """Notifier settings pointing at the emulator, with short timeouts."""
    options = {"provider_timeout_s": 0.5, "callback_match_wait_s": 2.0, **overrides}
    return NotifierSettings(provider_base_url=provider_url, public_url=public_url, **options)


def outgoing(
    channel: Channel,
    to: str,
    *,
    short: str = "Hoi Sanne, je gesprek is dinsdag om 10:00.",
    speech: str = "Hallo Sanne. Je gesprek is dinsdag om tien uur.",
    voicemail: bool = True,
    template: str = "interview_invite",
    language: str = "nl",
    notification_id: str = "n-1",
    candidate_id: str = "cand-1",
    **context: Any,
) -> Outgoing:
    """A rendered message ready for an adapter."""
    ctx = MessageContext(candidate_name="Sanne de Vries", job_title="Data engineer", **context)
    msg = DeliverMessage(
        notification_id=notification_id,
        ats_event_id="ats-1",
        candidate_id=candidate_id,
        application_id="app-1",
        channel=channel,
        stage=Stage.INTERVIEW_SCHEDULING,
        template=template,
        language=language,
        voicemail=voicemail,
        context=ctx,
        reasons=("candidate prefers this channel",),
        event_time=NOW,
        decided_at=NOW,
        preference_version=3,
    )
    rendered = Rendered(
        template=template,
        version=1,
        language=language,
        subject="Je gesprek",
        body="Hoi Sanne,\n\nJe gesprek is dinsdag.",
        short=short,
        speech=speech,
    )
    return Outgoing(
        msg=msg,
        to=to,
        rendered=rendered,
        link="https://pref.example.org/s/tok",
        unsubscribe_url="https://pref.example.org/u/tok?channel=sms",
    )


class FakeStore:
    """The part of NotifierStore the adapters and callbacks use, in memory."""

    def __init__(self) -> None:
        self.sends: dict[str, SendRecord] = {}
        self.entries: dict[str, dict[str, Any]] = {}
        self.work: dict[str, dict[str, Any]] = {}
        self.inbound: dict[tuple[str, str], datetime] = {}

    def sent(self, out: Outgoing, provider: str, ref: str | None, at: datetime = NOW) -> None:
        """Record a send and its timeline entry (with its `sent` state, as the timeline shows it) at `at`."""
        m = out.msg
        self.sends[m.notification_id] = SendRecord(
            m.notification_id,
            "sent",
            m.channel.value,
            m.candidate_id,
            provider,
            ref,
            ats_event_id=m.ats_event_id,
            application_id=m.application_id,
            stage=m.stage.value,
            attempt=m.attempt,
        )
        self.entries[m.notification_id] = {
            "_id": m.notification_id,
            "candidate_id": m.candidate_id,
            "application_id": m.application_id,
            "ats_event_id": m.ats_event_id,
            "channel": m.channel.value,
            "stage": m.stage.value,
            "attempt": m.attempt,
            "status": "sent",
            "history": [{"status": "sent", "at": at, "reason": "", "provider": provider}],
            "created_at": at,
        }

    async def send_by_ref(self, provider_ref: str) -> SendRecord | None:
        return next((r for r in self.sends.values() if r.provider_ref == provider_ref), None)

    async def send_of(self, notification_id: str) -> SendRecord | None:
        return self.sends.get(notification_id)

    async def timeline(self, candidate_id: str, application_id: str | None = None) -> list[dict[str, Any]]:
        return [e for e in self.entries.values() if e["candidate_id"] == candidate_id]

    async def add_work(self, items: Sequence[dict[str, Any]]) -> None:
        for item in items:
            self.work.setdefault(item["_id"], item)

    async def record_inbound(self, candidate_id: str, channel: str, at: datetime) -> None:
        key = (candidate_id, channel)
        self.inbound[key] = max(at, self.inbound.get(key, at))

    async def last_inbound(self, candidate_id: str, channel: str) -> datetime | None:
        return self.inbound.get((candidate_id, channel))


class FakeReports:
    """Collects what the callbacks publish."""

    def __init__(self) -> None:
        self.changes: list[StatusChange] = []
        self.refs: dict[str, str | None] = {}  # notification id -> the dispatch ref its failure named
        self.replies: list[tuple[InboundReply, str]] = []

    def wave(self) -> FakeReports:
        return self

    async def change(self, change: StatusChange, dispatch_ref: str | None = None) -> None:
        self.changes.append(change)
        self.refs[change.notification_id] = dispatch_ref

    async def reply(self, reply: InboundReply, event_id: str) -> None:
        self.replies.append((reply, event_id))

    async def flush(self) -> None:
        return None


class Phones:
    """A number -> candidates lookup for inbound messages."""

    def __init__(self, known: dict[str, str]) -> None:
        self.known = known

    async def __call__(self, number: str, channel: Channel) -> tuple[str, ...]:
        return (self.known[number],) if number in self.known else ()


def callback_app(
    s: NotifierSettings,
    store: FakeStore,
    reports: FakeReports,
    phones: dict[str, str] | None = None,
    voice: VoiceAdapter | None = None,
) -> tuple[FastAPI, NotifierMetrics]:
    """The notifier's callback routes alone, on fakes."""
    metrics = NotifierMetrics(CollectorRegistry())
    voice = voice or VoiceAdapter(s, store.add_work, lambda: NOW)
    app = FastAPI()
    app.include_router(
        callback_routes(
            s,
            store,
            reports,
            metrics,
            Phones(phones or {}),  # type: ignore[arg-type]
            voice.hang_up,
            lambda: NOW,
        )
    )
    return app, metrics


def counter(metrics: NotifierMetrics, name: str, **labels: str) -> float:
    """Current value of one of the notifier's counters."""
    return getattr(metrics, name).labels(**labels)._value.get()  # type: ignore[no-any-return]
