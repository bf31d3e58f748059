"""The routing policy, table-tested: channel choice with reasons, consent, quiet hours, caps, pause, modes,
reminders. Pure functions, time as an argument."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, time, timedelta
from typing import get_args

import pytest

from schemas.common import Channel, NotificationStatus, Stage
from schemas.dispatch import TemplateName
from services.router.policy import Recent, RoutingConfig, plan_event
from tests.router.builders import event, prefs

TEMPLATES = frozenset((t, lang) for t in get_args(TemplateName) for lang in ("nl", "en"))
CFG = RoutingConfig(
    stage_map={"interview": Stage.INTERVIEW_SCHEDULING, "screening": Stage.SCREENING}, whatsapp_templates=TEMPLATES
)
# Tuesday 1 December 2026, 14:00 in Amsterdam (13:00 UTC): outside quiet hours.
DAY = datetime(2026, 12, 1, 13, 0, tzinfo=UTC)
# Same day 22:30 in Amsterdam: inside the default quiet hours (21:00-08:00).
NIGHT = datetime(2026, 12, 1, 21, 30, tzinfo=UTC)
SOON = DAY + timedelta(hours=20)  # an interview within the 48 h essential window


NOTHING_SENT = Recent()


def main_of(kind: str, p: object, now: datetime = DAY, recent: Recent = NOTHING_SENT, **kw: object):  # type: ignore[no-untyped-def]
    plan = plan_event(event(kind, time_=now, **kw), p, now, CFG, recent)  # type: ignore[arg-type]
    return plan.messages[0], plan


@pytest.mark.parametrize(
    ("name", "p", "channel", "reason"),
    [
        ("default", prefs(), Channel.EMAIL, "e-mail: the default channel; the candidate has not chosen one yet"),
        (
            "stage override with consent",
            prefs(granted=(Channel.SMS,), overrides={Stage.INTERVIEW_SCHEDULING: (Channel.SMS,)}),
            Channel.SMS,
            "SMS: the candidate chose SMS for interview scheduling on 2026-11-20 on the self-service page",
        ),
        (
            "explicit global order",
            prefs((Channel.WHATSAPP, Channel.EMAIL), granted=(Channel.WHATSAPP,), explicit=True),
            Channel.WHATSAPP,
            "WhatsApp: number 1 in the candidate's order on 2026-11-20 on the self-service page",
        ),
        (
            "override without consent falls through",
            prefs(overrides={Stage.INTERVIEW_SCHEDULING: (Channel.SMS,)}),
            Channel.EMAIL,
            "SMS skipped: no consent for SMS yet",
        ),
        (
            "revoked is never used",
            prefs((Channel.SMS, Channel.EMAIL), revoked=(Channel.SMS,), explicit=True),
            Channel.EMAIL,
            "SMS skipped: the candidate revoked consent",
        ),
        (
            "bounced address skipped",
            prefs((Channel.EMAIL,), granted=(Channel.SMS,), invalid=(Channel.EMAIL,)),
            Channel.SMS,
            "e-mail skipped: no valid e-mail address",
        ),
        (
            "affinity ranks what is open",
            prefs(granted=(Channel.WHATSAPP,), affinity={Channel.WHATSAPP: 0.8}),
            Channel.WHATSAPP,
            "WhatsApp: learned from responses (response rate 80%)",
        ),
        (
            "affinity never overrides a choice",
            prefs((Channel.EMAIL,), explicit=True, granted=(Channel.WHATSAPP,), affinity={Channel.WHATSAPP: 0.9}),
            Channel.EMAIL,
            "e-mail: number 1 in the candidate's order on 2026-11-20 on the self-service page",
        ),
    ],
)
def test_channel_choice_and_its_reason(name: str, p: object, channel: Channel, reason: str) -> None:
    msg, _ = main_of("ats.interview.scheduled", p)
    assert msg.channel is channel, name
    assert reason in msg.reasons, msg.reasons
    assert msg.state is NotificationStatus.QUEUED


def test_no_eligible_channel_means_needs_recruiter() -> None:
    msg, _ = main_of("ats.stage.changed", prefs((Channel.EMAIL,), revoked=(Channel.EMAIL,)))
    assert msg.channel is None
    assert msg.state is NotificationStatus.NEEDS_RECRUITER
    assert msg.reasons[-1].startswith("no channel left")


def test_talent_pool_messages_need_granted_consent() -> None:
    kw = {"message": {"subject": "Nieuwe rol", "body": "Interesse?", "purpose_class": "talent_pool"}}
    blocked, _ = main_of("ats.message.requested", prefs(), **kw)
    assert blocked.state is NotificationStatus.NEEDS_RECRUITER
    assert "e-mail skipped: no consent for talent-pool messages" in blocked.reasons
    allowed, _ = main_of("ats.message.requested", prefs(talent_pool=(Channel.EMAIL,)), **kw)
    assert allowed.channel is Channel.EMAIL and allowed.stage is Stage.TALENT_POOL


def test_quiet_hours_hold_intrusive_channels_until_the_window_opens() -> None:
    sms = prefs((Channel.SMS,), granted=(Channel.SMS,), explicit=True)
    held, _ = main_of("ats.stage.changed", sms, now=NIGHT)
    assert held.state is NotificationStatus.HELD and held.hold_kind == "quiet_hours"
    assert held.due_at == datetime(2026, 12, 2, 7, 0, tzinfo=UTC)  # 08:00 Amsterdam
    email, _ = main_of("ats.stage.changed", prefs(), now=NIGHT)
    assert email.state is NotificationStatus.QUEUED


def test_quiet_hours_follow_the_candidates_time_zone() -> None:
    p = prefs((Channel.SMS,), granted=(Channel.SMS,), explicit=True, timezone="America/New_York")
    msg, _ = main_of("ats.stage.changed", p, now=NIGHT)  # 16:30 in New York
    assert msg.state is NotificationStatus.QUEUED


def test_urgent_cancellation_at_night_goes_by_email_now_and_sms_in_the_morning() -> None:
    p = prefs((Channel.SMS, Channel.EMAIL), granted=(Channel.SMS,), explicit=True)
    _, plan = main_of("ats.interview.cancelled", p, now=NIGHT, start=NIGHT + timedelta(hours=12))
    sms, mail = plan.messages
    assert sms.channel is Channel.SMS and sms.state is NotificationStatus.HELD and sms.essential
    assert mail.channel is Channel.EMAIL and mail.state is NotificationStatus.QUEUED
    assert any("urgent" in r for r in mail.reasons)
    assert plan.withdraw_messages_of == "iv-1"


@pytest.mark.parametrize(
    ("kind", "kw", "essential"),
    [
        ("ats.interview.rescheduled", {"start": SOON}, True),
        ("ats.interview.rescheduled", {"start": DAY + timedelta(days=5)}, False),
        ("ats.interview.cancelled", {"start": SOON}, True),
        ("ats.offer.extended", {}, True),
        ("ats.stage.changed", {}, False),
    ],
)
def test_pause_and_caps_never_block_essential_messages(kind: str, kw: dict[str, object], essential: bool) -> None:
    paused = prefs(paused_until=DAY + timedelta(days=7))
    msg, _ = main_of(kind, paused, **kw)
    assert msg.essential is essential
    assert (msg.state is NotificationStatus.QUEUED) is essential
    capped = prefs(cap_per_day=2)
    msg, _ = main_of(kind, capped, recent=Recent(last_day=2, last_week=2), **kw)
    assert (msg.state is NotificationStatus.QUEUED) is essential
    if not essential:
        assert msg.hold_kind == "frequency_cap"


def test_essential_messages_still_respect_revocation() -> None:
    p = prefs((Channel.EMAIL,), revoked=(Channel.EMAIL,), paused_until=DAY + timedelta(days=1))
    msg, _ = main_of("ats.interview.cancelled", p, start=SOON)
    assert msg.state is NotificationStatus.NEEDS_RECRUITER


def test_scheduling_mode_picks_sms_with_options_or_a_calendar_invite() -> None:
    options = (DAY + timedelta(days=2), DAY + timedelta(days=3))
    sms = prefs((Channel.SMS,), granted=(Channel.SMS,), explicit=True, mode="sms_options")
    msg, _ = main_of("ats.interview.scheduled", sms, options=options)
    assert msg.template == "interview_slot_options" and msg.mode == "sms_options"
    cal, _ = main_of("ats.interview.scheduled", prefs(), options=options)
    assert cal.template == "interview_invite" and cal.mode == "calendar_link"


def test_reminders_are_scheduled_before_the_interview_and_past_ones_skipped() -> None:
    start = DAY + timedelta(hours=10)
    _, plan = main_of("ats.interview.scheduled", prefs(), start=start)
    reminders = [m for m in plan.messages if m.template == "interview_reminder"]
    assert [m.due_at for m in reminders] == [start - timedelta(hours=2)]  # 24 h before is already past
    assert reminders[0].state is NotificationStatus.HELD and reminders[0].hold_kind == "scheduled"
    assert reminders[0].stage is Stage.INTERVIEW_REMINDER


def test_rescheduling_moves_the_reminders() -> None:
    start = DAY + timedelta(days=4)
    _, plan = main_of("ats.interview.rescheduled", prefs(), start=start)
    assert plan.withdraw_messages_of == "iv-1"
    assert sorted(m.due_at for m in plan.messages if m.template == "interview_reminder") == [
        start - timedelta(hours=24),
        start - timedelta(hours=2),
    ]


def test_language_and_ids_are_stable() -> None:
    a, _ = main_of("ats.interview.scheduled", prefs(language="en"), event_id="ev-7")
    b, _ = main_of("ats.interview.scheduled", prefs(language="en"), event_id="ev-7")
    assert a.language == "en"
    assert a.notification_id == b.notification_id


def test_ats_stage_names_are_mapped() -> None:
    msg, _ = main_of("ats.stage.changed", prefs(), stage="Screening")
    assert msg.stage is Stage.SCREENING
    msg, _ = main_of("ats.stage.changed", prefs(), stage="Iets onbekends")
    assert msg.stage is Stage.APPLICATION


def test_quiet_window_may_be_configured_by_the_candidate() -> None:
    late = prefs((Channel.SMS,), granted=(Channel.SMS,), explicit=True, quiet=(time(23), time(7)))
    msg, _ = main_of("ats.stage.changed", late, now=NIGHT)  # 22:30: before their quiet hours
    assert msg.state is NotificationStatus.QUEUED


def test_whatsapp_without_an_approved_template_is_skipped_with_the_reason_and_flagged() -> None:
    chose_whatsapp = prefs((Channel.WHATSAPP, Channel.EMAIL), granted=(Channel.WHATSAPP,), explicit=True)
    only_invites = replace(CFG, whatsapp_templates=frozenset({("interview_invite", "nl")}))
    plan = plan_event(event("ats.stage.changed", time_=DAY), chose_whatsapp, DAY, only_invites, NOTHING_SENT)
    msg = plan.messages[0]
    assert msg.channel is Channel.EMAIL and msg.not_honoured is Channel.WHATSAPP
    assert msg.reasons[0].startswith("WhatsApp skipped: no approved WhatsApp template for stage update in nl")

    invite = plan_event(event("ats.interview.scheduled", time_=DAY), chose_whatsapp, DAY, only_invites, NOTHING_SENT)
    assert invite.messages[0].channel is Channel.WHATSAPP and invite.messages[0].not_honoured is None


def test_a_channel_nobody_chose_is_skipped_without_a_flag() -> None:
    learned = prefs(granted=(Channel.WHATSAPP,), affinity={Channel.WHATSAPP: 0.9})
    plan = plan_event(
        event("ats.stage.changed", time_=DAY), learned, DAY, replace(CFG, whatsapp_templates=frozenset()), NOTHING_SENT
    )
    assert plan.messages[0].channel is not Channel.WHATSAPP and plan.messages[0].not_honoured is None


def test_a_reminder_that_fell_due_while_we_decided_goes_out_at_once_one_due_before_the_event_not() -> None:
    told = DAY - timedelta(hours=3)  # the ATS event happened three hours ago; we decide only now
    plan = plan_event(
        event("ats.interview.scheduled", time_=told, start=DAY + timedelta(hours=1)), prefs(), DAY, CFG, NOTHING_SENT
    )
    reminders = [m for m in plan.messages if m.template == "interview_reminder"]
    assert [m.purpose_key.rsplit(":", 1)[1] for m in reminders] == ["2h"], "24 h before was before the event"
    assert reminders[0].state is NotificationStatus.QUEUED, "late, but before the interview"
    assert not [
        m
        for m in plan_event(
            event("ats.interview.scheduled", time_=told, start=DAY), prefs(), DAY, CFG, NOTHING_SENT
        ).messages
        if m.template == "interview_reminder"
    ], "no reminder for an interview that has begun"
