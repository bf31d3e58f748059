"""Before deciding: every accepted event's candidate has the snapshot it was accepted with, or was erased.

The preference service forwards an ATS event on `ats.accepted` only after the snapshot holding its
contact data is acknowledged on `preferences.changed`, and says which version in a header. The router's
view reads that topic on its own connection, so it may be a few milliseconds behind: the router waits
until the view holds that version (or an erasure after it) before deciding. It never invents a profile.

The batch is sorted in two steps, so one candidate whose snapshot is late never holds up the others: the
candidates whose snapshot is in the view are decided at once; only the rest wait, and only until the view
has read their partitions of `preferences.changed` to the end offsets measured then (one ListOffsets
request; milliseconds). If the snapshot is still missing, it is not on the topic at all (the preference
service forwards an event only after its snapshot is acknowledged): that record is dead-lettered
(`snapshot_missing`), not waited for.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol

from schemas.ats import AtsEvent
from schemas.envelope import DecodeError
from schemas.topics import PREFERENCE_VERSION_HEADER, SUPPRESSED_HEADER
from services.common.failures import TransientError
from services.common.kafka import Record, header
from services.common.view import Erased
from services.router.prefs import RoutingPrefs


class PreferenceView(Protocol):
    """What admission needs of the router's preference view."""

    def state(self, candidate_id: str) -> RoutingPrefs | Erased | None: ...
    async def read_to_end(self, candidate_ids: set[str], timeout_s: float) -> bool: ...


class SnapshotMissingError(TransientError):
    """A candidate's snapshot has not reached the view in time, and the view is behind; retried (transient)."""


@dataclass
class Admitted:
    """A batch sorted out: events to route (with their preferences), to suppress, to dead-letter, to wait for."""

    routable: list[tuple[Record, AtsEvent, RoutingPrefs]] = field(default_factory=list)
    suppressed: list[tuple[Record, AtsEvent]] = field(default_factory=list)
    rejected: list[tuple[Record, DecodeError]] = field(default_factory=list)
    waiting: list[tuple[Record, AtsEvent]] = field(default_factory=list)


def required_version(record: Record) -> int:
    """The snapshot version the event was accepted with (1 when the header is missing or unreadable)."""
    raw = header(record, PREFERENCE_VERSION_HEADER)
    try:
        return max(1, int(raw)) if raw is not None else 1
    except ValueError:
        return 1


def _needs(batch: Sequence[tuple[Record, AtsEvent]]) -> dict[str, int]:
    """Per candidate, the newest snapshot version an event of the batch was accepted with."""
    needs: dict[str, int] = {}
    for record, event in batch:
        if header(record, SUPPRESSED_HEADER) != "1":
            needs[event.subject] = max(needs.get(event.subject, 0), required_version(record))
    return needs


class Admission:
    """Sorts a batch by what the view holds; waits only for the candidates whose snapshot is not there yet."""

    def __init__(self, view: PreferenceView, wait_s: float) -> None:
        self._view = view
        self._wait_s = wait_s

    def _behind(self, needs: dict[str, int]) -> set[str]:
        """Candidates whose view state is older than needed."""
        return {cid for cid, v in needs.items() if (s := self._view.state(cid)) is None or s.version < v}

    def sort(self, batch: Sequence[tuple[Record, AtsEvent]]) -> Admitted:
        """Without waiting: routable and suppressed events, and those of candidates the view is behind on."""
        out = Admitted()
        behind = self._behind(_needs(batch))
        for record, event in batch:
            state = self._view.state(event.subject)
            if event.subject in behind:
                out.waiting.append((record, event))  # all of a candidate's events wait: their order holds
            elif header(record, SUPPRESSED_HEADER) == "1" or isinstance(state, Erased):
                out.suppressed.append((record, event))
            elif isinstance(state, RoutingPrefs):
                out.routable.append((record, event, state))
        return out

    async def settle(self, waiting: Sequence[tuple[Record, AtsEvent]]) -> Admitted:
        """Wait for the snapshots these events need; dead-letter those the topic does not have.

        Raises SnapshotMissingError when the view is behind the topic (a transient state).
        """
        needs = _needs(waiting)
        # The snapshot was acknowledged before the event was forwarded: once the view has read the candidate's
        # partition to the end offsets measured now, it holds the snapshot, or the topic never had it.
        if not await self._view.read_to_end(self._behind(needs), self._wait_s):
            raise SnapshotMissingError(f"the view is behind preferences.changed for {len(needs)} candidates")
        behind = self._behind(needs)
        out = self.sort([(r, e) for r, e in waiting if e.subject not in behind])
        for record, event in waiting:
            if event.subject in behind:
                why = f"no preference snapshot at version {needs[event.subject]} for this candidate on the topic"
                out.rejected.append((record, DecodeError("snapshot_missing", why)))
        return out
