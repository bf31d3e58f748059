"""When a message may go out: quiet hours, pause and frequency caps. Pure; `now` is always an argument."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from schemas.common import Channel
from schemas.consent import CHANNEL_NAME
from services.router.prefs import RoutingPrefs

# Channels that wake a phone: they wait for the end of quiet hours; e-mail and the portal do not.
INTRUSIVE = frozenset({Channel.SMS, Channel.WHATSAPP, Channel.VOICE})


@dataclass(frozen=True)
class Hold:
    """Not now: release at `until` (then decide again), for `reason`."""

    until: datetime
    reason: str
    kind: str  # quiet_hours | pause | frequency_cap


def _hhmm(minutes: int) -> str:
    return f"{minutes // 60:02d}:{minutes % 60:02d}"


def quiet_hours_end(prefs: RoutingPrefs, now: datetime) -> datetime | None:
    """The end of the quiet window if `now` is inside it (candidate's local time), else None."""
    start, end = prefs.quiet_start_min, prefs.quiet_end_min
    if start == end:
        return None
    tz = ZoneInfo(prefs.timezone)
    local = now.astimezone(tz)
    minute = local.hour * 60 + local.minute
    inside = start <= minute < end if start < end else (minute >= start or minute < end)
    if not inside:
        return None
    end_day = local.date()
    if start > end and minute >= start:
        end_day += timedelta(days=1)
    end_local = datetime(end_day.year, end_day.month, end_day.day, end // 60, end % 60, tzinfo=tz)
    return end_local.astimezone(UTC)


def quiet_hold(prefs: RoutingPrefs, channel: Channel, now: datetime) -> Hold | None:
    """Intrusive channels wait for the end of quiet hours."""
    if channel not in INTRUSIVE:
        return None
    until = quiet_hours_end(prefs, now)
    if until is None:
        return None
    window = f"{_hhmm(prefs.quiet_start_min)}-{_hhmm(prefs.quiet_end_min)}"
    return Hold(
        until,
        f"held: quiet hours ({window} {prefs.timezone}); {CHANNEL_NAME[channel]} waits until "
        f"{_hhmm(prefs.quiet_end_min)}",
        "quiet_hours",
    )


def pause_hold(prefs: RoutingPrefs, now: datetime) -> Hold | None:
    """The candidate paused non-essential messages."""
    if prefs.paused_until and prefs.paused_until > now.timestamp():
        until = datetime.fromtimestamp(prefs.paused_until, UTC)
        return Hold(until, f"held: the candidate paused messages until {until.date().isoformat()}", "pause")
    return None


def cap_hold(prefs: RoutingPrefs, now: datetime, sent_last_day: int, sent_last_week: int) -> Hold | None:
    """The candidate's frequency cap is reached; look again in an hour (the windows roll)."""
    if prefs.cap_per_day and sent_last_day >= prefs.cap_per_day:
        return Hold(now + timedelta(hours=1), f"held: at most {prefs.cap_per_day} messages a day", "frequency_cap")
    if prefs.cap_per_week and sent_last_week >= prefs.cap_per_week:
        return Hold(now + timedelta(hours=6), f"held: at most {prefs.cap_per_week} messages a week", "frequency_cap")
    return None


def duration_words(span: timedelta) -> str:
    """'45 min', '24 h', '1 h 30 min', '3 days' (a reply window under an hour is not '0 h')."""
    minutes = max(1, round(span.total_seconds() / 60))
    days, rest = divmod(minutes, 24 * 60)
    if days > 1 and not rest:
        return f"{days} day" + ("s" if days > 1 else "")
    hours, mins = divmod(minutes, 60)
    if not hours:
        return f"{mins} min"
    return f"{hours} h" + (f" {mins} min" if mins else "")
