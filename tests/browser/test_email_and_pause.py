"""A candidate adds another e-mail address on the page, proves it with the code that arrives by mail, then
pauses messages up to a date and sets a weekly maximum: what the page promises about the pause is what the
services do.

The three services run in-process against the test's own topics and database; the code e-mail and every
message go over real SMTP to the project's sink. Keyboard only; axe-core on every page state; screenshots
kept in test-artifacts/candidate-control/.
"""

from __future__ import annotations

import asyncio
import re
from datetime import UTC, date, datetime, time, timedelta
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from playwright.async_api import expect

from schemas.topics import ATS_EVENTS
from services.common.links import sign
from services.common.settings import KafkaSettings, MongoSettings
from services.preference.verification import EVIDENCE
from tests.browser.kit import LAYOUTS, check_page, chromium, latest_snapshot, new_page, press_key, serving, type_into
from tests.stacks import Running, services_running
from tests.support import ats_event, eventually, produce, statuses, wait_status

ZONE = "Europe/Amsterdam"
# What a candidate reads, written out here rather than taken from the page's own texts table.
WORDS = {
    "nl": {
        "contact": "Nummer of e-mailadres toevoegen of wijzigen",
        "email": "E-mailadres",
        "code": "Code van 6 cijfers",
        "confirmed": "Je e-mailadres is bevestigd",
        "verified": "bevestigd door jou",
        "pause_until": "Of: pauze tot en met een datum",
        "cap": "Hoeveel berichten per week?",
        "save": "Opslaan",
        "saved": "Opgeslagen",
        "paused": "Berichten staan op pauze tot",
        "still": "een afgezegd of verzet gesprek binnen 48 uur",
    },
    "en": {
        "contact": "Add or change a number or e-mail address",
        "email": "E-mail address",
        "code": "6-digit code",
        "confirmed": "Your e-mail address is confirmed",
        "verified": "confirmed by you",
        "pause_until": "Or: pause up to and including a date",
        "cap": "How many messages per week?",
        "save": "Save",
        "saved": "Saved",
        "paused": "Messages are paused until",
        "still": "an interview cancelled or moved within 48 hours",
    },
}


def _mails_to(stack: Running, address: str, n: int = 1) -> Any:
    """The sink's index lines of mails to `address`, once there are at least `n` (for `eventually`)."""

    async def found() -> list[dict[str, Any]] | None:
        mine = [m for m in stack.mails() if address in m["rcpt_tos"]]
        return mine if len(mine) >= n else None

    return found


async def _code_in(mail_dir: Path, entry: dict[str, Any]) -> str:
    """The 6-digit code in the text of a mail the sink recorded."""
    raw = await asyncio.to_thread((mail_dir / entry["file"]).read_bytes)
    message = message_from_bytes(raw, policy=policy.default)
    assert isinstance(message, EmailMessage)
    body = message.get_body(("plain",))
    assert body is not None
    found = re.search(r"\b(\d{6})\b", body.get_content())
    assert found is not None, "the code is in the mail"
    return found.group(1)


def _day_and_month_alike(after: date) -> date:
    """The next day whose day and month are the same number (7 July, 12 December): typed as digits it means
    the same date in a day-first field (nl-NL, en-GB) and a month-first one. Headless Chromium lays date
    fields out in its own UI language, not the page's, and a keyboard-only test types what a person would."""
    day = after + timedelta(days=1)
    while day.day != day.month:
        day += timedelta(days=1)
    return day


