"""Issue 16's interview gap, end to end: a Greenhouse stage change, then an interview scheduled in Greenhouse
afterwards -> the connector's poller finds it in Harvest -> the candidate's interview invitation at the SMTP
sink, through the four real services (in this process), real Kafka, FerretDB, SMTP and the Harvest emulator.

Documentation followed: https://developers.greenhouse.io/webhooks.html (the signed stage-change web hook) and
https://developers.greenhouse.io/harvest.html (List Scheduled Interviews, Retrieve Application and Candidate).
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from deploy.local.ats_emulators import EmulatorState
from services.common.settings import KafkaSettings, MongoSettings
from services.connectors.app import create_app
from services.connectors.settings import ConnectorSettings
from tests.connectors.conftest import SECRETS, connections
from tests.connectors.test_greenhouse_interviews import FIXTURES, interview, schedule
from tests.connectors.webhooks import body_of, fixture, greenhouse_headers
from tests.stacks import services_running
from tests.support import eventually, running


async def test_stage_change_then_interview_in_greenhouse_then_the_invitation_in_the_mail(
    kafka: KafkaSettings,
    mongo: MongoSettings,
    tmp_path: Path,
    unique: str,
    ats_api: tuple[str, EmulatorState],
) -> None:
    url, state = ats_api
    address = f"{unique}@example.org"
    records = json.loads((FIXTURES / "harvest_records.json").read_text())
    records["candidates"]["60304594"]["email_addresses"] = [{"value": address, "type": "personal"}]
    for kind, by_id in records.items():
        for key, record in by_id.items():
            state.seed("greenhouse", f"{kind}/{key}", record)
    doc = fixture("greenhouse", "candidate_stage_change")
    doc["payload"]["application"]["candidate"]["email_addresses"] = [{"value": address, "type": "personal"}]
    body = body_of(doc)
    settings = ConnectorSettings(
        kafka=kafka,
        mongo=mongo,
        group_id=f"{unique}.connectors",
        connections=connections(url),
        api_backoff_s=0.01,
        interview_poll_s=0.2,
    )
    # Working hours in the candidate's zone, a few days ahead: nothing holds the invitation back.
    start = (datetime.now(UTC) + timedelta(days=3)).replace(hour=9, minute=0, second=0, microsecond=0)
    async with services_running(kafka, mongo, tmp_path, unique) as stack, running(create_app(settings)) as connector:
        answer = await connector.post(
            "/v1/webhooks/greenhouse", content=body, headers=greenhouse_headers(body, SECRETS["greenhouse"])
        )
        assert answer.status_code == 202, answer.text
        await schedule(url, interview(start))

        async def invitation() -> list[dict[str, Any]]:
            return [
                m
                for m in stack.mails()
                if m["rcpt_tos"] == [address] and "uitnodiging voor een gesprek" in m["subject"].lower()
            ]

        mails = await eventually(invitation, timeout=40, what="the interview invitation at the SMTP sink")

    assert len(mails) == 1
    assert "Data engineer" in mails[0]["subject"]
