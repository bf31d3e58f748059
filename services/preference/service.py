"""Use cases of the preference service: change, import from the ATS, publish, relay, erase."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import logging
import time
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from schemas.ats import ApplicationReceived, AtsEvent, CandidateContact
from schemas.candidate_events import CandidateEvent
from schemas.preferences import PreferenceSnapshot
from services.common.failpoints import CrashPoints
from services.common.gathering import all_of
from services.common.locks import KeyedLocks
from services.preference.contacts import contact_invalid_events
from services.preference.domain import Proposed, first_version, merge_ats_contact
from services.preference.lifecycle import application_events, may_delete, procedures_ended
from services.preference.metrics import PreferenceMetrics
from services.preference.publisher import SnapshotPublisher
from services.preference.store import HistoryEntry, PreferenceStore, Suppression

log = logging.getLogger(__name__)

Clock = Callable[[], datetime]
Change = Callable[[PreferenceSnapshot], Proposed | None]


def _fp(candidate: CandidateContact) -> int:
    """A fingerprint of the ATS's contact data (unchanged data needs no database work)."""
    return hash(candidate.model_dump_json())


def _first(candidate: CandidateContact, now: datetime, erased: Suppression | None) -> Proposed:
    """A new profile: version 1, or one above the erasure when the candidate came back after one."""
    proposed = first_version(candidate, now)
    if erased is None:
        return proposed
    snapshot = proposed.snapshot.model_copy(update={"version": erased.version + 1})
    summary = "profile created again: a new application with renewed consent after an erasure"
    return replace(proposed, snapshot=snapshot, summary=summary)


def renewal_time(events: Sequence[AtsEvent], candidate_id: str, erased: Suppression) -> datetime | None:
    """When one of these events lifts a suppression not yet lifted, else None.

    That is a new application of the candidate with consent renewed after the erasure (the earliest).
    """
    if erased.renewed_at is not None:
        return None
    times = [
        e.data.application.consent_renewed_at
        for e in events
        if isinstance(e, ApplicationReceived)
        and e.subject == candidate_id
        and e.data.application.consent_renewed_at is not None
        and e.data.application.consent_renewed_at > erased.erased_at
    ]
    return min(times, default=None)


@dataclass(frozen=True)
class Admission:
    """What an imported batch of ATS events needs downstream."""

    versions: dict[str, int]  # candidate -> the snapshot version a reader must hold before deciding
    suppressed: frozenset[str]  # ids of events of erased candidates: nothing may be sent or rebuilt for them
    acks: list[Acknowledged]


class UnknownCandidateError(LookupError):
    """No preferences stored for this candidate."""


class ConcurrentChangesError(RuntimeError):
    """Too many concurrent writers kept winning; the caller may retry."""


@dataclass(frozen=True)
class Acknowledged:
    """A change that is stored and on the topic at (partition, offset)."""

    snapshot: PreferenceSnapshot
    partition: int
    offset: int


