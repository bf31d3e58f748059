"""Preference and event builders for router tests."""

from __future__ import annotations

from datetime import UTC, datetime, time
from typing import Any

from schemas.ats import ATS_EVENT_ADAPTER, AtsEvent
from schemas.common import ChangeSource, Channel, ConsentState, Stage
from schemas.preferences import (
    Affinity,
    ChannelConsent,
    ConsentRecord,
    ContactPoint,
    Contacts,
    FrequencyCap,
    PreferenceSnapshot,
    Provenance,
    QuietHours,
)
from services.router.prefs import RoutingPrefs, compact
from tests.support import ats_event

CHOSEN_AT = datetime(2026, 11, 20, 10, 0, tzinfo=UTC)


def prefs(
    order: tuple[Channel, ...] = (Channel.EMAIL,),
    *,
    granted: tuple[Channel, ...] = (),
    revoked: tuple[Channel, ...] = (),
    talent_pool: tuple[Channel, ...] = (),
    overrides: dict[Stage, tuple[Channel, ...]] | None = None,
    explicit: bool = False,
    invalid: tuple[Channel, ...] = (),
    portal: bool = False,
    affinity: dict[Channel, float] | None = None,
    quiet: tuple[time, time] = (time(21), time(8)),
    cap_per_day: int | None = None,
    paused_until: datetime | None = None,
    language: str = "nl",
    timezone: str = "Europe/Amsterdam",
    mode: str = "calendar_link",
) -> RoutingPrefs:
    """A compact view built the way the router builds it (through a real snapshot)."""
    consent: dict[Channel, ChannelConsent] = {}
    for ch in Channel:
        app = ConsentRecord()
        if ch in granted:
            app = ConsentRecord(state=ConsentState.GRANTED, source=ChangeSource.SELF_SERVICE, at=CHOSEN_AT)
        if ch in revoked:
            app = ConsentRecord(state=ConsentState.REVOKED, source=ChangeSource.REPLY, at=CHOSEN_AT)
        tp = (
            ConsentRecord(state=ConsentState.GRANTED, source=ChangeSource.SELF_SERVICE, at=CHOSEN_AT)
            if ch in talent_pool
            else ConsentRecord()
        )
        consent[ch] = ChannelConsent(application=app, talent_pool=tp)
    provenance: dict[str, Provenance] = {}
    stamp = Provenance(source=ChangeSource.SELF_SERVICE, at=CHOSEN_AT)
    if explicit:
        provenance["channel_order"] = stamp
    for stage in overrides or {}:
        provenance[f"stage:{stage.value}"] = stamp
    contacts = Contacts(
        email=ContactPoint(address="sam@example.org", valid=Channel.EMAIL not in invalid),
        phone=ContactPoint(address="+31612345678", valid=Channel.SMS not in invalid),
        portal=ContactPoint(address="portal-7") if portal else None,
    )
    snap = PreferenceSnapshot(
        candidate_id="c1",
        version=3,
        updated_at=CHOSEN_AT,
        contacts=contacts,
        consent=consent,
        channel_order=order,
        stage_overrides=overrides or {},
        provenance=provenance,
        language=language,
        timezone=timezone,
        quiet_hours=QuietHours(start=quiet[0], end=quiet[1]),
        frequency_cap=FrequencyCap(per_day=cap_per_day),
        paused_until=paused_until,
        interview_scheduling_mode=mode,  # type: ignore[arg-type]
        affinity={c: Affinity(score=s, samples=5) for c, s in (affinity or {}).items()},
    )
    return compact(snap)


def event(kind: str, **kw: Any) -> AtsEvent:
    """A validated ATS event."""
    return ATS_EVENT_ADAPTER.validate_python(ats_event(kind, "c1", phone="+31612345678", **kw))
