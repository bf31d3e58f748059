"""Which applications are open, and when a candidate's data may be deleted (retention). Pure parts first."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta

from schemas.ats import AtsEvent, CandidateHired, CandidateRejected
from schemas.common import ConsentState, PurposeClass
from schemas.consent import CHANNELS
from schemas.preferences import PreferenceSnapshot

CLOSING = (CandidateRejected, CandidateHired)


def application_changes(events: Iterable[AtsEvent]) -> dict[str, tuple[set[str], set[str]]]:
    """Per candidate: applications opened and closed by these events (in order; the last word wins)."""
    out: dict[str, tuple[set[str], set[str]]] = {}
    for event in events:
        opened, closed = out.setdefault(event.subject, (set(), set()))
        app = event.data.application.id
        if isinstance(event, CLOSING):
            opened.discard(app)
            closed.add(app)
        else:
            closed.discard(app)
            opened.add(app)
    return out


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
