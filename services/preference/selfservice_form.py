"""What the self-service form submitted: read the fields, refuse what the page cannot accept, parse the rest. Pure."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from datetime import date, datetime, time, timedelta
from typing import Any, get_args
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from schemas.common import Channel, Stage
from schemas.preferences import DocumentsMode, InterviewSchedulingMode, PreferenceSnapshot, QuietHours
from services.preference.selfservice_view import ORDER_FIELDS, STAGE_FIELDS, FormValues, available

PAUSES = {"1w": timedelta(days=7), "2w": timedelta(days=14), "1m": timedelta(days=30)}
_SINGLE = {*ORDER_FIELDS, *STAGE_FIELDS, "interview_scheduling_mode", "documents_mode", "language", "voicemail"}
_SINGLE |= {"call_times", "quiet_start", "quiet_end", "cap_per_week", "pause", "pause_until", "timezone", "talent_pool"}
_META = {"csrf", "page_version"}
_TIME = re.compile(r"^([01]\d|2[0-3]):[0-5]\d(:[0-5]\d)?$")


class FormError(ValueError):
    """A submitted value the page cannot accept; `key` names the message in the texts table."""

    def __init__(self, key: str) -> None:
        super().__init__(key)
        self.key = key


def read_form(items: Iterable[tuple[str, Any]]) -> FormValues:
    """The submitted fields (an absent checkbox is unticked); unknown, repeated or oversized fields are refused."""
    values: FormValues = {"talent_pool": ""}
    consent: list[str] = []
    seen: set[str] = set()
    for name, value in items:
        if not isinstance(value, str) or len(value) > 200:
            raise FormError("err_too_long")
        if name == "consent":
            consent.append(value)
        elif name.startswith("stage_") and name not in STAGE_FIELDS:
            raise FormError("err_stage")
        elif name not in _SINGLE | _META or name in seen:
            raise FormError("err_field")
        elif name not in _META:
            seen.add(name)
            values[name] = value.strip()
    values["consent"] = tuple(consent)
    return values


def pause_end(value: str, zone: str, now: datetime) -> datetime:
    """The end of a pause "up to and including <date>": the start of the next local day (within a year)."""
    try:
        last = date.fromisoformat(value)
    except ValueError:
        raise FormError("err_pause_date") from None
    end = datetime.combine(last + timedelta(days=1), time(0), ZoneInfo(zone))
    if last <= now.astimezone(ZoneInfo(zone)).date() or end > now + timedelta(days=367):
        raise FormError("err_pause_date")  # today or earlier pauses nothing; a year is the longest pause
    return end


def _channel(value: str) -> Channel:
    try:
        return Channel(value)
    except ValueError:
        raise FormError("err_channel") from None


def consent_channels(current: PreferenceSnapshot, ticked: Iterable[str]) -> set[Channel]:
    """The channels whose consent box is ticked; FormError for one the candidate cannot be reached on."""
    return {_usable(current, _channel(v), ()) for v in ticked}


def _usable(current: PreferenceSnapshot, channel: Channel, already: Iterable[Channel]) -> Channel:
    if not available(current, channel) and channel not in already:
        raise FormError("err_unavailable")
    return channel


def _order(current: PreferenceSnapshot, raw: list[str]) -> tuple[Channel, ...]:
    if not raw[0]:
        raise FormError("err_order_first")
    chosen = [_usable(current, _channel(v), current.channel_order) for v in raw if v]
    if len(set(chosen)) != len(chosen):
        raise FormError("err_order_twice")
    return (*chosen, *(c for c in current.channel_order[3:] if c not in chosen))


def _overrides(current: PreferenceSnapshot, changed: FormValues) -> dict[Stage, tuple[Channel, ...]]:
    result = dict(current.stage_overrides)
    for field in changed.keys() & STAGE_FIELDS.keys():
        stage = STAGE_FIELDS[field]
        if changed[field]:
            result[stage] = (_usable(current, _channel(changed[field]), result.get(stage, ())),)
        else:
            result.pop(stage, None)
    return result


def _time(value: str) -> time:
    if not _TIME.match(value):
        raise FormError("err_time")
    return time.fromisoformat(value)


def _timezone(value: str) -> str:
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        raise FormError("err_timezone") from None
    return value


def _one_of(*options: str) -> Callable[[str], str]:
    def check(value: str) -> str:
        if value not in options:
            raise FormError("err_value")
        return value

    return check


_SIMPLE: dict[str, Callable[[str], Any]] = {  # form field (= update field) -> parser
    "interview_scheduling_mode": _one_of(*get_args(InterviewSchedulingMode)),
    "documents_mode": _one_of(*get_args(DocumentsMode)),
    "language": _one_of("nl", "en"),
    "voicemail": lambda v: _one_of("yes", "no")(v) == "yes",
    "timezone": _timezone,
}


def update_fields(current: PreferenceSnapshot, changed: FormValues, form: FormValues, now: datetime) -> dict[str, Any]:
    """The PreferenceUpdate fields of what the candidate changed (`form`: shown values with the changes over them)."""
    update = {field: parse(changed[field]) for field, parse in _SIMPLE.items() if field in changed}
    if changed.keys() & set(ORDER_FIELDS):
        update["channel_order"] = _order(current, [form[f] for f in ORDER_FIELDS])
    if changed.keys() & STAGE_FIELDS.keys():
        update["stage_overrides"] = _overrides(current, changed)
    if changed.keys() & {"quiet_start", "quiet_end"}:
        update["quiet_hours"] = QuietHours(start=_time(form["quiet_start"]), end=_time(form["quiet_end"]))
    if "cap_per_week" in changed:
        cap = _one_of("", *(str(n) for n in range(1, 501)))(changed["cap_per_week"])
        update["frequency_cap"] = current.frequency_cap.model_copy(update={"per_week": int(cap) if cap else None})
    if changed.get("call_times"):
        update["preferred_call_times"] = changed["call_times"]
    if changed.get("pause_until"):
        update["paused_until"] = pause_end(changed["pause_until"], current.timezone, now)
    elif changed.get("pause") in PAUSES:
        update["paused_until"] = now + PAUSES[changed["pause"]]
    elif "pause" in changed:
        _one_of("keep", "none")(changed["pause"])
    return update