class PreferenceService:
    """Stores every change as one versioned document update, then publishes it before acknowledging."""

    def __init__(
        self,
        store: PreferenceStore,
        publisher: SnapshotPublisher,
        metrics: PreferenceMetrics,
        clock: Clock,
        suppression_secret: bytes,
        crash: CrashPoints | None = None,
        max_attempts: int = 50,
        notify: Callable[[CandidateEvent], Awaitable[None]] | None = None,
    ) -> None:
        self._notify = notify  # tells the ATS (candidate.events) about contact points a version marked invalid
        self._relaying = KeyedLocks()  # one publication of a version a crash left unconfirmed
        self._store = store
        self._publisher = publisher
        self._metrics = metrics
        self._clock = clock
        self._secret = suppression_secret
        self._crash = crash or CrashPoints(None)
        self._max_attempts = max_attempts
        self.clock = clock
        # candidate -> (fingerprint of the ATS contact data last applied, the version that holds it)
        self._seen: dict[str, tuple[int, int]] = {}

    async def announce(self, event: CandidateEvent) -> None:
        """Put an event about the candidate on candidate.events (for the ATS and the recruiter's worklist)."""
        if self._notify is None:
            raise RuntimeError("no candidate.events publisher configured")
        await self._notify(event)

    def suppression_key(self, candidate_id: str) -> str:
        """Keyed hash of a candidate id: identifies an erased candidate without storing who they were."""
        return hmac.new(self._secret, candidate_id.encode(), hashlib.sha256).hexdigest()

    async def get(self, candidate_id: str) -> PreferenceSnapshot:
        """The current snapshot or UnknownCandidateError."""
        snapshot = await self._store.get(candidate_id)
        if snapshot is None:
            raise UnknownCandidateError(candidate_id)
        return snapshot

    async def history(self, candidate_id: str) -> list[HistoryEntry]:
        """Every stored change of a candidate, oldest first."""
        return await self._store.history(candidate_id)

    async def change(self, candidate_id: str, change: Change) -> Acknowledged | None:
        """Apply `change` with optimistic concurrency; None when it changes nothing."""
        result = await self.change_or_current(candidate_id, change)
        return result if isinstance(result, Acknowledged) else None

    async def change_or_current(self, candidate_id: str, change: Change) -> Acknowledged | PreferenceSnapshot:
        """Apply `change` with optimistic concurrency; the current snapshot when it changes nothing."""
        for _ in range(self._max_attempts):
            current = await self.get(candidate_id)
            proposed = change(current)
            if proposed is None:
                return current
            if await self._store.replace_if_version(current.version, proposed):
                self._metrics.consent_changed(current, proposed.snapshot)
                return await self._after_store(proposed)
        raise ConcurrentChangesError(candidate_id)

    async def import_from_ats(self, events: Sequence[AtsEvent]) -> Admission:
        """Create or refresh profiles from ATS events (in event-time order); say what each event needs downstream.

        Every event ends either suppressed (its candidate was erased) or with the snapshot version its reader
        must hold before deciding: that snapshot is on the topic when this returns.
        """
        suppressions = await self._renewals(events, await self._suppressions(e.subject for e in events))
        held_back = {e.id for e in events if (s := suppressions.get(e.subject)) and s.covers(e.time)}
        self._metrics.suppressed.inc(len(held_back))
        live = [e for e in events if e.id not in held_back]
        latest = {e.data.candidate.id: e.data.candidate for e in live}
        for cid in {e.subject for e in events} - set(latest):
            self._seen.pop(cid, None)
        versions = {cid: seen[1] for cid, c in latest.items() if (seen := self._seen.get(cid)) and seen[0] == _fp(c)}
        # Contact data already seen for a candidate cannot change anything: no database work at all.
        todo = {cid: c for cid, c in latest.items() if cid not in versions}
        now = self._clock()
        # Optimistically the first version for everyone in one batched insert; those that exist are merged.
        fresh = [_first(c, now, suppressions.get(cid)) for cid, c in todo.items()]
        # The lifecycle record and the first versions in flight at once (one database round trip, not two);
        # both are stored before anything is published, so the post-publish erasure check still sees them.
        created, _ = await all_of(
            self._store.insert_new_many(fresh), self._store.record_applications(application_events(live))
        )
        acks = await self._publish_new([p for p in fresh if p.snapshot.candidate_id in created])
        merged = await asyncio.gather(*(self._merge(c) for cid, c in todo.items() if cid not in created))
        acks += [a for a in merged if isinstance(a, Acknowledged)]
        current = {a.snapshot.candidate_id: a.snapshot.version for a in acks}
        unchanged = [s for s in merged if isinstance(s, PreferenceSnapshot)]
        for snapshot in unchanged:  # forwarded only once its snapshot is on the topic, also after a crash
            if (ack := await self._publish_unconfirmed(snapshot)) is not None:
                acks.append(ack)
        current.update({s.candidate_id: s.version for s in unchanged})
        erased = set(todo) - set(current)  # erased concurrently (another instance, the API)
        held_back |= {e.id for e in live if e.subject in erased}
        if len(self._seen) > 1_000_000:
            self._seen.clear()  # a bounded memory of what was seen; forgetting only costs a re-check
        self._seen.update({cid: (_fp(todo[cid]), v) for cid, v in current.items() if cid not in erased})
        versions.update({cid: v for cid, v in current.items() if cid not in erased})
        return Admission(versions, frozenset(held_back), acks)

    async def _suppressions(self, candidates: Iterable[str], fresh: bool = False) -> dict[str, Suppression]:
        keys = {self.suppression_key(cid): cid for cid in set(candidates)}
        found = await self._store.suppressions(keys, fresh) if keys else {}
        return {keys[k]: s for k, s in found.items()}

    async def _renewals(
        self, events: Sequence[AtsEvent], suppressions: dict[str, Suppression]
    ) -> dict[str, Suppression]:
        """The way back: a new application whose candidate renewed consent after their erasure lifts it."""
        out = dict(suppressions)
        for cid, sup in suppressions.items():
            renewed = renewal_time(events, cid, sup)
            if renewed is not None:
                await self._store.renew(self.suppression_key(cid), cid, renewed, sup.version)
                out[cid] = replace(sup, renewed_at=renewed)
                self._metrics.renewals.inc()
                log.info("suppression lifted: a new application with renewed consent", extra={"renewed_at": renewed})
        return out

    async def _erase_if_suppressed(self, candidate_ids: Iterable[str]) -> set[str]:
        """After publishing: a candidate erased concurrently (another instance) is erased again, tombstone last.

        The erasure stores its suppression before deleting and publishing its tombstone; this check reads it
        after the snapshot was acknowledged. Whichever of the two came second on the topic, the candidate ends
        erased: a snapshot published after that tombstone is followed by this second one.
        """
        found = {cid for cid, s in (await self._suppressions(candidate_ids, fresh=True)).items() if not s.renewed_at}
        for cid in found:
            self._metrics.suppressed.inc()
            await self.erase(cid)
        return found

    async def _publish_new(self, proposals: Sequence[Proposed]) -> list[Acknowledged]:
        if not proposals:
            return []
        self._crash.reached("after_write")
        for p in proposals:
            self._metrics.changes.labels(source=p.source.value).inc()
        started = time.perf_counter()
        placed = await asyncio.gather(*(self._publisher.publish(p.snapshot) for p in proposals))
        self._metrics.publish_seconds.observe(time.perf_counter() - started)
        self._crash.reached("after_publish")
        await self._notices([p.snapshot for p in proposals])
        # Both checks read what others may have written meanwhile; neither depends on the other, so they
        # share one round trip on the way to the forward (an erasure found wins over a newer version).
        newer, erased = await all_of(
            self._store.finish_publication_many({p.snapshot.candidate_id: p.snapshot.version for p in proposals}),
            self._erase_if_suppressed([p.snapshot.candidate_id for p in proposals]),
        )
        acks = [Acknowledged(p.snapshot, part, off) for p, (part, off) in zip(proposals, placed, strict=True)]
        acks = [a for a in acks if a.snapshot.candidate_id not in erased]
        # Changed concurrently through the API: the newest must be last on the topic.
        for candidate_id in newer - erased:
            current = await self._store.get(candidate_id)
            if current is not None:
                await self.publish(current)
        return acks

    async def _merge(self, candidate: CandidateContact) -> Acknowledged | PreferenceSnapshot | None:
        """The candidate's new version (published) or their unchanged snapshot; None when they were erased."""
        try:
            return await self.change_or_current(
                candidate.id, lambda cur: merge_ats_contact(cur, candidate, self._clock())
            )
        except UnknownCandidateError:
            return None  # erased between the two reads

    async def _notices(self, snapshots: Sequence[PreferenceSnapshot]) -> None:
        """The ATS-facing notices of published versions (same ids when published again: idempotent downstream)."""
        if self._notify is not None:
            for notice in (n for s in snapshots for n in contact_invalid_events(s)):
                await self._notify(notice)

    async def retention_once(self, retention: timedelta, talent_pool: timedelta) -> int:
        """Erase candidates whose last procedure ended long enough ago (talent-pool consent extends it)."""
        now = self._clock()
        erased = 0
        ended = procedures_ended(await self._store.application_events())
        for candidate_id, ended_at in ended.items():
            if now < ended_at + retention:
                continue
            snapshot = await self._store.get(candidate_id)
            # No snapshot but application records: an erasure a failure interrupted (or records an import
            # racing an erasure wrote again); finishing it is what it asked for.
            if snapshot is None or may_delete(snapshot, ended_at, now, retention, talent_pool):
                await self.erase(candidate_id)
                self._metrics.retention_erasures.inc()
                erased += 1
        return erased

    async def _after_store(self, proposed: Proposed) -> Acknowledged:
        self._crash.reached("after_write")
        self._metrics.changes.labels(source=proposed.source.value).inc()
        ack = await self.publish(proposed.snapshot)
        if await self._erase_if_suppressed([proposed.snapshot.candidate_id]):
            raise UnknownCandidateError(proposed.snapshot.candidate_id)
        return ack

    async def publish(self, snapshot: PreferenceSnapshot) -> Acknowledged:
        """Put a stored snapshot on the topic, then write its history and clear its outbox entries."""
        started = time.perf_counter()
        partition, offset = await self._publisher.publish(snapshot)
        self._metrics.publish_seconds.observe(time.perf_counter() - started)
        self._crash.reached("after_publish")
        await self._notices([snapshot])
        if not await self._store.finish_publication(snapshot.candidate_id, snapshot.version):
            # A newer version reached the topic first; make sure the newest is also the last.
            self._metrics.republished.labels(cause="reordered").inc()
            current = await self._store.get(snapshot.candidate_id)
            if current is not None:
                p2, o2 = await self._publisher.publish(current)
                await self._store.finish_publication(current.candidate_id, current.version)
                return Acknowledged(current, p2, o2)
        return Acknowledged(snapshot, partition, offset)

    async def relay_once(self, grace: timedelta, limit: int = 500) -> int:
        """Publish changes a crash left unpublished (the backstop of the inline publish)."""
        pending = await self._store.pending_outbox(self._clock() - grace, limit)
        self._metrics.outbox_backlog.set(len(pending))
        for candidate_id in pending:
            snapshot = await self._store.get(candidate_id)
            if snapshot is not None and await self._publish_unconfirmed(snapshot) is not None:
                self._metrics.republished.labels(cause="outbox").inc()
        return len(pending)

    async def _publish_unconfirmed(self, snapshot: PreferenceSnapshot) -> Acknowledged | None:
        """Publish the latest version if a crash left it unconfirmed, once: the relay and an import may both find it.

        When it is confirmed (published meanwhile), older unconfirmed versions are moot: the topic has a newer one.
        """
        async with self._relaying.hold(snapshot.candidate_id):
            if self._store.awaiting_publication(snapshot.candidate_id, snapshot.version):
                return await self.publish(snapshot)
            self._store.forget_unconfirmed(snapshot.candidate_id, snapshot.version)
            return None

    async def finish_erasure(self, candidate_id: str, requested_at: datetime) -> None:
        """Complete an erasure a failure interrupted (nothing deleted yet, or no tombstone): erase again.

        Erasing is idempotent (a later tombstone only carries a higher version). A candidate who came back
        after the request (a new application with renewed consent) is not erased again.
        """
        found = (await self._suppressions([candidate_id], fresh=True)).get(candidate_id)
        if found is not None and found.renewed_at is not None and found.renewed_at > requested_at:
            return
        await self.erase(candidate_id)

    async def erase(self, candidate_id: str) -> bool:
        """Forget a candidate: versions, history, a tombstone on the topic; keep a suppression key.

        The tombstone carries the erasure's version (one above the last stored), so views drop any older
        snapshot that reaches them later, and versions stay monotonic if the candidate ever comes back.
        """
        self._seen.pop(candidate_id, None)
        erased = await self._store.erase(candidate_id, self.suppression_key(candidate_id), self._clock())
        await self._publisher.tombstone(candidate_id, erased.version)
        # Last: until the tombstone is acknowledged the application records remain, and with them the
        # retention job's way to find and finish an erasure a failure interrupted (see retention_once).
        await self._store.forget_applications(candidate_id)
        return erased.existed
