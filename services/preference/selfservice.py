"""The self-service form, pure: what it shows for a snapshot, and the one new version a submit makes.

Only what the candidate changed on the page is applied (the submitted value differs from the value the
page shows for the current snapshot), so re-submitting an untouched form makes no new version.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from datetime import date, datetime, time, timedelta
from typing import Any, Literal, get_args
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import ValidationError

from schemas.common import ChangeSource, Channel, ConsentState, PurposeClass, Stage
from schemas.consent import NEEDS_GRANT
from schemas.preferences import (
    ConsentChange,
    DocumentsMode,
    InterviewSchedulingMode,
    PreferenceSnapshot,
    PreferenceUpdate,
    Provenance,
    QuietHours,
)
from services.preference.domain import Proposed, apply_update, propose, set_consent

PAGE_VERSION = "selfservice-v1"  # evidence in provenance; bump when the page's questions change
UNSUBSCRIBE_EVIDENCE = "one-click unsubscribe (RFC 8058)"
SOURCE = ChangeSource.SELF_SERVICE
ORDER_FIELDS = ("order_1", "order_2", "order_3")
STAGE_FIELDS = {f"stage_{s.value}": s for s in Stage}
PAUSES = {"1w": timedelta(days=7), "2w": timedelta(days=14), "1m": timedelta(days=30)}
_SINGLE = {*ORDER_FIELDS, *STAGE_FIELDS, "interview_scheduling_mode", "documents_mode", "language", "voicemail"}
_SINGLE |= {"call_times", "quiet_start", "quiet_end", "cap_per_week", "pause", "pause_until", "timezone", "talent_pool"}
_META = {"csrf", "page_version"}
_TIME = re.compile(r"^([01]\d|2[0-3]):[0-5]\d(:[0-5]\d)?$")
APP, POOL = PurposeClass.APPLICATION, PurposeClass.TALENT_POOL

Decision = Literal["granted", "revoked"]
FormValues = dict[str, Any]  # field name -> str, or a tuple of str for the consent checkboxes


class FormError(ValueError):
    """A submitted value the page cannot accept; `key` names the message in the texts table."""

    def __init__(self, key: str) -> None:
        super().__init__(key)
        self.key = key


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


def propose_from_form(current: PreferenceSnapshot, submitted: FormValues, now: datetime) -> Proposed | None:
    """One new version with everything the candidate changed on the page; None when nothing changed."""
    shown = form_values(current, now)
    changed = {k: v for k, v in submitted.items() if _differs(k, v, shown.get(k))}
    if not changed:
        return None
    snapshot = _apply_choices(current, changed, {**shown, **changed}, now)
    snapshot = _apply_consent(snapshot, current, changed, shown, now)
    summary = f"changed on the self-service page ({PAGE_VERSION}): {', '.join(sorted(changed))}"
    return propose(current, _fields(snapshot), SOURCE, now, summary)


def _last_paused_day(s: PreferenceSnapshot, now: datetime) -> str:
    """The last local day of a running pause (ISO date, as a date field shows it), else empty."""
    if s.paused_until is None or s.paused_until <= now:
        return ""
    return f"{(s.paused_until.astimezone(ZoneInfo(s.timezone)) - timedelta(microseconds=1)).date():%Y-%m-%d}"


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


def _differs(field: str, submitted: Any, shown: Any) -> bool:
    return set(submitted) != set(shown) if field == "consent" else submitted != shown


def _channel(value: str) -> Channel:
    try:
        return Channel(value)
    except ValueError:
        raise FormError("err_channel") from None


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


def _update_fields(current: PreferenceSnapshot, changed: FormValues, form: FormValues, now: datetime) -> dict[str, Any]:
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


def _apply_choices(
    current: PreferenceSnapshot, changed: FormValues, form: FormValues, now: datetime
) -> PreferenceSnapshot:
    fields = _update_fields(current, changed, form, now)
    try:
        step = apply_update(current, PreferenceUpdate(**fields), SOURCE, now, PAGE_VERSION) if fields else None
    except ValidationError:
        raise FormError("err_value") from None
    snapshot = step.snapshot if step else current
    # A PATCH cannot say "none": clearing a pause or the call times is stamped here, as apply_update would.
    stop = changed.get("pause") == "none" or changed.get("pause_until") == ""
    cleared = {"paused_until": "pause"} if stop and not changed.get("pause_until") else {}
    if changed.get("call_times") == "":
        cleared["preferred_call_times"] = "preferred_call_times"
    stamp = Provenance(source=SOURCE, at=now, evidence=PAGE_VERSION)
    provenance = {**snapshot.provenance, **dict.fromkeys(cleared.values(), stamp)}
    return snapshot.model_copy(update={**dict.fromkeys(cleared), "provenance": provenance}) if cleared else snapshot


def _apply_consent(
    s: PreferenceSnapshot, current: PreferenceSnapshot, changed: FormValues, shown: FormValues, now: datetime
) -> PreferenceSnapshot:
    if "consent" in changed:
        wanted = {_usable(current, _channel(v), ()) for v in changed["consent"]}
        before = {Channel(v) for v in shown["consent"]}
        for channel in Channel:
            if (channel in wanted) != (channel in before):
                s = record_consent(s, channel, APP, "granted" if channel in wanted else "revoked", PAGE_VERSION, now)
    if "talent_pool" in changed:
        join = changed["talent_pool"] == "yes"
        usable = [c for c in Channel if available(s, c) and allowed(s, c)]
        if join and not usable:
            raise FormError("err_talent_no_channel")
        for channel in usable if join else Channel:
            if join or s.consent_for(channel, POOL).state is ConsentState.GRANTED:
                s = record_consent(s, channel, POOL, "granted" if join else "revoked", PAGE_VERSION, now)
    return s


def record_consent(
    s: PreferenceSnapshot, channel: Channel, purpose: PurposeClass, state: Decision, evidence: str, now: datetime
) -> PreferenceSnapshot:
    """The snapshot with one self-service consent decision (unchanged when it already holds)."""
    if s.consent_for(channel, purpose).state.value == state:
        return s
    change = ConsentChange(channel=channel, purpose_class=purpose, state=state, source=SOURCE, evidence=evidence)
    step = set_consent(s, change, now)
    return step.snapshot if step else s


def unsubscribe(current: PreferenceSnapshot, channel: Channel, now: datetime) -> Proposed | None:
    """RFC 8058 one-click: revoke the channel (every purpose); None when it is already revoked."""
    after = record_consent(current, channel, APP, "revoked", UNSUBSCRIBE_EVIDENCE, now)
    if after is current:
        return None
    return propose(current, _fields(after), SOURCE, now, f"unsubscribed from {channel.value} ({UNSUBSCRIBE_EVIDENCE})")


def _fields(s: PreferenceSnapshot) -> dict[str, Any]:
    return s.model_dump(exclude={"version", "updated_at", "last_change_source"})
