"""Cancel means cancel, move means move: with a clock the test moves, on the real broker and database.

An invitation held overnight (quiet hours) and then cancelled never goes out, and neither does a
notice about an interview the candidate never heard of; a reschedule replaces the held invitation by
one for the new time; a cancellation after the invitation went out is announced once, and nothing
that waited for the interview (reminders, the silence follow-up) follows it.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from schemas.common import Channel
from schemas.topics import ATS_EVENTS, dispatch_topic
from services.common.settings import KafkaSettings, MongoSettings
from tests.stacks import Running, services_running
from tests.support import Clock, ats_event, eventually, produce, read_json, statuses, wait_status

KEY = {"X-API-Key": "dev-only-api-key"}
NIGHT = datetime(2026, 12, 1, 21, 30, tzinfo=UTC)  # 22:30 in Amsterdam: SMS waits for 08:00
MORNING = datetime(2026, 12, 2, 8, 15, tzinfo=UTC)  # 09:15 in Amsterdam
PHONE = "+31612345678"


@pytest.fixture
async def stack(
    kafka: KafkaSettings, mongo: MongoSettings, tmp_path: Path, unique: str
) -> AsyncIterator[tuple[Running, Clock]]:
    clock = Clock(NIGHT)
    async with services_running(kafka, mongo, tmp_path, unique, clock=clock) as running:
        yield running, clock


async def sms_candidate(stack: Running, kafka: KafkaSettings, cid: str) -> None:
    """A candidate in Amsterdam who chose SMS (the night clock holds their SMS)."""
    await produce(kafka, ATS_EVENTS, [ats_event("ats.application.received", cid, phone=PHONE, opt_ins=("sms",))])

    async def exists() -> bool:
        return (await stack.preference.get(f"/v1/candidates/{cid}/preferences", headers=KEY)).status_code == 200

    await eventually(exists, what="the profile")
    r = await stack.preference.patch(f"/v1/candidates/{cid}/preferences", headers=KEY, json={"channel_order": ["sms"]})
    assert r.status_code == 200, r.text


def interview(kind: str, cid: str, start: datetime, sequence: int) -> dict[str, Any]:
    return ats_event(kind, cid, phone=PHONE, opt_ins=("sms",), start=start, sequence=sequence, time_=NIGHT)


async def sms_commands(kafka: KafkaSettings, cid: str) -> list[dict[str, Any]]:
    """The SMS commands after the application's acknowledgement.

    That one goes by SMS (held overnight, then released) or by e-mail, depending on whether the choice of
    SMS reached the router before the application did; either is right, and these tests are about what
    follows it.
    """
    commands = [d["data"] for d in await read_json(kafka, dispatch_topic(Channel.SMS)) if d["subject"] == cid]
    return [c for c in commands if c["stage"] != "application"]


async def test_a_held_invitation_that_is_cancelled_never_goes_out(
    stack: tuple[Running, Clock], kafka: KafkaSettings, unique: str
) -> None:
    running, clock = stack
    cid = f"{unique}-c"
    await sms_candidate(running, kafka, cid)
    start = NIGHT + timedelta(days=4)
    await produce(kafka, ATS_EVENTS, [interview("ats.interview.scheduled", cid, start, 0)])
    invite = (await wait_status(kafka, cid, "held", stage="interview_scheduling"))[0]
    assert invite["release_at"] is not None and datetime.fromisoformat(invite["release_at"]) > NIGHT
    await wait_status(kafka, cid, "held", n=2, stage="interview_reminder")

    await produce(kafka, ATS_EVENTS, [interview("ats.interview.cancelled", cid, start, 1)])
    cancelled = await wait_status(kafka, cid, "cancelled", n=3)
    assert {c["stage"] for c in cancelled} == {"interview_scheduling", "interview_reminder"}
    reason = next(c["reason"] for c in cancelled if c["notification_id"] == invite["notification_id"])
    assert "before the invitation went out" in reason

    clock.now = MORNING
    await produce(kafka, ATS_EVENTS, [ats_event("ats.stage.changed", cid, phone=PHONE, stage="screening")])
    await wait_status(kafka, cid, "queued", stage="screening")  # the router moved on past the morning
    assert [c["template"] for c in await sms_commands(kafka, cid)] == ["stage_update"]
    assert not [s for s in await statuses(kafka, cid) if s["status"] == "queued" and s["stage"].startswith("interview")]


async def test_a_reschedule_replaces_the_held_invitation_with_one_for_the_new_time(
    stack: tuple[Running, Clock], kafka: KafkaSettings, unique: str
) -> None:
    running, clock = stack
    cid = f"{unique}-r"
    await sms_candidate(running, kafka, cid)
    start, moved = NIGHT + timedelta(days=4), NIGHT + timedelta(days=5)
    await produce(kafka, ATS_EVENTS, [interview("ats.interview.scheduled", cid, start, 0)])
    old = (await wait_status(kafka, cid, "held", stage="interview_scheduling"))[0]
    await produce(kafka, ATS_EVENTS, [interview("ats.interview.rescheduled", cid, moved, 1)])
    await wait_status(kafka, cid, "cancelled", notification_id=old["notification_id"])
    new = (await wait_status(kafka, cid, "held", n=2, stage="interview_scheduling"))[-1]
    assert new["notification_id"] != old["notification_id"]

    clock.now = MORNING
    await wait_status(kafka, cid, "queued", notification_id=new["notification_id"])
    commands = await eventually(lambda: sms_commands(kafka, cid), what="the SMS command")
    assert len(commands) == 1, "one invitation, not the old one plus a 'moved' notice"
    assert commands[0]["template"] == "interview_invite"
    assert commands[0]["context"]["interview_start"].startswith(moved.isoformat()[:16])


async def test_a_cancellation_after_the_invitation_went_out_is_announced_and_ends_what_waited(
    stack: tuple[Running, Clock], kafka: KafkaSettings, unique: str
) -> None:
    running, clock = stack
    cid = f"{unique}-a"
    clock.now = MORNING
    start = MORNING + timedelta(days=4)
    await produce(
        kafka, ATS_EVENTS, [interview("ats.interview.scheduled", cid, start, 0) | {"time": MORNING.isoformat()}]
    )
    await wait_status(kafka, cid, "sent", stage="interview_scheduling")  # e-mail: no choice made
    await wait_status(kafka, cid, "held", n=2, stage="interview_reminder")
    await produce(
        kafka, ATS_EVENTS, [interview("ats.interview.cancelled", cid, start, 1) | {"time": MORNING.isoformat()}]
    )
    await wait_status(kafka, cid, "cancelled", n=2, stage="interview_reminder")
    notice = await wait_status(kafka, cid, "sent", n=2, stage="interview_scheduling")
    assert len(notice) == 2
    clock.advance(timedelta(hours=30))  # past the invitation's reply window: no follow-up for a cancelled interview
    await produce(kafka, ATS_EVENTS, [ats_event("ats.stage.changed", cid, stage="screening")])
    await wait_status(kafka, cid, "sent", stage="screening")
    later = [s for s in await statuses(kafka, cid) if s["status"] in ("queued", "needs_recruiter")]
    assert all(s["attempt"] == 1 for s in later), "no follow-up or recruiter task for the cancelled interview"
    mails = [m for m in running.mails() if m["rcpt_tos"] == ["sanne@example.org"]]
    assert len(mails) == 3  # invitation, cancellation, stage update
