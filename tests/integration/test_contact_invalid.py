"""One unusable contact field does not cost the candidate their other channels, and the ATS hears about it."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from schemas.topics import ATS_EVENTS, CANDIDATE_EVENTS
from services.common.settings import KafkaSettings, MongoSettings
from tests.stacks import services_running
from tests.support import ats_event, eventually, produce, read_json

UNALLOCATED = "+31012345678"  # E.164 syntax, but no number is ever assigned in this range


async def test_an_unallocated_number_is_marked_invalid_and_the_mail_still_goes(
    kafka: KafkaSettings, mongo: MongoSettings, tmp_path: Path, unique: str
) -> None:
    cid = f"{unique}-n"
    async with services_running(kafka, mongo, tmp_path, unique) as stack:
        event = ats_event("ats.application.received", cid, email="sanne@example.org", phone=UNALLOCATED)
        await produce(kafka, ATS_EVENTS, [event])

        await eventually(lambda: _mails_to(stack.mails, "sanne@example.org"), what="the e-mail")

        async def notice() -> list[dict[str, Any]] | None:
            found = [e for e in await read_json(kafka, CANDIDATE_EVENTS) if e["subject"] == cid]
            return found or None

        notices = await eventually(notice, what="the ATS-facing notice")
        assert [n["type"] for n in notices] == ["candidate.contact.invalid"]
        assert notices[0]["data"]["contact"] == "phone" and notices[0]["data"]["reason"]
        assert UNALLOCATED not in json.dumps(notices), "the notice never carries the value"
        prefs = await stack.preference.get(
            f"/v1/candidates/{cid}/preferences", headers={"X-API-Key": "dev-only-api-key"}
        )
        assert prefs.json()["contacts"]["phone"]["valid"] is False


async def _mails_to(read: Any, address: str) -> list[dict[str, Any]]:
    return [m for m in read() if m["rcpt_tos"] == [address]]
