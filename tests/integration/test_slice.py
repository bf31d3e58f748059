"""The foundation's vertical slice through the real broker, database and SMTP:

ats.interview.scheduled -> preference creates the profile and publishes it -> router decides e-mail ->
notifier renders the invitation in the candidate's zone and language and sends it over SMTP ->
the sink receives it -> notifications.status carries `sent`.
"""

from __future__ import annotations

from datetime import UTC, datetime
from email import message_from_bytes, policy
from pathlib import Path
from typing import Any

from icalendar import Calendar

from schemas.topics import NOTIFICATIONS_STATUS, PREFERENCES_CHANGED
from services.common.settings import KafkaSettings, MongoSettings
from tests.stacks import services_running
from tests.support import ats_event, eventually, produce, read_json


async def test_interview_invitation_reaches_the_candidate_by_email(
    kafka: KafkaSettings, mongo: MongoSettings, tmp_path: Path, unique: str
) -> None:
    start = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)  # 10:00 in Amsterdam
    event = ats_event(
        "ats.interview.scheduled",
        f"{unique}-c1",
        email="sanne@example.org",
        locale="nl-NL",
        timezone="Europe/Amsterdam",
        start=start,
    )
    async with services_running(kafka, mongo, tmp_path, unique) as stack:
        await produce(kafka, "ats.events", [event])

        mails = await eventually(lambda: _mails(stack.mails), what="the invitation in the SMTP sink")
        assert len(mails) == 1
        msg = message_from_bytes((tmp_path / "mail" / mails[0]["file"]).read_bytes(), policy=policy.default)
        assert msg["To"] == "sanne@example.org"
        assert msg["Subject"] == "Uitnodiging voor een gesprek: Data engineer"
        text = msg.get_body(preferencelist=("plain",)).get_content()  # type: ignore[union-attr]
        assert "dinsdag 1 december 2026 om 10:00 tot 11:00" in text
        assert "Europe/Amsterdam" in text
        assert "/s/" in text  # the signed self-service link
        assert msg["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
        ics = next(p for p in msg.iter_attachments() if p.get_content_type() == "text/calendar")
        vevent = Calendar.from_ical(ics.get_content()).walk("VEVENT")[0]
        assert vevent.decoded("dtstart") == start

        statuses = await eventually(lambda: _statuses(kafka, "sent"), what="a `sent` status on notifications.status")
        sent = statuses[0]["data"]
        assert sent["candidate_id"] == f"{unique}-c1"
        assert sent["channel"] == "email"
        assert sent["ats_event_id"] == event["id"]
        assert sent["provider_ref"] == msg["Message-ID"]

        snapshots = await read_json(kafka, PREFERENCES_CHANGED)
        assert [s["data"]["version"] for s in snapshots] == [1]
        assert snapshots[0]["data"]["channel_order"] == ["email"]


async def _mails(read: Any) -> list[dict[str, Any]]:
    return [m for m in read() if m["rcpt_tos"] == ["sanne@example.org"]]


async def _statuses(kafka: KafkaSettings, status: str) -> list[dict[str, Any]]:
    return [s for s in await read_json(kafka, NOTIFICATIONS_STATUS) if s["data"]["status"] == status]
