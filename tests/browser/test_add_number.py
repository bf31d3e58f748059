"""A candidate with only an e-mail address adds a mobile number on the page and the next message goes by SMS.

The three services run in-process against the test's own topics and database, the preference and
notifier apps served by uvicorn for Chromium; SMS go to the provider emulator over HTTP. Keyboard only;
axe-core on every page state; screenshots kept in test-artifacts/candidate-control/.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.async_api import expect

from schemas.topics import ATS_EVENTS
from services.common.links import sign
from services.common.settings import KafkaSettings, MongoSettings
from services.preference.verification import EVIDENCE
from tests.browser.kit import (
    KEY,
    LAYOUTS,
    check_page,
    chromium,
    latest_snapshot,
    mobile_number,
    new_page,
    press_key,
    serving,
    sms_to,
    type_into,
)
from tests.notifier.provider_doubles import emulator
from tests.stacks import services_running
from tests.support import DAYTIME, ats_event, eventually, produce

# What a candidate reads, written out here rather than taken from the page's own texts table.
WORDS = {
    "nl": {
        "no_number": "We hebben geen mobiel nummer van je.",
        "add": "Voeg een mobiel nummer toe",
        "number": "Mobiel nummer",
        "first": "Wat proberen we voortaan eerst?",
        "send": "Stuur me een code",
        "code": "Code van 6 cijfers",
        "confirm": "Bevestigen",
        "confirmed": "Je nummer is bevestigd",
        "verified": "bevestigd door jou",
    },
    "en": {
        "no_number": "We have no mobile number for you.",
        "add": "Add a mobile number",
        "number": "Mobile number",
        "first": "What should we try first from now on?",
        "send": "Send me a code",
        "code": "6-digit code",
        "confirm": "Confirm",
        "confirmed": "Your number is confirmed",
        "verified": "confirmed by you",
    },
}


async def _sms_sent(notifier: httpx.AsyncClient, cid: str) -> list[dict[str, Any]] | None:
    r = await notifier.get(f"/v1/candidates/{cid}/timeline", headers=KEY)
    found = r.json()["notifications"] if r.is_success else []
    sms = [n for n in found if n["channel"] == "sms" and n["stage"] == "interview_scheduling"]
    return sms if any(n["status"] in ("sent", "delivered") for n in sms) else None


@pytest.mark.parametrize(("lang", "viewport"), LAYOUTS, ids=["nl-375", "en-desktop"])
async def test_a_candidate_adds_and_verifies_a_number_and_is_texted_next(
    kafka: KafkaSettings,
    mongo: MongoSettings,
    tmp_path: Path,
    unique: str,
    artifacts: Path,
    lang: str,
    viewport: dict[str, int],
) -> None:
    words, cid, number = WORDS[lang], f"{unique}-{lang}", mobile_number()
    shots = artifacts / "candidate-control"
    async with emulator(tmp_path / "provider") as (provider, _):
        overrides = {"preference": {"provider_base_url": provider}, "notifier": {"provider_base_url": provider}}
        async with services_running(kafka, mongo, tmp_path, unique, **overrides) as stack:
            await produce(kafka, ATS_EVENTS, [ats_event("ats.application.received", cid, timezone=DAYTIME)])
            before = await eventually(lambda: latest_snapshot(kafka, cid, 0), what="the profile from the ATS")
            secret = stack.settings["preference"].link_secret.get_secret_value().encode()
            token = sign(secret, cid, datetime.now(UTC) + timedelta(days=1))
            app = stack.preference._transport.app  # type: ignore[attr-defined]

            async with serving(app) as base, chromium() as browser:
                page = await new_page(browser, lang, viewport)
                await page.goto(f"{base}/s/{token}?lang={lang}")
                await expect(page.get_by_role("checkbox", name="SMS")).to_be_disabled()
                await expect(page.get_by_role("checkbox", name="SMS")).to_have_accessible_description(
                    re.compile(re.escape(words["no_number"]))
                )
                await check_page(page, shots, f"1-honest-page-{lang}")

                await press_key(page.get_by_role("link", name=words["add"]).first, "Enter")
                national = "06 " + number[4:]  # as a Dutch candidate types it; the page makes it E.164
                await type_into(page.get_by_label(words["number"], exact=True), national if lang == "nl" else number)
                first = page.get_by_label(words["first"])
                await first.focus()
                await page.keyboard.type("SMS")  # a focused select picks by typing, no mouse
                await expect(first).to_have_value("sms")
                await check_page(page, shots, f"2-add-number-{lang}")
                await press_key(page.get_by_role("button", name=words["send"]).first, "Enter")

                await expect(page.get_by_label(words["code"])).to_be_visible()
                await check_page(page, shots, f"3-enter-code-{lang}")
                [sms] = await sms_to(provider, number)
                code = re.search(r"\b(\d{6})\b", sms["body"])
                assert code is not None, "the code is in the SMS"
                await type_into(page.get_by_label(words["code"]), code.group(1))
                await page.keyboard.press("Enter")

                await expect(page.get_by_role("status")).to_contain_text(words["confirmed"])
                await expect(page.get_by_role("checkbox", name="SMS")).to_be_checked()
                await expect(page.get_by_text(words["verified"])).to_be_visible()
                await check_page(page, shots, f"4-verified-{lang}")

            snapshot = await eventually(lambda: latest_snapshot(kafka, cid, before["version"]), what="the new version")
            assert snapshot["contacts"]["phone"]["address"] == number and snapshot["contacts"]["phone"]["verified_at"]
            consent = snapshot["consent"]["sms"]["application"]
            assert (consent["state"], consent["source"], consent["evidence"]) == ("granted", "self_service", EVIDENCE)
            assert snapshot["channel_order"][0] == "sms"

            # The ATS still has no number, or another one: the verified number stays and the next message texts it.
            other = mobile_number()
            await produce(kafka, ATS_EVENTS, [ats_event("ats.interview.scheduled", cid, phone=other, timezone=DAYTIME)])
            await eventually(lambda: _sms_sent(stack.notifier, cid), what="the invitation sent by SMS")
            texts = await sms_to(provider, number, n=2)
            assert all(t["to"] == number for t in texts)  # never to the number the ATS sent later
            assert any("Utrecht" in t["body"] for t in texts[1:])  # the invitation's location
            final = await eventually(lambda: latest_snapshot(kafka, cid, snapshot["version"]), what="the ATS's note")
            assert final["contacts"]["phone"]["address"] == number
            assert final["contacts"]["phone"]["ats_address"] == other  # the recruiter sees both in the history
