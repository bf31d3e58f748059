"""The self-service form, pure: the one new version a submit makes (and a one-click unsubscribe's).

What the form shows is in selfservice_view, how submitted fields are read and checked in selfservice_form;
this module applies them and is the form's one import for the pages.

Only what the candidate changed on the page is applied (the submitted value differs from the value the page shows
for the current snapshot), so re-submitting an untouched form makes no new version.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import ValidationError

from schemas.common import ChangeSource, Channel, ConsentState, PurposeClass
from schemas.preferences import ConsentChange, PreferenceSnapshot, PreferenceUpdate, Provenance
from services.preference.domain import Proposed, apply_update, propose, set_consent
from services.preference.selfservice_form import (
    PAUSES,
    FormError,
    consent_channels,
    pause_end,
    read_form,
    update_fields,
)
from services.preference.selfservice_view import (
    APP,
    POOL,
    FormValues,
    allowed,
    available,
    form_values,
    whatsapp_limits,
)

__all__ = [  # what the pages and tests import from here: the form's whole surface in one place
    "APP",
    "PAGE_VERSION",
    "PAUSES",
    "UNSUBSCRIBE_EVIDENCE",
    "FormError",
    "FormValues",
    "available",
    "form_values",
    "pause_end",
    "propose_from_form",
    "read_form",
    "record_consent",
    "unsubscribe",
    "whatsapp_limits",
]
PAGE_VERSION = "selfservice-v1"  # evidence in provenance; bump when the page's questions change
UNSUBSCRIBE_EVIDENCE = "one-click unsubscribe (RFC 8058)"
SOURCE = ChangeSource.SELF_SERVICE

Decision = Literal["granted", "revoked"]


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


def _differs(field: str, submitted: Any, shown: Any) -> bool:
    return set(submitted) != set(shown) if field == "consent" else submitted != shown


def _apply_choices(
    current: PreferenceSnapshot, changed: FormValues, form: FormValues, now: datetime
) -> PreferenceSnapshot:
    fields = update_fields(current, changed, form, now)
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
        wanted = consent_channels(current, changed["consent"])
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