@pytest.mark.parametrize(("lang", "viewport"), LAYOUTS, ids=["nl-375", "en-desktop"])
async def test_a_candidate_adds_an_email_address_then_pauses_and_only_essentials_go(
    kafka: KafkaSettings,
    mongo: MongoSettings,
    tmp_path: Path,
    unique: str,
    artifacts: Path,
    lang: str,
    viewport: dict[str, int],
) -> None:
    words, cid, shots = WORDS[lang], f"{unique}-{lang}", artifacts / "candidate-control"
    old, new = f"old-{unique}-{lang}@example.org", f"new-{unique}-{lang}@example.net"
    async with services_running(kafka, mongo, tmp_path, unique) as stack:
        await produce(kafka, ATS_EVENTS, [ats_event("ats.application.received", cid, email=old, timezone=ZONE)])
        before = await eventually(lambda: latest_snapshot(kafka, cid, 0), what="the profile from the ATS")
        await eventually(_mails_to(stack, old), what="the application's confirmation at the ATS's address")
        secret = stack.settings["preference"].link_secret.get_secret_value().encode()
        token = sign(secret, cid, datetime.now(UTC) + timedelta(days=1))
        app = stack.preference._transport.app  # type: ignore[attr-defined]

        async with serving(app) as base, chromium() as browser:
            page = await new_page(browser, lang, viewport)
            await page.goto(f"{base}/s/{token}?lang={lang}")
            await press_key(page.get_by_role("link", name=words["contact"]), "Enter")
            await type_into(page.get_by_label(words["email"], exact=True), new)
            await check_page(page, shots, f"14-add-email-{lang}")
            await page.keyboard.press("Enter")  # Enter in the field submits its own form

            await expect(page.get_by_label(words["code"])).to_be_visible()
            [mail] = await eventually(_mails_to(stack, new), what=f"the code mail to {new} at the sink")
            await type_into(page.get_by_label(words["code"]), await _code_in(tmp_path / "mail", mail))
            await page.keyboard.press("Enter")
            await expect(page.get_by_role("status")).to_contain_text(words["confirmed"])
            await expect(page.get_by_text(words["verified"])).to_be_visible()
            await check_page(page, shots, f"15-email-verified-{lang}")

            verified = await eventually(lambda: latest_snapshot(kafka, cid, before["version"]), what="the version")
            assert verified["contacts"]["email"]["address"] == new and verified["contacts"]["email"]["verified_at"]
            consent = verified["consent"]["email"]["application"]
            assert (consent["state"], consent["source"], consent["evidence"]) == ("granted", "self_service", EVIDENCE)

            # The next ATS event still carries the old address: the invitation goes to the verified one.
            start = datetime.now(UTC).replace(microsecond=0) + timedelta(hours=30)
            invite = ats_event("ats.interview.scheduled", cid, email=old, timezone=ZONE, start=start)
            await produce(kafka, ATS_EVENTS, [invite])
            await wait_status(kafka, cid, "sent", ats_event_id=invite["id"], channel="email")
            await eventually(_mails_to(stack, new, n=2), what="the invitation at the new address")

            # Pause up to and including a date (in the candidate's own calendar), typed digit by digit.
            last_day = _day_and_month_alike(datetime.now(ZoneInfo(ZONE)).date())
            await page.goto(f"{base}/s/{token}?lang={lang}")
            await type_into(page.get_by_label(words["pause_until"]), f"{last_day:%d%m%Y}")
            # And pace: at most 2 a week (no limit, 1, 2: two steps down the list, by keyboard).
            cap = page.get_by_label(words["cap"])
            await cap.focus()
            for _ in range(2):
                await page.keyboard.press("ArrowDown")
            await expect(cap).to_have_value("2")
            await press_key(page.get_by_role("button", name=words["save"]), "Enter")
            await expect(page.get_by_role("status")).to_contain_text(words["saved"])
            await expect(page.get_by_text(words["paused"])).to_be_visible()
            await expect(page.get_by_text(words["still"])).to_be_visible()  # what still comes through, in words
            await check_page(page, shots, f"16-paused-until-{lang}")

        paused = await eventually(lambda: latest_snapshot(kafka, cid, verified["version"]), what="the paused version")
        end = datetime.combine(last_day + timedelta(days=1), time(0), ZoneInfo(ZONE))
        assert datetime.fromisoformat(paused["paused_until"]) == end  # messages start again the day after
        assert paused["frequency_cap"]["per_week"] == 2
        assert paused["contacts"]["email"]["address"] == new  # the ATS's old address did not replace it

        # During the pause a stage update is held until it ends; a cancellation within 48 hours still goes.
        update = ats_event("ats.stage.changed", cid, email=old, timezone=ZONE, stage="assessment")
        await produce(kafka, ATS_EVENTS, [update])
        [held] = await wait_status(kafka, cid, "held", ats_event_id=update["id"])
        assert "paused" in held["reason"] and datetime.fromisoformat(held["release_at"]) == end
        cancel = ats_event("ats.interview.cancelled", cid, email=old, timezone=ZONE, start=start, sequence=1)
        await produce(kafka, ATS_EVENTS, [cancel])
        await wait_status(kafka, cid, "sent", ats_event_id=cancel["id"], channel="email")
        await eventually(_mails_to(stack, new, n=3), what="the cancellation at the new address")
        assert len([m for m in stack.mails() if old in m["rcpt_tos"]]) == 1, "nothing more to the ATS's address"
        assert [s["status"] for s in await statuses(kafka, cid) if s["ats_event_id"] == update["id"]] == ["held"]
