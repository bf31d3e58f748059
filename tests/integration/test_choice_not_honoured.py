"""A choice we cannot honour is visible, never silently downgraded.

A candidate who picked WhatsApp while no WhatsApp template is approved gets e-mail — and the decision
says why, `notifications.status` flags the choice that was not honoured, the recruiter worklist shows the
gap, and the candidate's self-service page says so in their language.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from schemas.topics import ATS_EVENTS, NOTIFICATIONS_STATUS
from services.common.links import sign
from services.common.settings import KafkaSettings, MongoSettings
from tests.stacks import services_running
from tests.support import DAYTIME, ats_event, eventually, produce, read_json

KEY = {"X-API-Key": "dev-only-api-key"}
PHONE = "+31612345678"


async def test_whatsapp_without_an_approved_template_is_said_everywhere(
    kafka: KafkaSettings, mongo: MongoSettings, tmp_path: Path, unique: str
) -> None:
    cid = f"{unique}-wa"
    async with services_running(kafka, mongo, tmp_path, unique) as stack:
        first = ats_event("ats.application.received", cid, phone=PHONE, opt_ins=("whatsapp",), timezone=DAYTIME)
        await produce(kafka, ATS_EVENTS, [first])

        async def exists() -> bool:
            return (await stack.preference.get(f"/v1/candidates/{cid}/preferences", headers=KEY)).status_code == 200

        await eventually(exists, what="the profile")
        choice = {"channel_order": ["whatsapp", "email"]}
        assert (await stack.preference.patch(f"/v1/candidates/{cid}/preferences", headers=KEY, json=choice)).is_success
        event = ats_event("ats.stage.changed", cid, stage="screening", phone=PHONE, timezone=DAYTIME)
        await produce(kafka, ATS_EVENTS, [event])

        async def queued() -> dict[str, Any] | None:
            found = [
                e["data"]
                for e in await read_json(kafka, NOTIFICATIONS_STATUS)
                if e["data"]["ats_event_id"] == event["id"] and e["data"]["status"] == "queued"
            ]
            return found[0] if found else None

        decision = await eventually(queued, what="the decision")
        assert decision["channel"] == "email" and decision["choice_not_honoured"] == "whatsapp"
        assert decision["reason"].startswith("WhatsApp skipped: no approved WhatsApp template for stage update in nl")

        async def flagged() -> list[dict[str, Any]] | None:
            r = await stack.notifier.get("/v1/worklist", headers=KEY)
            items = [i for i in r.json()["items"] if i["candidate_id"] == cid and i["kind"] == "choice_not_honoured"]
            return items or None

        item = (await eventually(flagged, what="the worklist item"))[0]
        assert item["channel"] == "whatsapp" and "no approved WhatsApp template" in item["reason"]

        secret = stack.settings["preference"].link_secret.get_secret_value().encode()
        token = sign(secret, cid, datetime.now(UTC) + timedelta(days=1))
        page = await stack.preference.get(f"/s/{token}")
        assert page.status_code == 200
        assert "We kunnen je nog geen WhatsApp-berichten sturen" in page.text
