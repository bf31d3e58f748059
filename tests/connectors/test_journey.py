"""The journey of issue 16: a Greenhouse web hook in -> the candidate's e-mail at the SMTP sink -> a note back in
Greenhouse, through the four real services (in this process), real Kafka, FerretDB, SMTP and the Harvest
emulator over HTTP. Greenhouse signs as https://developers.greenhouse.io/webhooks.html documents.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from deploy.local.ats_emulators import EmulatorState
from services.common.settings import KafkaSettings, MongoSettings
from services.connectors.app import create_app
from services.connectors.settings import ConnectorSettings
from tests.connectors.conftest import SECRETS, connections
from tests.connectors.webhooks import body_of, fixture, greenhouse_headers
from tests.stacks import services_running
from tests.support import eventually, running


async def test_webhook_in_mail_out_note_back(
    kafka: KafkaSettings,
    mongo: MongoSettings,
    tmp_path: Path,
    unique: str,
    ats_api: tuple[str, EmulatorState],
) -> None:
    url, state = ats_api
    settings = ConnectorSettings(
        kafka=kafka, mongo=mongo, group_id=f"{unique}.connectors", connections=connections(url), api_backoff_s=0.01
    )
    doc = fixture("greenhouse", "new_candidate_application")
    doc["payload"]["application"]["candidate"]["email_addresses"] = [
        {"value": f"{unique}@example.org", "type": "personal"}
    ]
    body = body_of(doc)
    async with services_running(kafka, mongo, tmp_path, unique) as stack, running(create_app(settings)) as connector:
        answer = await connector.post(
            "/v1/webhooks/greenhouse", content=body, headers=greenhouse_headers(body, SECRETS["greenhouse"])
        )
        assert answer.status_code == 202, answer.text

        async def mail() -> list[dict[str, Any]]:
            return [m for m in stack.mails() if m["rcpt_tos"] == [f"{unique}@example.org"]]

        mails = await eventually(mail, timeout=30, what="the candidate's e-mail at the SMTP sink")

        async def note() -> list[dict[str, Any]]:
            return [n for n in state.notes if "sent by e-mail" in n["body"]]

        notes = await eventually(note, timeout=30, what="the note at the Greenhouse emulator")

    assert len(mails) == 1
    assert [n["candidate_id"] for n in notes] == ["60304594"]  # Greenhouse's candidate id, not ours
    assert "application message - sent by e-mail" in notes[0]["body"]
