"""Shared pieces of the candidate-control browser tests: serving apps, Chromium, axe-core, keyboard-only input."""

from __future__ import annotations

import asyncio
import random
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import uvicorn
from fastapi import FastAPI
from playwright.async_api import Browser, Locator, Page, async_playwright

from schemas.envelope import utcnow
from services.common.settings import KafkaSettings
from tests.support import eventually, read_json

AXE = Path(__file__).with_name("node_modules") / "axe-core" / "axe.min.js"
CHROMIUM_ARGS = [
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
# Each flow runs once per language, the Dutch one on a phone and the English one on a desktop.
LAYOUTS = [("nl", {"width": 375, "height": 812}), ("en", {"width": 1366, "height": 900})]
LOCALES = {"nl": "nl-NL", "en": "en-GB"}
WCAG = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "wcag22aa"]
KEY = {"X-API-Key": "dev-only-api-key"}


class MovableClock:
    """The real clock plus an offset a test moves forward (to let a code expire without waiting)."""

    def __init__(self) -> None:
        self.offset = timedelta(0)

    def __call__(self) -> datetime:
        return utcnow() + self.offset


def mobile_number() -> str:
    """A Dutch mobile number nobody else uses in this run; its last four digits trigger no emulator failure."""
    return f"+3161{random.randint(100, 999)}5{random.randint(100, 999)}"  # 06-1 is an assigned mobile range


@asynccontextmanager
async def serving(app: FastAPI, lifespan: bool = False) -> AsyncIterator[str]:
    """Serve an app under uvicorn on a free port; yields its base URL.

    Without `lifespan` the app's lifespan already runs elsewhere (tests.stacks); with it, uvicorn runs it
    and the URL comes once /ready answers 200.
    """
    config = uvicorn.Config(app, host="127.0.0.1", port=0, log_config=None, lifespan="on" if lifespan else "off")
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())

    async def started() -> bool:
        if task.done():
            raise AssertionError(f"uvicorn stopped: {task.exception()!r}")
        return server.started

    try:
        await eventually(started, what="uvicorn to listen")
        base = f"http://127.0.0.1:{server.servers[0].sockets[0].getsockname()[1]}"
        if lifespan:
            await eventually(lambda: _ready(base), what="/ready")
        yield base
    finally:
        server.should_exit = True
        await task


async def _ready(base: str) -> bool:
    async with httpx.AsyncClient() as client:
        return (await client.get(f"{base}/ready")).status_code == 200


@asynccontextmanager
async def chromium() -> AsyncIterator[Browser]:
    """Debian's Chromium, headless, driven by Playwright."""
    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            await browser.close()


async def new_page(browser: Browser, lang: str, viewport: dict[str, int]) -> Page:
    """A page in its own context; the pages' CSP forbids scripts, so axe-core is injected with CSP bypassed."""
    context = await browser.new_context(viewport=viewport, locale=LOCALES[lang], bypass_csp=True, accept_downloads=True)
    return await context.new_page()


async def axe_serious(page: Page) -> list[dict[str, Any]]:
    """axe-core's WCAG 2.2 A/AA violations of serious or critical impact on the page as it stands."""
    assert AXE.exists(), f"{AXE} missing: run `npm ci --prefix tests/browser` (make setup does)"
    if not await page.evaluate("typeof window.axe !== 'undefined'"):
        await page.add_script_tag(path=str(AXE))
    found: list[dict[str, Any]] = await page.evaluate(
        """async (tags) => (await axe.run(document, {runOnly: {type: 'tag', values: tags}})).violations
            .map(v => ({id: v.id, impact: v.impact, help: v.help,
                        nodes: v.nodes.slice(0, 3).map(n => n.target.join(' '))}))""",
        WCAG,
    )
    return [v for v in found if v["impact"] in ("serious", "critical")]


async def check_page(page: Page, shots: Path, name: str) -> None:
    """Zero serious or critical axe violations, no sideways scrolling, and a full-page screenshot kept."""
    assert await axe_serious(page) == [], f"{name}: {await axe_serious(page)}"
    width = page.viewport_size["width"] if page.viewport_size else 0
    assert await page.evaluate("document.documentElement.scrollWidth") <= width, f"{name} scrolls sideways"
    await page.screenshot(path=str(shots / f"{name}.png"), full_page=True)


async def type_into(field: Locator, text: str) -> None:
    """Keyboard only: focus the field (as Tab would) and type."""
    await field.focus()
    await field.page.keyboard.type(text)


async def press_key(control: Locator, key: str) -> None:
    """Keyboard only: focus a control and press a key (Space ticks a box, Enter submits or follows)."""
    await control.focus()
    await control.page.keyboard.press(key)


async def sms_to(provider: str, number: str, n: int = 1) -> list[dict[str, Any]]:
    """The SMS the provider emulator took for a number, oldest first, once there are at least `n`."""

    async def found() -> list[dict[str, Any]] | None:
        async with httpx.AsyncClient() as client:
            rows = (await client.get(f"{provider}/_emulator/messages", params={"kind": "message"})).json()
        mine = [r for r in rows if r.get("to") == number]
        return mine if len(mine) >= n else None

    return await eventually(found, what=f"{n} SMS to {number} at the emulator")


async def latest_snapshot(kafka: KafkaSettings, cid: str, above: int) -> dict[str, Any] | None:
    """The newest snapshot of a candidate on preferences.changed above a version, or None."""
    values = [e for e in await read_json(kafka, "preferences.changed") if e and e.get("subject") == cid]
    newer = [e["data"] for e in values if e["data"]["version"] > above]
    return max(newer, key=lambda s: s["version"]) if newer else None
