"""Talk to a person, download my data, erase it: from the page, in Chromium, through the real services.

The message lands on the recruiter's worklist (notifier pages, checked with axe too) with the candidate's
current choices beside it; the download is the API's export; the erasure is the API's, leaves nothing
and tells the ATS on candidate.events.
"""

from __future__ import annotations

import asyncio
import json
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from playwright.async_api import expect
from pymongo import AsyncMongoClient

from schemas.topics import ATS_EVENTS, CANDIDATE_EVENTS, PREFERENCES_CHANGED
from services.common.links import sign
from services.common.settings import KafkaSettings, MongoSettings
from tests.browser.kit import KEY, LAYOUTS, check_page, chromium, new_page, press_key, serving, type_into
from tests.stacks import services_running
from tests.support import ats_event, eventually, produce, read_json, read_topic

WORDS = {
    "nl": {
        "talk": "Met iemand praten",
        "message": "Je bericht aan de recruiter",
        "send": "Versturen",
        "sent": "Verstuurd",
        "data": "Mijn gegevens: downloaden of verwijderen",
        "download": "Download mijn gegevens",
        "delete": "Mijn gegevens verwijderen",
        "sure": "Weet je het zeker?",
        "confirm": "Ja, verwijder mijn gegevens",
        "deleted": "Je gegevens zijn verwijderd",
        "kept": "hash",
        "back": "Terug naar je voorkeuren",
    },
    "en": {
        "talk": "Talk to a person",
        "message": "Your message to the recruiter",
        "send": "Send",
        "sent": "Sent",
        "data": "My data: download or delete",
        "download": "Download my data",
        "delete": "Delete my data",
        "sure": "Are you sure?",
        "confirm": "Yes, delete my data",
        "deleted": "Your data has been deleted",
        "kept": "hash",
        "back": "Back to your preferences",
    },
}


