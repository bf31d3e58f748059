"""What the self-service form shows for a snapshot: which channels can be used, and every field's value. Pure."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from schemas.common import Channel, ConsentState, PurposeClass, Stage
from schemas.consent import NEEDS_GRANT
from schemas.preferences import PreferenceSnapshot

ORDER_FIELDS = ("order_1", "order_2", "order_3")
STAGE_FIELDS = {f"stage_{s.value}": s for s in Stage}
APP, POOL = PurposeClass.APPLICATION, PurposeClass.TALENT_POOL

FormValues = dict[str, Any]  # field name -> str, or a tuple of str for the consent checkboxes


def available(s: PreferenceSnapshot, channel: Channel) -> bool:
    """We have a working address for this channel."""
    point = s.contacts.for_channel(channel)
    return point is not None and point.valid


def whatsapp_limits(
    s: PreferenceSnapshot, approved: Mapping[str, Iterable[str]], texts: Mapping[str, Any]
) -> str | None:
    """What the page says when WhatsApp cannot carry every message for this candidate (no approved templates).

    `approved`: message template -> languages with an approved WhatsApp template. None when all can go.
    """
    if not available(s, Channel.WHATSAPP):
        return None
    kinds = [name for name, words in texts["messages"].items() if s.language in approved.get(name, ())]
    if not kinds:
        return str(texts["whatsapp_none"])
    if len(kinds) == len(texts["messages"]):
        return None
    return str(texts["whatsapp_some"]).format(kinds=", ".join(texts["messages"][k] for k in kinds))


def allowed(s: PreferenceSnapshot, channel: Channel) -> bool:
    """We may use the channel about the candidate's own application (DESIGN 5b): what its box shows."""
    state = s.consent_for(channel, APP).state
    return state is ConsentState.GRANTED or (state is ConsentState.UNKNOWN and channel not in NEEDS_GRANT)


def in_talent_pool(s: PreferenceSnapshot) -> bool:
    """The candidate said yes to hearing about other roles on at least one usable channel."""
    return any(
        s.consent_for(c, POOL).state is ConsentState.GRANTED and s.consent_for(c, APP).state is not ConsentState.REVOKED
        for c in Channel
    )


def form_values(s: PreferenceSnapshot, now: datetime) -> FormValues:
    """The value of every form field for a snapshot (what the page shows)."""
    order = [c.value for c in s.channel_order[:3]] + ["", "", ""]
    values: FormValues = {field: order[i] for i, field in enumerate(ORDER_FIELDS)}
    for field, stage in STAGE_FIELDS.items():
        values[field] = s.stage_overrides[stage][0].value if s.stage_overrides.get(stage) else ""
    values.update(
        interview_scheduling_mode=s.interview_scheduling_mode,
        documents_mode=s.documents_mode,
        language=s.language,
        voicemail="yes" if s.voicemail else "no",
        call_times=s.preferred_call_times or "",
        quiet_start=f"{s.quiet_hours.start:%H:%M}",
        quiet_end=f"{s.quiet_hours.end:%H:%M}",
        cap_per_week=str(s.frequency_cap.per_week or ""),
        pause="keep" if s.paused_until is not None and s.paused_until > now else "none",
        pause_until=_last_paused_day(s, now),
        timezone=s.timezone,
        talent_pool="yes" if in_talent_pool(s) else "",
        consent=tuple(c.value for c in Channel if available(s, c) and allowed(s, c)),
    )
    return values


def _last_paused_day(s: PreferenceSnapshot, now: datetime) -> str:
    """The last local day of a running pause (ISO date, as a date field shows it), else empty."""
    if s.paused_until is None or s.paused_until <= now:
        return ""
    return f"{(s.paused_until.astimezone(ZoneInfo(s.timezone)) - timedelta(microseconds=1)).date():%Y-%m-%d}"
