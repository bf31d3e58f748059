"""The self-service page in Debian's headless Chromium at 375 px, against the real broker and database.

The preference service runs under a real uvicorn server in this event loop; a candidate is created by an
ATS event, opens their signed link, changes their choices and saves; the new snapshot, one version
higher, must then be on `preferences.changed`.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from playwright.async_api import expect

from schemas.preferences import PreferenceSnapshot
from schemas.topics import ATS_EVENTS, PREFERENCES_CHANGED
from services.common.links import sign
from services.common.settings import KafkaSettings, MongoSettings
from services.preference.app import create_app
from services.preference.service import UnknownCandidateError
from services.preference.settings import PreferenceSettings
from tests.browser.kit import chromium, serving
from tests.support import ats_event, eventually, produce, read_json

# What a candidate reads, written out here rather than taken from the page's own texts table.
WORDS = {
    "nl": {
        "locale": "nl-NL",
        "heading": "Hoe wil je dat we contact opnemen?",
        "first": "Eerste keuze",
        "channels": "Via welke kanalen mogen we je bereiken?",
        "scheduling_stage": "Gesprek inplannen",
        "sms_options": "Een sms met een paar tijden om uit te kiezen",
        "pause": "Pauze",
        "save": "Opslaan",
        "saved": "Opgeslagen",
    },
    "en": {
        "locale": "en-GB",
        "heading": "How would you like us to contact you?",
        "first": "First choice",
        "channels": "Which channels may we use?",
        "scheduling_stage": "Scheduling an interview",
        "sms_options": "A text message with a few times to choose from",
        "pause": "Pause",
        "save": "Save",
        "saved": "Saved",
    },
}


async def _profile(app: FastAPI, candidate_id: str) -> PreferenceSnapshot | None:
    try:
        return await app.state.service.get(candidate_id)  # type: ignore[no-any-return]
    except UnknownCandidateError:
        return None


async def _published(kafka: KafkaSettings, candidate_id: str, above: int) -> dict[str, Any] | None:
    snapshots = [e["data"] for e in await read_json(kafka, PREFERENCES_CHANGED) if e["subject"] == candidate_id]
    newer = [s for s in snapshots if s["version"] > above]
    return max(newer, key=lambda s: s["version"]) if newer else None


@pytest.mark.parametrize("lang", ["nl", "en"])
async def test_candidate_changes_their_choices_in_chromium(
    kafka: KafkaSettings, mongo: MongoSettings, unique: str, artifacts: Path, lang: str
) -> None:
    words = WORDS[lang]
    candidate_id = f"{unique}-{lang}"
    settings = PreferenceSettings(group_id=f"{unique}.preference", kafka=kafka, mongo=mongo)
    app = create_app(settings)
    async with serving(app, lifespan=True) as base:
        event = ats_event("ats.application.received", candidate_id, phone="+31612345678", locale=words["locale"])
        await produce(kafka, ATS_EVENTS, [event])
        before = await eventually(lambda: _profile(app, candidate_id), what="the profile from the ATS event")
        token = sign(settings.link_secret.get_secret_value().encode(), candidate_id, datetime.now(UTC) + timedelta(1))

        async with chromium() as browser:
            page = await browser.new_page(viewport={"width": 375, "height": 812}, locale=words["locale"])
            await page.goto(f"{base}/s/{token}")
            await expect(page.get_by_role("heading", name=words["heading"])).to_be_visible()
            await expect(page.get_by_text(words["channels"])).to_be_visible()
            await expect(page.get_by_label(words["first"])).to_have_value("email")
            assert await page.evaluate("document.documentElement.scrollWidth") <= 375  # no sideways scrolling
            await page.screenshot(path=str(artifacts / f"selfservice-{lang}.png"), full_page=True)

            await page.get_by_label(words["first"]).select_option("whatsapp")
            await page.get_by_role("checkbox", name="WhatsApp").check()
            await page.get_by_label(words["scheduling_stage"], exact=True).select_option("sms")
            await page.get_by_label(words["sms_options"]).check()
            await page.get_by_label(words["pause"], exact=True).select_option("2w")
            await page.get_by_role("button", name=words["save"]).click()

            await page.wait_for_url(re.compile(rf"saved={before.version + 1}"))
            await expect(page.get_by_role("status")).to_contain_text(words["saved"])
            await expect(page.get_by_label(words["first"])).to_have_value("whatsapp")

        snapshot = await eventually(
            lambda: _published(kafka, candidate_id, before.version), what="the new snapshot on preferences.changed"
        )
    assert snapshot["version"] == before.version + 1
    assert snapshot["channel_order"][0] == "whatsapp"
    assert snapshot["stage_overrides"] == {"interview_scheduling": ["sms"]}
    assert snapshot["interview_scheduling_mode"] == "sms_options"
    assert snapshot["paused_until"] is not None and snapshot["language"] == lang
    whatsapp = snapshot["consent"]["whatsapp"]["application"]
    assert (whatsapp["state"], whatsapp["source"]) == ("granted", "self_service")
    assert whatsapp["evidence"] == "selfservice-v1"
