"""Routing decisions as pure functions: ATS event + preferences + time -> planned messages with reasons."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta

from schemas.ats import (
    AtsEvent,
    CandidateRejected,
    InterviewCancelled,
    InterviewRescheduled,
    InterviewScheduled,
    MessageRequested,
    OfferExtended,
)
from schemas.common import Channel, NotificationStatus, PurposeClass, Stage
from schemas.consent import CHANNEL_NAME
from schemas.dispatch import MessageContext, TemplateName
from schemas.ids import notification_id
from services.router.channels import choose
from services.router.prefs import RoutingPrefs
from services.router.timing import Hold, cap_hold, pause_hold, quiet_hold

H = timedelta(hours=1)


@dataclass(frozen=True)
class RoutingConfig:
    """Tunable routing rules (built from the router's settings)."""

    stage_map: Mapping[str, Stage] = field(default_factory=dict)
    default_stage: Stage = Stage.APPLICATION
    default_order: tuple[Channel, ...] = (Channel.EMAIL,)
    reminder_offsets: tuple[timedelta, ...] = (24 * H, 2 * H)
    reply_windows: Mapping[Stage, timedelta] = field(
        default_factory=lambda: {Stage.INTERVIEW_SCHEDULING: 24 * H, Stage.DOCUMENTS: 48 * H}
    )
    essential_window: timedelta = 48 * H
    max_follow_ups: int = 1
    # (message template, language) pairs with an approved WhatsApp template: outside the 24-hour window that a
    # candidate's own message opens, WhatsApp carries nothing else. The router cannot see that window, so it
    # counts on templates only and says so when WhatsApp cannot be used.
    whatsapp_templates: frozenset[tuple[str, str]] = frozenset()

    def unable(self, template: str, language: str) -> Callable[[Channel], str | None]:
        """Why a channel cannot carry a message of this template and language (None: it can)."""

        def gap(channel: Channel) -> str | None:
            if channel is not Channel.WHATSAPP or (template, language) in self.whatsapp_templates:
                return None
            return (
                f"WhatsApp skipped: no approved WhatsApp template for {template.replace('_', ' ')} in {language} "
                "(WhatsApp takes free text only within 24 hours of the candidate's own message)"
            )

        return gap

    def map_stage(self, ats_stage: str) -> Stage:
        """The ATS's stage name on our stages (case-insensitive; unknown names fall back)."""
        key = ats_stage.strip().lower()
        if key in self.stage_map:
            return self.stage_map[key]
        try:
            return Stage(key.replace(" ", "_"))
        except ValueError:
            return self.default_stage


@dataclass(frozen=True)
class Recent:
    """Non-essential messages already sent to the candidate (for frequency caps)."""

    last_day: int = 0
    last_week: int = 0


@dataclass(frozen=True)
class Planned:
    """One message as decided: its identity, channel or none, state, timing and reasons."""

    notification_id: str
    ats_event_id: str
    purpose_key: str
    candidate_id: str
    application_id: str | None
    interview_id: str | None
    stage: Stage
    purpose_class: PurposeClass
    template: TemplateName
    attempt: int
    channel: Channel | None
    state: NotificationStatus
    due_at: datetime | None
    hold_kind: str | None
    reasons: tuple[str, ...]
    essential: bool
    reply_expected: bool
    language: str
    mode: str | None
    voicemail: bool
    context: MessageContext
    event_time: datetime
    not_honoured: Channel | None = None  # the candidate's first choice, which could not carry this message


@dataclass(frozen=True)
class Plan:
    """Everything one ATS event leads to."""

    messages: tuple[Planned, ...] = ()
    # Interview whose held, scheduled and awaiting-reply messages are void (moved or cancelled): invitation,
    # reminders, follow-ups. The messages of this plan replace them.
    withdraw_messages_of: str | None = None


@dataclass(frozen=True)
class Intent:
    """What a message is for, before any channel is chosen."""

    ats_event_id: str
    purpose_key: str
    candidate_id: str
    application_id: str | None
    interview_id: str | None
    stage: Stage
    purpose_class: PurposeClass
    template: TemplateName
    essential: bool
    reply_expected: bool
    context: MessageContext
    event_time: datetime
    attempt: int = 1


def _mode(prefs: RoutingPrefs, stage: Stage) -> str | None:
    if stage is Stage.INTERVIEW_SCHEDULING:
        return prefs.scheduling_mode
    if stage is Stage.DOCUMENTS:
        return prefs.documents_mode
    return None


def decide(
    intent: Intent,
    prefs: RoutingPrefs,
    now: datetime,
    cfg: RoutingConfig,
    recent: Recent,
    exclude: frozenset[Channel] = frozenset(),
    due_at: datetime | None = None,
) -> Planned:
    """Choose channel and timing for one intent (also used to re-decide held messages)."""
    unable = cfg.unable(intent.template, prefs.language)
    choice = choose(prefs, intent.stage, intent.purpose_class, cfg.default_order, exclude, unable)
    hold: Hold | None = None
    if choice.channel is not None and due_at is not None and due_at > now:
        hold = Hold(due_at, f"scheduled for {due_at.isoformat(timespec='minutes')}", "scheduled")
    if choice.channel is not None and hold is None and not intent.essential:
        hold = pause_hold(prefs, now) or cap_hold(prefs, now, recent.last_day, recent.last_week)
    if choice.channel is not None and hold is None:
        hold = quiet_hold(prefs, choice.channel, now)
    state = NotificationStatus.QUEUED if hold is None else NotificationStatus.HELD
    if choice.channel is None:
        state = NotificationStatus.NEEDS_RECRUITER
    template = intent.template
    mode = _mode(prefs, intent.stage)
    if template == "interview_invite" and mode == "sms_options" and intent.context.slot_options:
        template = "interview_slot_options" if choice.channel in (Channel.SMS, Channel.WHATSAPP) else template
    return Planned(
        notification_id=notification_id(intent.ats_event_id, intent.purpose_key, intent.attempt),
        ats_event_id=intent.ats_event_id,
        purpose_key=intent.purpose_key,
        candidate_id=intent.candidate_id,
        application_id=intent.application_id,
        interview_id=intent.interview_id,
        stage=intent.stage,
        purpose_class=intent.purpose_class,
        template=template,
        attempt=intent.attempt,
        channel=choice.channel,
        state=state,
        due_at=hold.until if hold else None,
        hold_kind=hold.kind if hold else None,
        reasons=choice.reasons + ((hold.reason,) if hold else ()),
        essential=intent.essential,
        reply_expected=intent.reply_expected,
        language=prefs.language,
        mode=mode,
        voicemail=prefs.voicemail,
        context=intent.context,
        event_time=intent.event_time,
        not_honoured=choice.not_honoured,
    )


def _context(event: AtsEvent, prefs: RoutingPrefs) -> MessageContext:
    d = event.data
    ctx: dict[str, object] = {
        "candidate_name": d.candidate.name,
        "job_title": d.application.job_title,
        "timezone": prefs.timezone,
        "preferred_call_times": prefs.call_times,
    }
    if isinstance(event, InterviewScheduled | InterviewRescheduled | InterviewCancelled):
        iv = event.data.interview
        ctx.update(
            interview_id=iv.id,
            interview_start=iv.start,
            interview_end=iv.end,
            interview_location=iv.location,
            interview_video_link=iv.video_link,
            interview_sequence=iv.sequence,
            slot_options=iv.options,
        )
    if isinstance(event, OfferExtended):
        ctx["offer_deadline"] = event.data.offer.deadline
    if isinstance(event, MessageRequested):
        ctx.update(subject=event.data.message.subject, body=event.data.message.body)
    if isinstance(event, CandidateRejected):
        ctx["talent_pool_invite"] = event.data.talent_pool_invite
    return MessageContext.model_validate(ctx)


_EVENT_TEMPLATES: dict[str, tuple[TemplateName, Stage | None]] = {
    "ats.application.received": ("application_received", Stage.APPLICATION),
    "ats.stage.changed": ("stage_update", None),
    "ats.interview.scheduled": ("interview_invite", Stage.INTERVIEW_SCHEDULING),
    "ats.interview.rescheduled": ("interview_rescheduled", Stage.INTERVIEW_SCHEDULING),
    "ats.interview.cancelled": ("interview_cancelled", Stage.INTERVIEW_SCHEDULING),
    "ats.offer.extended": ("offer_extended", Stage.OFFER),
    "ats.candidate.rejected": ("rejection", Stage.REJECTION),
    "ats.candidate.hired": ("hired", Stage.OFFER),
    "ats.message.requested": ("free_message", None),
}
_REPLY_TEMPLATES = frozenset({"interview_invite", "interview_rescheduled", "stage_update", "free_message"})


def is_essential(event: AtsEvent, now: datetime, cfg: RoutingConfig) -> bool:
    """DESIGN 5b: a cancellation or reschedule within 48 h, an offer with a deadline."""
    if isinstance(event, InterviewCancelled | InterviewRescheduled):
        return event.data.interview.start - now <= cfg.essential_window
    if isinstance(event, OfferExtended):
        return event.data.offer.deadline is not None
    return False


INVITES: frozenset[TemplateName] = frozenset({"interview_invite", "interview_slot_options"})


def stage_of(event: AtsEvent, cfg: RoutingConfig) -> Stage:
    """Our stage of the event's main message."""
    stage = _EVENT_TEMPLATES[event.type][1] or cfg.map_stage(event.data.application.stage)
    if isinstance(event, MessageRequested) and event.data.message.purpose_class is PurposeClass.TALENT_POOL:
        return Stage.TALENT_POOL
    return stage


def intent_for(
    event: AtsEvent, prefs: RoutingPrefs, now: datetime, cfg: RoutingConfig, invite_unsent: bool = False
) -> Intent:
    """What the event's main message is for (a reschedule of an invitation still held is a new invitation)."""
    template = _EVENT_TEMPLATES[event.type][0]
    if invite_unsent and isinstance(event, InterviewRescheduled):
        template = "interview_invite"
    stage = stage_of(event, cfg)
    purpose = event.data.message.purpose_class if isinstance(event, MessageRequested) else PurposeClass.APPLICATION
    reply = template in _REPLY_TEMPLATES and stage in cfg.reply_windows
    interview_id = (
        event.data.interview.id
        if isinstance(event, InterviewScheduled | InterviewRescheduled | InterviewCancelled)
        else None
    )
    return Intent(
        ats_event_id=event.id,
        purpose_key=template,
        candidate_id=event.subject,
        application_id=event.data.application.id,
        interview_id=interview_id,
        stage=stage,
        purpose_class=purpose,
        template=template,
        essential=is_essential(event, now, cfg),
        reply_expected=reply,
        context=_context(event, prefs),
        event_time=event.time,
    )


def _reminders(
    event: InterviewScheduled | InterviewRescheduled,
    base: Intent,
    prefs: RoutingPrefs,
    now: datetime,
    cfg: RoutingConfig,
    recent: Recent,
) -> list[Planned]:
    out: list[Planned] = []
    if event.data.interview.start <= now:
        return out
    for offset in cfg.reminder_offsets:
        due = event.data.interview.start - offset
        # A reminder whose moment had passed when the ATS told us is not sent; one whose moment passed while
        # we were deciding (a slow view, a restart) goes out at once: late, but before the interview. (An event
        # time ahead of our clock counts as now.)
        if due <= min(event.time, now):
            continue
        hours = int(offset.total_seconds() // 3600)
        intent = replace(
            base,
            purpose_key=f"reminder:{event.data.interview.id}:{hours}h",
            stage=Stage.INTERVIEW_REMINDER,
            template="interview_reminder",
            essential=False,
            reply_expected=False,
        )
        out.append(decide(intent, prefs, now, cfg, recent, due_at=due))
    return out


def plan_event(
    event: AtsEvent,
    prefs: RoutingPrefs,
    now: datetime,
    cfg: RoutingConfig,
    recent: Recent,
    invite_unsent: bool = False,
) -> Plan:
    """Everything an ATS event leads to: the message, an urgent copy, reminders, what to drop.

    `invite_unsent`: the interview's invitation is still held (never went out). A reschedule then
    supersedes it with an invitation for the new time; a cancellation withdraws it and tells the
    candidate nothing, since they never heard of the interview.
    """
    withdrawn = event.data.interview.id if isinstance(event, InterviewCancelled | InterviewRescheduled) else None
    if invite_unsent and isinstance(event, InterviewCancelled):
        return Plan(withdraw_messages_of=withdrawn)
    intent = intent_for(event, prefs, now, cfg, invite_unsent)
    main = decide(intent, prefs, now, cfg, recent)
    messages = [main]
    if main.hold_kind == "quiet_hours" and intent.essential:
        # Urgent and the candidate's channel sleeps: e-mail or the portal may carry it now.
        urgent = decide(
            replace(intent, purpose_key=intent.purpose_key + ":urgent"),
            prefs,
            now,
            cfg,
            recent,
            exclude=frozenset({Channel.SMS, Channel.WHATSAPP, Channel.VOICE}),
        )
        if urgent.state is NotificationStatus.QUEUED and urgent.channel is not None:
            why = f"urgent: sent now by {CHANNEL_NAME[urgent.channel]} because the preferred channel is in quiet hours"
            messages.append(replace(urgent, reasons=(*urgent.reasons, why)))
    if isinstance(event, InterviewScheduled | InterviewRescheduled):
        messages.extend(_reminders(event, intent, prefs, now, cfg, recent))
    return Plan(messages=tuple(messages), withdraw_messages_of=withdrawn)
