"""The one-time code refuses what it must: a wrong, expired or over-tried code, another candidate's link,
a forged form (CSRF), a replayed form, too many codes per link; and the code is never logged or stored.

Only the preference service runs (with the provider emulator): nothing here needs routing or delivery.
The clock is the real one plus an offset the test moves, so a code expires without waiting.
"""

from __future__ import annotations

import json
import logging
import re
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from playwright.async_api import Page, expect
from pymongo import AsyncMongoClient

from schemas.topics import ATS_EVENTS
from services.common.links import sign
from services.common.settings import KafkaSettings, MongoSettings
from services.preference.app import create_app
from services.preference.settings import PreferenceSettings
from tests.browser.kit import (
    LAYOUTS,
    MovableClock,
    check_page,
    chromium,
    mobile_number,
    new_page,
    serving,
    sms_to,
    type_into,
)
from tests.notifier.provider_doubles import emulator
from tests.support import ats_event, eventually, produce, running

# What a candidate reads, written out here rather than taken from the page's own texts table.
WORDS = {
    "nl": {
        "number": "Mobiel nummer",
        "code": "Code van 6 cijfers",
        "wrong": "Deze code klopt niet",
        "replaced": "al gebruikt of vervangen",
        "expired": "Deze code is verlopen",
        "confirmed": "Je nummer is bevestigd",
        "limited": "te veel codes aangevraagd|zijn vandaag al genoeg codes gestuurd",
    },
    "en": {
        "number": "Mobile number",
        "code": "6-digit code",
        "wrong": "This code is not right",
        "replaced": "already used or replaced",
        "expired": "This code has expired",
        "confirmed": "Your number is confirmed",
        "limited": "too many codes in the last hour|Enough codes were sent to this number",
    },
}


async def _ask_code(page: Page, base: str, token: str, number: str, lang: str) -> str:
    """Ask for a code for `number` on the contact page; the challenge id the code form carries."""
    await page.goto(f"{base}/s/{token}/contact?lang={lang}")
    await type_into(page.get_by_label(WORDS[lang]["number"], exact=True), number)
    await page.keyboard.press("Enter")
    await expect(page.get_by_label(WORDS[lang]["code"])).to_be_visible()
    return str(await page.locator("input[name=challenge]").get_attribute("value"))


async def _enter(page: Page, code: str, lang: str) -> None:
    await type_into(page.get_by_label(WORDS[lang]["code"]), code)
    await page.keyboard.press("Enter")


async def _code(provider: str, number: str, n: int) -> str:
    found = re.search(r"\b(\d{6})\b", (await sms_to(provider, number, n))[n - 1]["body"])
    assert found is not None
    return found.group(1)


