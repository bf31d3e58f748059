"""The self-service form, pure: what it shows for a snapshot, and the one new version a submit makes.

Only what the candidate changed on the page is applied (the submitted value differs from the value the
page shows for the current snapshot), so re-submitting an untouched form makes no new version.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import datetime, time, timedelta
from typing import Any, get_args
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import ValidationError

from schemas.common import ChangeSource, Channel, ConsentState, PurposeClass, Stage
from schemas.consent import NEEDS_GRANT
from schemas.preferences import (
    ConsentChange,
    DocumentsMode,
    FrequencyCap,
    InterviewSchedulingMode,
    PreferenceSnapshot,
    PreferenceUpdate,
    Provenance,
    QuietHours,
)
from services.preference.domain import Proposed, apply_update, propose, set_consent

PAGE_VERSION = "selfservice-v1"  # evidence in provenance; bump when the page's questions change
SOURCE = ChangeSource.SELF_SERVICE
ORDER_FIELDS = ("order_1", "order_2", "order_3")
STAGE_FIELDS = {f"stage_{s.value}": s for s in Stage}
PAUSES = {"1w": timedelta(days=7), "2w": timedelta(days=14), "1m": timedelta(days=30)}
_CHOICES: dict[str, tuple[str, tuple[Any, ...]]] = {  # form field -> (update field, allowed values)
    "interview_scheduling_mode": ("interview_scheduling_mode", get_args(InterviewSchedulingMode)),
    "documents_mode": ("documents_mode", get_args(DocumentsMode)),
    "language": ("language", ("nl", "en")),
}
_SINGLE = {*ORDER_FIELDS, *STAGE_FIELDS, *_CHOICES, "voicemail", "call_times", "quiet_start", "quiet_end"}
_SINGLE |= {"cap_per_week", "pause", "timezone", "talent_pool"}
_META = {"csrf", "page_version"}
_TIME = re.compile(r"^([01]\d|2[0-3]):[0-5]\d(:[0-5]\d)?$")
APP, POOL = PurposeClass.APPLICATION, PurposeClass.TALENT_POOL

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
        timezone=s.timezone,
        talent_pool="yes" if in_talent_pool(s) else "",
        consent=tuple(c.value for c in Channel if available(s, c) and allowed(s, c)),
    )
    return values


def read_form(items: Iterable[tuple[str, Any]]) -> FormValues:
    """The submitted fields (an absent checkbox is unticked); unknown, repeated or oversized fields are refused."""
    values: FormValues = {"talent_pool": ""}
    consent: list[str] = []
    for name, value in items:
        if not isinstance(value, str) or len(value) > 200:
            raise FormError("err_too_long")
        if name == "consent":
            consent.append(value)
        elif name.startswith("stage_") and name not in STAGE_FIELDS:
            raise FormError("err_stage")
        elif name not in _SINGLE | _META or (name in values and name != "talent_pool"):
            raise FormError("err_field")
        elif name not in _META:
            values[name] = value.strip()
    values["consent"] = tuple(consent)
    return values


def propose_from_form(current: PreferenceSnapshot, submitted: FormValues, now: datetime) -> Proposed | None:
    """One new version with everything the candidate changed on the page; None when nothing changed."""
    shown = form_values(current, now)
    changed = {k: v for k, v in submitted.items() if _differs(k, v, shown.get(k))}
    if not changed:
        return None
    snapshot = _apply_choices(current, changed, shown, now)
    snapshot = _apply_consent(snapshot, current, changed, shown, now)
    fields = snapshot.model_dump(exclude={"version", "updated_at", "last_change_source"})
    summary = f"changed on the self-service page ({PAGE_VERSION}): {', '.join(sorted(changed))}"
    return propose(current, fields, SOURCE, now, summary)


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


def _cap(current: PreferenceSnapshot, value: str) -> FrequencyCap:
    if value and not (value.isdigit() and 1 <= int(value) <= 500):
        raise FormError("err_value")
    return current.frequency_cap.model_copy(update={"per_week": int(value) if value else None})


def _update_fields(current: PreferenceSnapshot, changed: FormValues, shown: FormValues, now: datetime) -> dict[str, Any]:
    update: dict[str, Any] = {}
    if changed.keys() & set(ORDER_FIELDS):
        update["channel_order"] = _order(current, [changed.get(f, shown[f]) for f in ORDER_FIELDS])
    if changed.keys() & STAGE_FIELDS.keys():
        update["stage_overrides"] = _overrides(current, changed)
    for field, (target, options) in _CHOICES.items():
        if field in changed and changed[field] not in options:
            raise FormError("err_value")
        if field in changed:
            update[target] = changed[field]
    if "voicemail" in changed:
        update["voicemail"] = {"yes": True, "no": False}.get(changed["voicemail"])
        if update["voicemail"] is None:
            raise FormError("err_value")
    if changed.keys() & {"quiet_start", "quiet_end"}:
        start, end = (_time(changed.get(f, shown[f])) for f in ("quiet_start", "quiet_end"))
        update["quiet_hours"] = QuietHours(start=start, end=end)
    if "timezone" in changed:
        update["timezone"] = _timezone(changed["timezone"])
    if "cap_per_week" in changed:
        update["frequency_cap"] = _cap(current, changed["cap_per_week"])
    if changed.get("call_times"):
        update["preferred_call_times"] = changed["call_times"]
    if "pause" in changed and changed["pause"] not in ("keep", "none"):
        if changed["pause"] not in PAUSES:
            raise FormError("err_value")
        update["paused_until"] = now + PAUSES[changed["pause"]]
    return update


def _apply_choices(current: PreferenceSnapshot, changed: FormValues, shown: FormValues, now: datetime) -> PreferenceSnapshot:
    fields = _update_fields(current, changed, shown, now)
    try:
        step = apply_update(current, PreferenceUpdate(**fields), SOURCE, now, PAGE_VERSION) if fields else None
    except ValidationError:
        raise FormError("err_value") from None
    snapshot = step.snapshot if step else current
    # A PATCH cannot say "none"; clearing a pause or the call times is stamped here, like apply_update would.
    cleared = {"paused_until": "pause"} if changed.get("pause") == "none" else {}
    if changed.get("call_times") == "":
        cleared["preferred_call_times"] = "preferred_call_times"
    if not cleared:
        return snapshot
    stamp = Provenance(source=SOURCE, at=now, evidence=PAGE_VERSION)
    provenance = {**snapshot.provenance, **dict.fromkeys(cleared.values(), stamp)}
    return snapshot.model_copy(update={**dict.fromkeys(cleared), "provenance": provenance})


def _record(s: PreferenceSnapshot, channel: Channel, purpose: PurposeClass, state: str) -> ConsentChange | None:
    if s.consent_for(channel, purpose).state.value == state:
        return None
    return ConsentChange(channel=channel, purpose_class=purpose, state=state, source=SOURCE, evidence=PAGE_VERSION)  # type: ignore[arg-type]


def _consent_changes(s: PreferenceSnapshot, shown: FormValues, changed: FormValues) -> Iterable[tuple[Channel, PurposeClass, str]]:
    if "consent" in changed:
        wanted = {_usable(s, _channel(v), ()) for v in changed["consent"]}
        before = {Channel(v) for v in shown["consent"]}
        yield from ((c, APP, "granted") for c in sorted(wanted - before))
        yield from ((c, APP, "revoked") for c in sorted(before - wanted))


def _apply_consent(
    s: PreferenceSnapshot, current: PreferenceSnapshot, changed: FormValues, shown: FormValues, now: datetime
) -> PreferenceSnapshot:
    for channel, purpose, state in list(_consent_changes(current, shown, changed)):
        s = _set(s, _record(s, channel, purpose, state), now)
    if "talent_pool" in changed:
        join = changed["talent_pool"] == "yes"
        targets = [c for c in Channel if available(s, c) and allowed(s, c)] if join else list(Channel)
        if join and not targets:
            raise FormError("err_talent_no_channel")
        for channel in targets:
            if join or s.consent_for(channel, POOL).state is ConsentState.GRANTED:
                s = _set(s, _record(s, channel, POOL, "granted" if join else "revoked"), now)
    return s


def _set(s: PreferenceSnapshot, change: ConsentChange | None, now: datetime) -> PreferenceSnapshot:
    step = set_consent(s, change, now) if change else None
    return step.snapshot if step else s
