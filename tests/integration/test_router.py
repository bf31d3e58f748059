"""The router on the real broker and database, with a clock the test moves: holds and releases,
pending messages following a preference change, fallback on bounce, silence follow-up, reminders,
out-of-order and duplicate events."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from aiokafka import AIOKafkaProducer

from schemas.common import Channel
from schemas.partitioning import partition_for
from schemas.status import DISPATCH_REF_HEADER, STATUS_HEADER, NotificationStatusEvent, StatusChange, dispatch_ref
from schemas.topics import ATS_EVENTS, NOTIFICATIONS_STATUS, dispatch_topic
from services.common.kafka import aiokafka_kwargs
from services.common.settings import KafkaSettings, MongoSettings
from tests.stacks import Running, services_running
from tests.support import Clock, ats_event, eventually, produce, read_json, statuses, wait_status

KEY = {"X-API-Key": "dev-only-api-key"}
NIGHT = datetime(2026, 12, 1, 21, 30, tzinfo=UTC)  # 22:30 in Amsterdam, inside quiet hours
DAY = datetime(2026, 12, 1, 10, 0, tzinfo=UTC)  # 11:00 in Amsterdam


@pytest.fixture
async def stack_at(
    kafka: KafkaSettings, mongo: MongoSettings, tmp_path: Path, unique: str, request: pytest.FixtureRequest
) -> AsyncIterator[tuple[Running, Clock]]:
    clock = Clock(getattr(request, "param", DAY))
    async with services_running(kafka, mongo, tmp_path, unique, clock=clock) as stack:
        yield stack, clock


async def candidate(stack: Running, kafka: KafkaSettings, cid: str, **kw: Any) -> None:
    """Create the profile through the ATS and wait for it."""
    await produce(kafka, ATS_EVENTS, [ats_event("ats.application.received", cid, **kw)])

    async def exists() -> bool:
        return (await stack.preference.get(f"/v1/candidates/{cid}/preferences", headers=KEY)).status_code == 200

    await eventually(exists, what=f"profile {cid}")
    await wait_status(kafka, cid, "sent")  # its acknowledgement e-mail went out


async def choose(stack: Running, cid: str, **changes: Any) -> int:
    r = await stack.preference.patch(f"/v1/candidates/{cid}/preferences", headers=KEY, json=changes)
    assert r.status_code == 200, r.text
    return int(r.json()["version"])


@pytest.mark.parametrize("stack_at", [NIGHT], indirect=True)
async def test_held_sms_follows_the_candidate_to_email_when_they_change_their_mind(
    stack_at: tuple[Running, Clock], kafka: KafkaSettings, unique: str
) -> None:
    stack, _ = stack_at
    cid = f"{unique}-q"
    await candidate(stack, kafka, cid, phone="+31612345678", opt_ins=("sms",))
    await choose(stack, cid, channel_order=["sms", "email"])
    await produce(
        kafka,
        ATS_EVENTS,
        [ats_event("ats.stage.changed", cid, stage="screening", phone="+31612345678", opt_ins=("sms",))],
    )
    held = (await wait_status(kafka, cid, "held", channel="sms"))[0]
    assert "quiet hours" in held["reason"]

    await choose(stack, cid, channel_order=["email", "sms"])  # the candidate now prefers e-mail
    # The same message (one id, whatever channel carries it), released at once on e-mail: no quiet hours there.
    queued = (await wait_status(kafka, cid, "queued", notification_id=held["notification_id"]))[0]
    assert queued["channel"] == "email"
    assert queued["reason"].startswith("e-mail: number 1 in the candidate's order")
    sent = await wait_status(kafka, cid, "sent", notification_id=held["notification_id"])
    assert sent[0]["channel"] == "email" and sent[0]["ats_event_id"] == held["ats_event_id"]
    assert not [d for d in await read_json(kafka, dispatch_topic(Channel.SMS)) if d["subject"] == cid]
    assert not await statuses_of(kafka, cid, "cancelled")


@pytest.mark.parametrize("stack_at", [NIGHT], indirect=True)
async def test_a_held_message_follows_a_new_channel_while_it_is_still_held(
    stack_at: tuple[Running, Clock], kafka: KafkaSettings, unique: str
) -> None:
    stack, clock = stack_at
    cid = f"{unique}-v"
    await candidate(stack, kafka, cid, phone="+31612345678", opt_ins=("sms", "voice"))
    await choose(stack, cid, channel_order=["sms"])
    await produce(
        kafka,
        ATS_EVENTS,
        [ats_event("ats.stage.changed", cid, stage="screening", phone="+31612345678", opt_ins=("sms", "voice"))],
    )
    held = (await wait_status(kafka, cid, "held", channel="sms"))[0]
    await choose(stack, cid, channel_order=["voice", "sms"])  # a call instead: quiet hours hold it too
    clock.advance(timedelta(hours=9, minutes=45))  # 08:15 in Amsterdam
    queued = (await wait_status(kafka, cid, "queued", notification_id=held["notification_id"]))[0]
    assert queued["channel"] == "voice"
    calls = await eventually(lambda: _dispatched(kafka, cid, Channel.VOICE, 1), what="the call command")
    assert [c["data"]["notification_id"] for c in calls] == [held["notification_id"]]
    assert not await _dispatched(kafka, cid, Channel.SMS, 1)


@pytest.mark.parametrize("stack_at", [NIGHT], indirect=True)
async def test_held_messages_are_released_once_when_quiet_hours_end(
    stack_at: tuple[Running, Clock], kafka: KafkaSettings, unique: str
) -> None:
    stack, clock = stack_at
    cid = f"{unique}-r"
    await candidate(stack, kafka, cid, phone="+31612345678", opt_ins=("sms",))
    await choose(stack, cid, channel_order=["sms"])
    await produce(
        kafka,
        ATS_EVENTS,
        [ats_event("ats.stage.changed", cid, stage="screening", phone="+31612345678", opt_ins=("sms",))],
    )
    held = (await wait_status(kafka, cid, "held", channel="sms"))[0]
    clock.advance(timedelta(hours=9, minutes=45))  # 08:15 in Amsterdam
    queued = (await wait_status(kafka, cid, "queued", notification_id=held["notification_id"]))[0]
    assert queued["channel"] == "sms"
    commands = await eventually(lambda: _dispatched(kafka, cid, Channel.SMS, 1), what="the SMS command")
    clock.advance(timedelta(minutes=5))
    await wait_status(kafka, cid, "queued", notification_id=held["notification_id"])
    assert len(await _dispatched(kafka, cid, Channel.SMS, 1) or []) == len(commands) == 1


async def _dispatched(kafka: KafkaSettings, cid: str, channel: Channel, n: int) -> list[dict[str, Any]] | None:
    found = [d for d in await read_json(kafka, dispatch_topic(channel)) if d["subject"] == cid]
    return found if len(found) >= n else None


async def test_a_bounce_falls_back_to_the_next_channel_at_once(
    stack_at: tuple[Running, Clock], kafka: KafkaSettings, unique: str
) -> None:
    cid = f"{unique}-b"
    await produce(
        kafka,
        ATS_EVENTS,
        [
            ats_event(
                "ats.interview.scheduled", cid, email="bounce-me@example.org", phone="+31612345678", opt_ins=("sms",)
            )
        ],
    )
    bounced = (await wait_status(kafka, cid, "bounced", channel="email"))[0]
    assert "550" in bounced["reason"]
    fallback = (await wait_status(kafka, cid, "queued", channel="sms"))[0]
    assert fallback["attempt"] == 2 and fallback["ats_event_id"] == bounced["ats_event_id"]
    assert fallback["reason"].startswith("fallback after bounced on email")
    command = (await eventually(lambda: _dispatched(kafka, cid, Channel.SMS, 1), what="SMS command"))[0]["data"]
    assert command["template"] == "interview_invite" and command["attempt"] == 2


async def test_a_failure_whose_command_is_gone_goes_to_a_recruiter(
    stack_at: tuple[Running, Clock], kafka: KafkaSettings, unique: str
) -> None:
    # The router keeps no copy of what went out: a failure's fallback is decided from the command the notifier's
    # report points at. One that points past the topic's end (a command older than its retention) cannot be
    # decided again, and is handed to a recruiter rather than dropped.
    stack, _ = stack_at
    cid = f"{unique}-g"
    await candidate(stack, kafka, cid, phone="+31612345678", opt_ins=("sms",))
    sent = (await wait_status(kafka, cid, "sent", channel="email"))[0]
    failed = StatusChange.model_validate(sent | {"status": "failed", "reason": "provider refused (test)"})
    event = NotificationStatusEvent(
        id=f"{failed.notification_id}:failed", source="urn:test", time=DAY, subject=cid, data=failed
    )
    partition = partition_for(cid, kafka.partitions)
    producer = AIOKafkaProducer(**aiokafka_kwargs(kafka))
    await producer.start()
    try:
        await producer.send_and_wait(
            kafka.topic(NOTIFICATIONS_STATUS),
            event.model_dump_json().encode(),
            key=cid.encode(),
            partition=partition,
            headers=[(STATUS_HEADER, b"failed"), (DISPATCH_REF_HEADER, dispatch_ref(partition, 10**9).encode())],
        )
    finally:
        await producer.stop()
    recruiter = (await wait_status(kafka, cid, "needs_recruiter", notification_id=sent["notification_id"]))[0]
    assert "no longer on the dispatch topic" in recruiter["reason"] and recruiter["channel"] == "email"
    assert not await statuses_of(kafka, cid, "queued", channel="sms")


async def test_silence_gets_one_follow_up_then_a_recruiter(
    stack_at: tuple[Running, Clock], kafka: KafkaSettings, unique: str
) -> None:
    stack, clock = stack_at
    cid = f"{unique}-s"
    await produce(
        kafka,
        ATS_EVENTS,
        [
            ats_event(
                "ats.interview.scheduled", cid, phone="+31612345678", opt_ins=("sms",), start=DAY + timedelta(days=5)
            )
        ],
    )
    invite = (await wait_status(kafka, cid, "sent", channel="email"))[0]
    clock.advance(timedelta(hours=25))
    follow_up = (await wait_status(kafka, cid, "queued", channel="sms"))[0]
    assert "no reply within 24 h" in follow_up["reason"]
    command = (await eventually(lambda: _dispatched(kafka, cid, Channel.SMS, 1), what="follow-up"))[0]["data"]
    assert command["template"] == "follow_up" and command["context"]["interview_id"] == "iv-1"
    clock.advance(timedelta(hours=25))
    recruiter = (await wait_status(kafka, cid, "needs_recruiter"))[0]
    assert "also after a follow-up" in recruiter["reason"]
    assert invite["notification_id"] != recruiter["notification_id"]
    worklist = await eventually(lambda: _worklist(stack, cid), what="the worklist item")
    assert worklist[0]["kind"] == "needs_recruiter"


async def _worklist(stack: Running, cid: str) -> list[dict[str, Any]] | None:
    store = stack.notifier._transport.app.state.store  # type: ignore[attr-defined]
    items = [i for i in await store.worklist() if i["candidate_id"] == cid]
    return items or None


async def test_reminders_go_out_on_time_and_move_with_a_reschedule(
    stack_at: tuple[Running, Clock], kafka: KafkaSettings, unique: str
) -> None:
    stack, clock = stack_at
    cid = f"{unique}-m"
    start = DAY + timedelta(days=3)
    await produce(kafka, ATS_EVENTS, [ats_event("ats.interview.scheduled", cid, start=start)])
    reminders = await wait_status(kafka, cid, "held", n=2, stage="interview_reminder")
    moved = start + timedelta(days=1)
    await produce(kafka, ATS_EVENTS, [ats_event("ats.interview.rescheduled", cid, start=moved, sequence=1)])
    for r in reminders:
        await wait_status(kafka, cid, "cancelled", notification_id=r["notification_id"])
    await wait_status(kafka, cid, "held", n=4, stage="interview_reminder")
    clock.now = moved - timedelta(hours=23)
    sent = await wait_status(kafka, cid, "sent", stage="interview_reminder")
    assert sent[0]["notification_id"] not in {r["notification_id"] for r in reminders}
    mails = [m for m in stack.mails() if m["rcpt_tos"] == ["sanne@example.org"]]
    assert sum("herinnering" in (m["subject"] or "").lower() for m in mails) == 1


async def test_out_of_order_and_duplicate_events_are_handled_explicitly(
    stack_at: tuple[Running, Clock], kafka: KafkaSettings, unique: str
) -> None:
    stack, _ = stack_at
    cid = f"{unique}-o"
    moved = ats_event("ats.interview.rescheduled", cid, sequence=2, start=DAY + timedelta(days=6))
    stale = ats_event("ats.interview.scheduled", cid, sequence=1, start=DAY + timedelta(days=4))
    await produce(kafka, ATS_EVENTS, [moved, moved, stale])  # a duplicate, then an older version
    await wait_status(kafka, cid, "sent", stage="interview_scheduling")
    await produce(kafka, ATS_EVENTS, [ats_event("ats.stage.changed", cid, stage="screening")])
    await wait_status(kafka, cid, "sent", stage="screening")  # everything before it was handled
    sent = [s for s in await statuses(kafka, cid) if s["status"] == "sent" and s["stage"] == "interview_scheduling"]
    # The duplicate may repeat the `sent` state (idempotent, same notification id); it never sends twice.
    assert {(s["ats_event_id"], s["notification_id"]) for s in sent} == {(moved["id"], sent[0]["notification_id"])}
    mails = [m for m in stack.mails() if m["notification_id"] == sent[0]["notification_id"]]
    assert len(mails) == 1
    metrics = (await stack.router.get("/metrics")).text
    assert "router_stale_events_total 1.0" in metrics


async def statuses_of(kafka: KafkaSettings, cid: str, status: str, **match: Any) -> list[dict[str, Any]]:
    found = [s for s in await statuses(kafka, cid) if s["status"] == status]
    return [s for s in found if all(s.get(k) == v for k, v in match.items())]
