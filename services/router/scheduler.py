"""Time and change driven work of the router: release held messages, follow up silence, re-decide pending.

A release is three steps so that a crash never sends twice or loses a message:
(1) record on the held message what it becomes, (2) dispatch and wait for the broker,
(3) mark it done. A restart finds step-1 records and replays the same decision.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import replace
from datetime import datetime

from schemas.common import NotificationStatus
from services.common.runtime import stop_if_cancelled
from services.router.metrics import RouterMetrics
from services.router.outputs import Outputs, Wave
from services.router.policy import Planned, Recent, RoutingConfig, decide
from services.router.prefs import RoutingPrefs
from services.router.service import Clock, PrefsLookup, RouterService, intent_of
from services.router.store import OPEN_STATES, Routed, RouterStore
from services.router.timing import duration_words

log = logging.getLogger(__name__)
ERASED = "suppressed: the candidate's data was erased on request; nothing is sent"
COUNT_EVERY_S = 10.0  # how often the held-message gauge is refreshed (a scan of the working set)


class Scheduler:
    """Releases due messages and re-decides pending ones of the partitions this instance owns."""

    def __init__(
        self,
        service: RouterService,
        store: RouterStore,
        outputs: Outputs,
        prefs: PrefsLookup,
        partitions: Callable[[], frozenset[int]],
        cfg: RoutingConfig,
        clock: Clock,
        metrics: RouterMetrics,
        batch_limit: int = 500,
    ) -> None:
        self._service = service
        self._store = store
        self._outputs = outputs
        self._prefs = prefs
        self._partitions = partitions
        self._cfg = cfg
        self._clock = clock
        self._metrics = metrics
        self._limit = batch_limit
        self._changed: asyncio.Queue[tuple[int, str]] = asyncio.Queue()
        self._counted_at = float("-inf")

    async def load_pending(self) -> None:
        """Which candidates of the owned partitions have held messages (after every assignment)."""
        self._store.forget_timers()
        found = await self._store.candidates_with_pending(self._partitions())
        self._service.with_pending.clear()
        self._service.with_pending.update(found)
        await self.count_held()

    def preference_changed(
        self, partition: int, candidate_id: str, old: RoutingPrefs | None, new: RoutingPrefs | None
    ) -> None:
        """View callback: re-decide pending messages after a change; forget an erased candidate."""
        if new is None or candidate_id in self._service.with_pending:
            self._changed.put_nowait((partition, candidate_id))

    async def count_held(self) -> None:
        """Refresh the held-message gauge from a count over the owned partitions."""
        self._counted_at = time.monotonic()
        self._metrics.held_now(await self._store.count_held(self._partitions()))

    async def tick(self) -> int:
        """Release everything due now; return how many messages were handled."""
        async with self._service.gate.work():
            if time.monotonic() - self._counted_at >= COUNT_EVERY_S:
                await self.count_held()
            return await self._tick()

    async def _tick(self) -> int:
        parts = self._partitions()
        if not parts:
            return 0
        now = self._clock()
        due = await self._store.due(parts, now, self._limit)
        wave = self._outputs.wave()
        finish: list[tuple[Routed, Routed]] = []
        for r in due:
            async with self._service.locks.hold(r.planned.candidate_id):
                if r.planned.state is NotificationStatus.HELD:
                    done = await self._release(wave, r, now, "due")
                    if done:
                        finish.append(done)
                else:
                    await self._silence(wave, r, now)
        await wave.flush()
        for held, target in finish:
            await self._store.finish_release(held, target)
        return len(due)

    async def run_redecisions(self) -> None:
        """Forever: re-decide the pending messages of candidates whose preferences changed."""
        while True:
            stop_if_cancelled()
            partition, candidate_id = await self._changed.get()
            try:
                async with self._service.gate.work():
                    if partition in self._partitions():
                        await self.redecide(partition, candidate_id)
            except Exception:
                log.exception("re-decision failed; the timer will release with fresh preferences")

    async def redecide(self, partition: int, candidate_id: str) -> None:
        """Decide every held or scheduled message of a candidate again, with their current preferences."""
        now = self._clock()
        wave = self._outputs.wave()
        finish = []
        async with self._service.locks.hold(candidate_id):
            if self._prefs(candidate_id) is None:
                await self._forget(wave, candidate_id, now)
            for r in await self._store.pending_of(candidate_id):
                if r.next_id is None:
                    done = await self._release(wave, r, now, "preference_changed")
                    if done:
                        finish.append(done)
        await wave.flush()
        for held, target in finish:
            await self._store.finish_release(held, target)
        if not await self._store.pending_of(candidate_id):
            self._service.with_pending.discard(candidate_id)

    async def _forget(self, wave: Wave, candidate_id: str, now: datetime) -> None:
        """The candidate was erased: suppress what is pending, then delete the router's records of them."""
        pending = await self._store.pending_of(candidate_id)
        await self._store.set_state([r.id for r in pending], NotificationStatus.SUPPRESSED, ERASED)
        for r in pending:
            await wave.status(r, NotificationStatus.SUPPRESSED, now, ERASED)
        await wave.flush()
        await self._store.erase(candidate_id)

    async def _release(self, wave: Wave, r: Routed, now: datetime, why: str) -> tuple[Routed, Routed] | None:
        if r.next_id is not None:
            return await self._replay(wave, r, now)
        prefs = self._prefs(r.planned.candidate_id)
        if prefs is None:  # erased (the view holds no snapshot): nothing is sent, ever
            await self._store.set_state([r.id], NotificationStatus.SUPPRESSED, ERASED)
            await wave.status(r, NotificationStatus.SUPPRESSED, now, ERASED)
            return None
        scheduled = r.planned.hold_kind == "scheduled" and r.planned.due_at and r.planned.due_at > now
        planned = decide(
            intent_of(r),
            prefs,
            now,
            self._cfg,
            Recent(),
            exclude=frozenset(r.tried),
            due_at=r.planned.due_at if scheduled else None,
        )
        # The same message whatever it is decided to now (also one stored when ids still named the channel):
        # if it went out before a crash, the notifier finds its claim and does not send it again.
        planned = replace(planned, notification_id=r.id)
        target = self._service.routed(
            planned,
            r.partition,
            r.to if planned.channel == r.planned.channel else None,
            prefs,
            now,
            tried=r.tried,
            follow_ups=r.follow_ups,
        )
        if planned.state is NotificationStatus.HELD:
            if _hold_of(planned) != _hold_of(r.planned):
                await self._store.update_hold(target)  # else: nothing a release depends on changed; no write
            return None
        if planned.state is not NotificationStatus.QUEUED:  # no channel left: nothing to dispatch
            self._metrics.decided(planned)
            await wave.status(target, planned.state, now)
            return r, target  # removed from the working set once the wave is acknowledged
        if not await self._store.record_release(r, target):
            return None
        self._metrics.releases.labels(kind=r.planned.hold_kind or "held").inc()
        if why == "preference_changed":
            moved = planned.channel != r.planned.channel
            self._metrics.redecisions.labels(outcome="rerouted" if moved else "released").inc()
        return await self._execute(wave, r, target, now)

    async def _replay(self, wave: Wave, r: Routed, now: datetime) -> tuple[Routed, Routed] | None:
        if r.next_id == r.id:
            target = replace(r, planned=replace(r.planned, state=NotificationStatus.QUEUED))
        else:
            stored = await self._store.get_many([r.next_id or ""])
            if r.next_id not in stored:
                return None
            target = stored[r.next_id or ""]
        return await self._execute(wave, r, target, now)

    async def _execute(self, wave: Wave, r: Routed, target: Routed, now: datetime) -> tuple[Routed, Routed]:
        if target.id == r.id:
            await wave.dispatch(target, now)
            await wave.status(target, NotificationStatus.QUEUED, now, dispatched=True)
        else:  # a release an older version recorded as a message of its own (re-routed): replayed as such
            await self._service.reannounce(wave, target, now)
        return r, target

    async def _silence(self, wave: Wave, r: Routed, now: datetime) -> None:
        window = self._cfg.reply_windows.get(r.planned.stage)
        within = duration_words(window) if window else "the reply window"
        if r.follow_ups >= self._cfg.max_follow_ups:
            if await self._store.record_next(r.id, list(OPEN_STATES), "needs_recruiter", r.planned.state.value):
                self._metrics.needs_recruiter.labels(cause="silence").inc()
                await wave.status(
                    r,
                    NotificationStatus.NEEDS_RECRUITER,
                    now,
                    f"no reply within {within}, also after a follow-up; a recruiter should reach out",
                )
            return
        await self._service.fall_back(
            wave, r, f"no reply within {within}", now, r.partition, template_override="follow_up"
        )


def _hold_of(p: Planned) -> tuple[object, ...]:
    """What a held message's stored copy must follow: when, why, and the channel it would go on now."""
    return (p.due_at, p.hold_kind, p.reasons, p.channel, p.template)