@pytest.mark.parametrize(("lang", "viewport"), LAYOUTS, ids=["nl-375", "en-desktop"])
async def test_a_candidate_talks_to_a_person_downloads_and_erases_their_data(
    kafka: KafkaSettings,
    mongo: MongoSettings,
    tmp_path: Path,
    unique: str,
    artifacts: Path,
    lang: str,
    viewport: dict[str, int],
) -> None:
    words, cid, shots = WORDS[lang], f"{unique}-{lang}", artifacts / "candidate-control"
    note = f"Kunt u mij bellen over de functie? ({unique})"
    async with services_running(kafka, mongo, tmp_path, unique) as stack:
        await produce(kafka, ATS_EVENTS, [ats_event("ats.application.received", cid, phone="+31612345678")])
        await eventually(lambda: _known(stack.preference, cid), what="the profile from the ATS")
        secret = stack.settings["preference"].link_secret.get_secret_value().encode()
        token = sign(secret, cid, datetime.now(UTC) + timedelta(days=1))
        pref_app = stack.preference._transport.app  # type: ignore[attr-defined]
        notifier_app = stack.notifier._transport.app  # type: ignore[attr-defined]

        async with serving(pref_app) as base, serving(notifier_app) as recruiter, chromium() as browser:
            page = await new_page(browser, lang, viewport)
            await page.goto(f"{base}/s/{token}?lang={lang}")
            await press_key(page.get_by_role("link", name=words["talk"]), "Enter")
            await expect(page.get_by_role("heading", name=words["talk"])).to_be_visible()
            await type_into(page.get_by_label(words["message"]), note)
            await check_page(page, shots, f"5-talk-{lang}")
            await press_key(page.get_by_role("button", name=words["send"]), "Enter")
            await expect(page.get_by_role("status")).to_contain_text(words["sent"])
            await check_page(page, shots, f"6-talk-sent-{lang}")

            desk = await new_page(browser, "en", {"width": 1366, "height": 900})
            await desk.goto(f"{recruiter}/recruiter/login")
            await check_page(desk, shots, f"recruiter-login-{lang}")
            await type_into(desk.get_by_label("API key"), "dev-only-api-key")
            await type_into(desk.get_by_label("Your name"), "Femke")
            await desk.keyboard.press("Enter")
            await expect(desk.get_by_role("heading", name="Worklist", exact=True)).to_be_visible()
            card = desk.get_by_role("article", name=f"Candidates who asked to talk to a person: {cid}")
            await _reload_until(desk, card)
            await expect(card).to_contain_text(note)
            await expect(card.get_by_role("region", name=f"Current choices of {cid}")).to_contain_text("email")
            await check_page(desk, shots, f"7-recruiter-worklist-{lang}")
            await press_key(card.get_by_role("link", name=cid), "Enter")
            await expect(desk.get_by_role("heading", name=f"Timeline of {cid}")).to_be_visible()
            await check_page(desk, shots, f"recruiter-timeline-{lang}")

            await page.get_by_role("link", name=words["back"]).click()
            await press_key(page.get_by_role("link", name=words["data"]), "Enter")
            await expect(page.get_by_role("button", name=words["download"])).to_be_visible()
            await check_page(page, shots, f"8-my-data-{lang}")
            async with page.expect_download() as download_info:
                await press_key(page.get_by_role("button", name=words["download"]), "Enter")
            download = await download_info.value
            assert re.fullmatch(r"my-data-\d{4}-\d{2}-\d{2}\.json", download.suggested_filename)
            downloaded = json.loads(await asyncio.to_thread(Path(await download.path()).read_bytes))
            api = (await stack.preference.get(f"/v1/candidates/{cid}/export", headers=KEY)).json()
            assert {**downloaded, "exported_at": None} == {**api, "exported_at": None}

            await press_key(page.get_by_role("button", name=words["delete"]), "Enter")
            await expect(page.get_by_role("heading", name=words["sure"])).to_be_visible()
            await check_page(page, shots, f"9-erase-confirm-{lang}")
            await press_key(page.get_by_role("button", name=words["confirm"]), "Enter")
            await expect(page.get_by_role("heading", name=words["deleted"])).to_be_visible()
            await expect(page.get_by_text(words["kept"])).to_be_visible()
            await check_page(page, shots, f"10-erased-{lang}")
            gone = await page.goto(f"{base}/s/{token}?lang={lang}")
            assert gone is not None and gone.status == 404  # the link names nobody any more

        # The same checks as the API's erasure, and the ATS told.
        assert (await stack.preference.get(f"/v1/candidates/{cid}/preferences", headers=KEY)).status_code == 404
        records = [r for r in await read_topic(kafka, PREFERENCES_CHANGED) if r.key == cid.encode()]
        assert records[-1].value is None
        told = [e for e in await read_json(kafka, CANDIDATE_EVENTS) if e["subject"] == cid]
        assert [e["type"] for e in told] == ["candidate.person.requested", "candidate.data.erased"]
        assert told[1]["data"]["requested_by"] == "candidate"
        await eventually(lambda: _worklist_empty(stack.notifier, cid), what="the worklist item erased with the rest")
        assert await _documents_about(mongo, cid) == {}


async def _known(client: object, cid: str) -> bool:
    r = await client.get(f"/v1/candidates/{cid}/preferences", headers=KEY)  # type: ignore[attr-defined]
    return bool(r.status_code == 200)


async def _reload_until(page: object, locator: object) -> None:
    """The worklist is server-rendered: reload until the item the consumer records is there."""

    async def shown() -> bool:
        await page.reload()  # type: ignore[attr-defined]
        return bool(await locator.count())  # type: ignore[attr-defined]

    await eventually(shown, interval=0.3, what="the request on the worklist page")


async def _worklist_empty(client: object, cid: str) -> bool:
    r = await client.get("/v1/worklist?include_handled=true", headers=KEY)  # type: ignore[attr-defined]
    return not [i for i in r.json()["items"] if i["candidate_id"] == cid]


async def _documents_about(mongo: MongoSettings, cid: str) -> dict[str, int]:
    """Documents in any collection of the test's database that still name the candidate."""
    client: AsyncMongoClient[dict[str, object]] = AsyncMongoClient(mongo.url.get_secret_value())
    try:
        db = client[mongo.database]
        left = {}
        for name in await db.list_collection_names():
            n = await db[name].count_documents({"candidate_id": cid})
            if n:
                left[name] = n
        return left
    finally:
        await client.close()