@pytest.mark.parametrize(("lang", "viewport"), LAYOUTS, ids=["nl-375", "en-desktop"])
async def test_codes_are_refused_when_wrong_expired_overtried_forged_replayed_or_for_another_link(
    kafka: KafkaSettings,
    mongo: MongoSettings,
    tmp_path: Path,
    unique: str,
    artifacts: Path,
    caplog: pytest.LogCaptureFixture,
    lang: str,
    viewport: dict[str, int],
) -> None:
    caplog.set_level(logging.DEBUG)
    words = WORDS[lang]
    clock, shots = MovableClock(), artifacts / "candidate-control"
    a, b, number = f"{unique}-a", f"{unique}-b", mobile_number()
    async with emulator(tmp_path / "provider") as (provider, _):
        settings = PreferenceSettings(
            group_id=f"{unique}.preference",
            kafka=kafka,
            mongo=mongo,
            provider_base_url=provider,
            link_rate_per_minute=0,
        )
        app = create_app(settings, clock)
        async with running(app) as api, serving(app) as base, chromium() as browser:
            await produce(kafka, ATS_EVENTS, [ats_event("ats.application.received", c) for c in (a, b)])
            for c in (a, b):
                await eventually(lambda c=c: _version(api, c), what=f"profile {c}")
            secret = settings.link_secret.get_secret_value().encode()
            token_a, token_b = (sign(secret, c, clock() + timedelta(days=2)) for c in (a, b))
            page = await new_page(browser, lang, viewport)
            version = await _version(api, a)

            # Wrong code: said next to the field, tied to it, nothing stored.
            challenge = await _ask_code(page, base, token_a, number, lang)
            code = await _code(provider, number, 1)
            await _enter(page, "000000" if code != "000000" else "111111", lang)
            field = page.get_by_label(words["code"])
            await expect(field).to_have_attribute("aria-invalid", "true")
            await expect(field).to_have_accessible_description(re.compile(words["wrong"]))
            await check_page(page, shots, f"11-wrong-code-{lang}")

            # Another candidate's link cannot use A's challenge or code; a forged form (A's link, no CSRF) neither.
            await page.goto(f"{base}/s/{token_b}/contact?lang={lang}")
            csrf_b = str(await page.locator("#phone-form input[name=csrf]").get_attribute("value"))
            other = await page.request.post(
                f"{base}/s/{token_b}/contact/verify?lang={lang}",
                form={"csrf": csrf_b, "challenge": challenge, "code": code},
            )
            assert other.status == 409 and words["replaced"] in await other.text()
            forged = await page.request.post(
                f"{base}/s/{token_a}/contact/verify?lang={lang}",
                form={"csrf": csrf_b, "challenge": challenge, "code": code},
            )
            assert forged.status == 403
            assert await _version(api, b) == 1 and await _version(api, a) == version

            # Too many tries: after the allowed wrong ones even the right code is refused, and the code is void.
            for _ in range(settings.code_max_tries - 1):
                answer = await _post_code(page, base, token_a, challenge, "999999" if code != "999999" else "888888")
                assert answer == 400
            assert await _post_code(page, base, token_a, challenge, code) == 429
            assert await _post_code(page, base, token_a, challenge, code) == 409
            assert await _version(api, a) == version

            # Expired: the right code after its life is refused.
            challenge = await _ask_code(page, base, token_a, number, lang)
            code = await _code(provider, number, 2)
            clock.offset += timedelta(seconds=settings.code_ttl_s + 60)
            await _enter(page, code, lang)
            await expect(page.get_by_role("alert")).to_contain_text(words["expired"])
            await check_page(page, shots, f"12-expired-code-{lang}")
            assert await _version(api, a) == version

            # Right code, then the same form replayed: one new version, the replay refused.
            challenge = await _ask_code(page, base, token_a, number, lang)
            code = await _code(provider, number, 3)
            await _enter(page, code, lang)
            await expect(page.get_by_role("status")).to_contain_text(words["confirmed"])
            assert await _version(api, a) == version + 1
            assert await _post_code(page, base, token_a, challenge, code) == 409
            assert await _version(api, a) == version + 1

            # Codes per link per hour and per number per day (5 each): the sixth is refused, said next to the
            # number. Which limit speaks depends on whether the moved clock crossed an hour: both are right.
            for _ in range(settings.codes_per_link_per_hour - 3):
                await _ask_code(page, base, token_a, number, lang)
            await page.goto(f"{base}/s/{token_a}/contact?lang={lang}")
            await type_into(page.get_by_label(words["number"], exact=True), number)
            async with page.expect_response(lambda r: r.request.method == "POST") as answer_info:
                await page.keyboard.press("Enter")
            assert (await answer_info.value).status == 429
            await expect(page.get_by_label(words["number"], exact=True)).to_have_accessible_description(
                re.compile(words["limited"])
            )
            await check_page(page, shots, f"13-rate-limited-{lang}")

        codes = {m["body"] for m in await sms_to(provider, number, 5)}
    sent = {m.group(1) for body in codes if (m := re.search(r"\b(\d{6})\b", body))}
    assert len(sent) == len(codes) >= 5
    # A record's own clock fields are left out: `created` has six decimals a code can coincide with.
    clock = {"created", "msecs", "relativeCreated"}
    logged = "\n".join(
        f"{r.getMessage()} { ({k: v for k, v in r.__dict__.items() if k not in clock}) }" for r in caplog.records
    )
    assert not [c for c in sent if re.search(rf"(?<!\d){c}(?!\d)", logged)], "a code reached the log"
    stored = await _database_text(mongo)
    assert not [c for c in sent if c in stored], "a code is stored in clear"


async def _version(api: Any, cid: str) -> int:
    r = await api.get(f"/v1/candidates/{cid}/preferences", headers={"X-API-Key": "dev-only-api-key"})
    return int(r.json()["version"]) if r.status_code == 200 else 0


async def _post_code(page: Page, base: str, token: str, challenge: str, code: str) -> int:
    """Submit the code form as the browser would (the link's own CSRF token); the HTTP status."""
    await page.goto(f"{base}/s/{token}/contact?lang=en")
    csrf = str(await page.locator("#phone-form input[name=csrf]").get_attribute("value"))
    answer = await page.request.post(
        f"{base}/s/{token}/contact/verify", form={"csrf": csrf, "challenge": challenge, "code": code}, max_redirects=0
    )
    return answer.status


async def _database_text(mongo: MongoSettings) -> str:
    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(mongo.url.get_secret_value())
    try:
        db = client[mongo.database]
        docs = [d for name in await db.list_collection_names() async for d in db[name].find({})]
        return json.dumps(docs, default=str)
    finally:
        await client.close()
