"""Before deciding: every accepted event's candidate has the snapshot it was accepted with, or was erased.

The preference service forwards an ATS event on `ats.accepted` only after the snapshot holding its
contact data is acknowledged on `preferences.changed`, and says which version in a header. The router's
view reads that topic on its own connection, so it may be a few milliseconds behind: the router waits
until the view holds that version (or an erasure after it) before deciding. It never invents a profile.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Protocol

from schemas.ats import AtsEvent
from schemas.envelope import DecodeError
from schemas.topics import PREFERENCE_VERSION_HEADER, SUPPRESSED_HEADER
from services.common.failures import TransientError
from services.common.kafka import Record, header
from services.common.view import Erased
from services.router.prefs import RoutingPrefs

log = logging.getLogger(__name__)


class PreferenceView(Protocol):
    """What admission needs of the router's preference view."""

    def state(self, candidate_id: str) -> RoutingPrefs | Erased | None: ...
    async def wait_for(self, ready: Callable[[], bool], timeout_s: float) -> bool: ...


class SnapshotMissingError(TransientError):
    """A candidate's snapshot has not reached the view in time; the batch is retried (transient)."""


@dataclass
class Admitted:
    """A batch sorted out: events to route (with their preferences), to suppress, to dead-letter."""

    routable: list[tuple[Record, AtsEvent, RoutingPrefs]] = field(default_factory=list)
    suppressed: list[tuple[Record, AtsEvent]] = field(default_factory=list)
    rejected: list[tuple[Record, DecodeError]] = field(default_factory=list)


def required_version(record: Record) -> int:
    """The snapshot version the event was accepted with (1 when the header is missing or unreadable)."""
    raw = header(record, PREFERENCE_VERSION_HEADER)
    try:
        return max(1, int(raw)) if raw is not None else 1
    except ValueError:
        return 1


def _age(record: Record, now: datetime) -> timedelta:
    stamp = getattr(record, "timestamp", None)  # ms since the epoch (aiokafka); absent in memory tests
    if not isinstance(stamp, int) or stamp <= 0:
        return timedelta(0)
    return now - datetime.fromtimestamp(stamp / 1000, now.tzinfo)


class Admission:
    """Waits for the snapshots a batch needs; sorts the batch into routable, suppressed and rejected."""

    def __init__(self, view: PreferenceView, wait_s: float, give_up: timedelta) -> None:
        self._view = view
        self._wait_s = wait_s
        self._give_up = give_up

    def _ready(self, needs: dict[str, int]) -> list[str]:
        """Candidates whose view state is older than needed."""
        return [cid for cid, v in needs.items() if (s := self._view.state(cid)) is None or s.version < v]

    async def admit(self, batch: Sequence[tuple[Record, AtsEvent]], now: datetime) -> Admitted:
        """Sort a batch; raise SnapshotMissingError when a recent event's snapshot is not in the view yet."""
        out = Admitted()
        needs: dict[str, int] = {}
        for record, event in batch:
            if header(record, SUPPRESSED_HEADER) != "1":
                needs[event.subject] = max(needs.get(event.subject, 0), required_version(record))
        if self._ready(needs):
            await self._view.wait_for(lambda: not self._ready(needs), self._wait_s)
        missing = set(self._ready(needs))
        for record, event in batch:
            cid = event.subject
            state = self._view.state(cid)
            if header(record, SUPPRESSED_HEADER) == "1" or (isinstance(state, Erased) and cid not in missing):
                out.suppressed.append((record, event))
            elif cid not in missing and isinstance(state, RoutingPrefs):
                out.routable.append((record, event, state))
            elif _age(record, now) > self._give_up:
                why = f"no preference snapshot at version {needs[cid]} for this candidate within {self._give_up}"
                out.rejected.append((record, DecodeError("snapshot_missing", why)))
            else:
                raise SnapshotMissingError(f"{len(missing)} candidates' snapshots are not in the view yet")
        return out
