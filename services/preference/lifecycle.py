"""Which applications are open, and when a candidate's data may be deleted (retention). Pure parts first."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from schemas.ats import AtsEvent, CandidateHired, CandidateRejected
from schemas.common import ConsentState, PurposeClass
from schemas.consent import CHANNELS
from schemas.preferences import PreferenceSnapshot

CLOSING = (CandidateRejected, CandidateHired)


@dataclass(frozen=True)
class ApplicationEvent:
    """An application opened or closed (the retention clock starts when the last one closes)."""

    candidate_id: str
    application_id: str
    closed: bool
    at: datetime
    event_id: str


def application_events(events: Iterable[AtsEvent]) -> list[ApplicationEvent]:
    """What each ATS event says about its application: still going, or ended (rejected, hired)."""
    return [ApplicationEvent(e.subject, e.data.application.id, isinstance(e, CLOSING), e.time, e.id) for e in events]


def procedures_ended(events: Iterable[ApplicationEvent]) -> dict[str, datetime]:
    """Candidates whose every application ended, with when the last one did."""
    last: dict[tuple[str, str], ApplicationEvent] = {}
    for e in sorted(events, key=lambda e: e.at):
        last[(e.candidate_id, e.application_id)] = e
    open_ones = {cid for (cid, _), e in last.items() if not e.closed}
    ended: dict[str, datetime] = {}
    for (cid, _), e in last.items():
        if cid not in open_ones:
            ended[cid] = max(ended.get(cid, e.at), e.at)
    return ended


def talent_pool_until(snapshot: PreferenceSnapshot, validity: timedelta) -> datetime | None:
    """Until when a granted talent-pool consent keeps the candidate's data (None: no such consent)."""
    granted = [
        record.at
        for channel in CHANNELS
        if (record := snapshot.consent_for(channel, PurposeClass.TALENT_POOL)).state is ConsentState.GRANTED
        and record.at is not None
    ]
    return max(granted) + validity if granted else None


def may_delete(
    snapshot: PreferenceSnapshot, ended_at: datetime, now: datetime, retention: timedelta, talent_pool: timedelta
) -> bool:
    """Data goes `retention` after the last procedure ended, unless a talent-pool consent still runs."""
    if now < ended_at + retention:
        return False
    keep_until = talent_pool_until(snapshot, talent_pool)
    return keep_until is None or now >= keep_until
