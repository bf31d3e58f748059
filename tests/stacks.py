"""The three services in-process (one event loop) against the test's own topics and database."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx

from schemas.envelope import utcnow
from services.common.settings import KafkaSettings, MongoSettings
from services.notifier.app import create_app as notifier_app
from services.notifier.settings import NotifierSettings
from services.preference.app import create_app as preference_app
from services.preference.settings import PreferenceSettings
from services.router.app import create_app as router_app
from services.router.settings import RouterSettings
from tests.support import running, smtp_sink


@dataclass
class Running:
    """Clients of the running services and the sink's receipts."""

    preference: httpx.AsyncClient
    router: httpx.AsyncClient
    notifier: httpx.AsyncClient
    mails: Callable[[], list[dict[str, Any]]]
    settings: dict[str, Any]
    smtp_port: int


def service_settings(
    kafka: KafkaSettings, mongo: MongoSettings, unique: str, smtp_port: int, **overrides: Any
) -> dict[str, Any]:
    """Settings of the three services for one test (own groups, topics and database)."""
    common = {"kafka": kafka, "mongo": mongo}
    return {
        "preference": PreferenceSettings(  # its one-time codes by e-mail go to the same sink
            group_id=f"{unique}.preference", smtp_port=smtp_port, **common, **overrides.get("preference", {})
        ),
        "router": RouterSettings(
            group_id=f"{unique}.router", scheduler_interval_s=0.2, **common, **overrides.get("router", {})
        ),
        "notifier": NotifierSettings(
            group_prefix=f"{unique}.notifier",
            smtp_port=smtp_port,
            retry_base_s=0.05,
            **common,
            **overrides.get("notifier", {}),
        ),
    }


@asynccontextmanager
async def services_running(
    kafka: KafkaSettings,
    mongo: MongoSettings,
    tmp_path: Path,
    unique: str,
    clock: Callable[[], datetime] = utcnow,
    with_notifier: bool = True,
    **overrides: Any,
) -> AsyncIterator[Running]:
    """Start preference, router and notifier (in that order) with an SMTP sink; stop them afterwards.

    `with_notifier=False` leaves the notifier out (a test runs it as a separate process).
    """
    async with AsyncExitStack() as stack:
        port, mails = await stack.enter_async_context(smtp_sink(tmp_path / "mail"))
        s = service_settings(kafka, mongo, unique, port, **overrides)
        pref = await stack.enter_async_context(running(preference_app(s["preference"], clock)))
        router = await stack.enter_async_context(running(router_app(s["router"], clock)))
        notifier = router
        if with_notifier:
            notifier = await stack.enter_async_context(running(notifier_app(s["notifier"], clock)))
        yield Running(pref, router, notifier, mails, s, port)
