"""The recruiter pages in Debian's headless Chromium at desktop width, against the real broker and database.

The three services run in-process (tests.stacks); the notifier's app is also served by uvicorn so the
browser can reach it. A recruiter logs in with the API key, marks a worklist item handled with its
button, and reads a candidate's timeline with the message's status history and content.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
from playwright.async_api import expect

from schemas.topics import ATS_EVENTS
from services.common.settings import KafkaSettings, MongoSettings
from tests.browser.kit import chromium, serving
from tests.stacks import services_running
from tests.support import ats_event, eventually, produce

KEY = {"X-API-Key": "dev-only-api-key"}
DESKTOP = {"width": 1366, "height": 900}


async def _invite_sent(client: httpx.AsyncClient, cid: str) -> bool:
    r = await client.get(f"/v1/candidates/{cid}/timeline", headers=KEY)
    invites = [n for n in r.json()["notifications"] if n["stage"] == "interview_scheduling"] if r.is_success else []
    return bool(invites and invites[0]["template"] and invites[0]["status"] in ("sent", "delivered"))


async def _open_item(client: httpx.AsyncClient, cid: str) -> dict[str, Any] | None:
    items = (await client.get("/v1/worklist", params={"kind": "needs_recruiter"}, headers=KEY)).json()["items"]
    return next((i for i in items if i["candidate_id"] == cid), None)


async def test_recruiter_marks_an_item_handled_and_reads_a_timeline(
    kafka: KafkaSettings, mongo: MongoSettings, tmp_path: Path, unique: str, artifacts: Path
) -> None:
    invited, unreachable = f"{unique}-invited", f"{unique}-unreachable"
    async with services_running(kafka, mongo, tmp_path, unique) as stack:
        await produce(
            kafka,
            ATS_EVENTS,
            [
                ats_event("ats.interview.scheduled", invited),
                ats_event("ats.stage.changed", unreachable, stage="screening", email=None),
            ],
        )
        await eventually(lambda: _invite_sent(stack.notifier, invited), what="the invitation on the timeline")
        item = await eventually(lambda: _open_item(stack.notifier, unreachable), what="the needs_recruiter item")
        app = stack.notifier._transport.app  # type: ignore[attr-defined]

        async with serving(app) as base, chromium() as browser:
            page = await browser.new_page(viewport=DESKTOP, locale="en-GB")
            await page.goto(f"{base}/recruiter/worklist")
            await expect(page.get_by_role("heading", name="Log in")).to_be_visible()
            await page.get_by_label("API key").fill("dev-only-api-key")
            await page.get_by_label("Your name").fill("Femke")
            await page.get_by_role("button", name="Log in").click()

            await expect(page.get_by_role("heading", name="Worklist", exact=True)).to_be_visible()
            card = page.get_by_role("article", name=f"Needs a recruiter: {unreachable}")
            await expect(card).to_contain_text("screening")
            assert await page.evaluate("document.documentElement.scrollWidth") <= DESKTOP["width"]
            await page.screenshot(path=str(artifacts / "recruiter-worklist.png"), full_page=True)
            await card.get_by_role("button", name="Mark handled").click()
            await expect(page.get_by_role("status")).to_contain_text("Marked handled")
            await expect(card).to_have_count(0)

            await page.get_by_label("Candidate id").fill(invited)
            await page.get_by_role("button", name="Open timeline").click()
            await expect(page.get_by_role("heading", name=f"Timeline of {invited}")).to_be_visible()
            message = page.get_by_role("article", name="interview scheduling by email")
            history = message.get_by_role("list").last
            await expect(history).to_contain_text("queued")
            await expect(history).to_contain_text("sent")
            await expect(message).to_contain_text("template interview_invite")
            body = message.get_by_text("We nodigen je graag uit")
            await expect(body).to_be_hidden()  # collapsed until asked for
            await message.get_by_text("Message as sent").click()
            await expect(body).to_be_visible()
            await page.screenshot(path=str(artifacts / "recruiter-timeline.png"), full_page=True)

        handled = (await stack.notifier.get("/v1/worklist?include_handled=true", headers=KEY)).json()["items"]
    [closed] = [i for i in handled if i["id"] == item["id"]]
    assert closed["handled_by"] == "Femke"
