"""Router use cases on batches: ATS events -> decisions -> dispatches; notifier states -> fallbacks."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Sequence
from dataclasses import replace
from datetime import datetime
from typing import Protocol

from schemas.ats import AtsEvent, InterviewCancelled, InterviewRescheduled, InterviewScheduled
from schemas.common import ROUTER_STATES, STATUS_RANK, Channel, NotificationStatus
from schemas.dispatch import DeliverMessageCommand, TemplateName
from schemas.envelope import DecodeError
from schemas.status import (
    DISPATCH_REF_HEADER,
    FALLBACK_STATES,
    NotificationStatusEvent,
    StatusChange,
    parse_dispatch_ref,
)
from services.common.kafka import Record, header
from services.common.locks import KeyedLocks, WorkGate
from services.router.admission import Admission, Admitted
from services.router.dispatch_log import Position
from services.router.metrics import RouterMetrics
from services.router.outputs import Outputs, Wave, routed_from_command
from services.router.policy import INVITES, Intent, Planned, Recent, RoutingConfig, decide, plan_event, stage_of
from services.router.prefs import RoutingPrefs
from services.router.store import Routed, RouterStore

log = logging.getLogger(__name__)
Clock = Callable[[], datetime]
PrefsLookup = Callable[[str], RoutingPrefs | None]


class Commands(Protocol):
    """Dispatch commands read back by their position (services/router/dispatch_log.py)."""

    async def read(self, positions: Iterable[Position]) -> dict[Position, DeliverMessageCommand]: ...


_TRACKED = FALLBACK_STATES | {NotificationStatus.REPLIED}
_NOTIFIER_STATES = (
    frozenset(
        {NotificationStatus.SENT, NotificationStatus.DELIVERED, NotificationStatus.READ, NotificationStatus.REPLIED}
    )
    | FALLBACK_STATES
)


def _withdrawal_reason(event: AtsEvent, invite_unsent: bool) -> str:
    if isinstance(event, InterviewRescheduled):
        return "cancelled: the interview was moved; a message for the new time replaces this one"
    if invite_unsent:
        return "cancelled: the interview was cancelled before the invitation went out; no notice is sent"
    return "cancelled: the interview was cancelled"


def address_for(event: AtsEvent, channel: Channel | None) -> str | None:
    """The address an ATS event carries for a channel (the notifier prefers its own view)."""
    c = event.data.candidate
    if channel is Channel.EMAIL:
        return c.email
    if channel in (Channel.SMS, Channel.VOICE, Channel.WHATSAPP):
        return c.phone
    return None


def intent_of(r: Routed) -> Intent:
    """The intent behind a stored message (to decide it again)."""
    p = r.planned
    return Intent(
        ats_event_id=p.ats_event_id,
        purpose_key=p.purpose_key,
        candidate_id=p.candidate_id,
        application_id=p.application_id,
        interview_id=p.interview_id,
        stage=p.stage,
        purpose_class=p.purpose_class,
        template=p.template,
        essential=p.essential,
        reply_expected=p.reply_expected,
        context=p.context,
        event_time=p.event_time,
        attempt=p.attempt,
    )


class RouterService:
    """Decides, records and dispatches; every batch is answered by one wave of publications."""

    def __init__(
        self,
        store: RouterStore,
        outputs: Outputs,
        prefs: PrefsLookup,
        admission: Admission,
        cfg: RoutingConfig,
        clock: Clock,
        metrics: RouterMetrics,
        commands: Commands,
    ) -> None:
        self._commands = commands
        self._admission = admission
        self._store = store
        self._outputs = outputs
        self._prefs = prefs
        self._cfg = cfg
        self._clock = clock
        self._metrics = metrics
        self.with_pending: set[str] = set()  # candidates with held messages (re-decided on change)
        self.locks = KeyedLocks()  # one candidate's messages are decided by one task at a time
        self.gate = WorkGate()  # a rebalance waits for in-flight work on the partitions it moves

    def routed(
        self,
        planned: Planned,
        partition: int,
        to: str | None,
        prefs: RoutingPrefs,
        now: datetime,
        tried: tuple[Channel, ...] = (),
        follow_ups: int = 0,
    ) -> Routed:
        """Wrap a decision with the bookkeeping the store keeps."""
        window = self._cfg.reply_windows.get(planned.stage)
        reply_by = (
            now + window if planned.reply_expected and window and planned.state is NotificationStatus.QUEUED else None
        )
        return Routed(
            planned=planned,
            partition=partition,
            to=to,
            preference_version=prefs.version,
            created_at=now,
            reply_by=reply_by,
            tried=tried,
            follow_ups=follow_ups,
        )

    async def announce(self, wave: Wave, r: Routed, now: datetime) -> None:
        """Publish what a new decision means: a dispatch and/or the router's state."""
        p = r.planned
        if p.state is NotificationStatus.QUEUED:
            await wave.dispatch(r, now)
        elif p.state is NotificationStatus.HELD:
            self.with_pending.add(p.candidate_id)
        await wave.status(r, p.state, now, dispatched=p.state is NotificationStatus.QUEUED)
        self._metrics.decided(p)

    async def reannounce(self, wave: Wave, r: Routed, now: datetime) -> None:
        """A replayed decision (redelivery after a crash): publish again what it meant.

        The crash may have come between storing the decision and the broker acknowledging its dispatch
        and state; both are idempotent downstream (same ids; states only move forward).
        """
        state = r.planned.state
        dispatched = state is NotificationStatus.QUEUED and r.next_id is None
        if dispatched:
            await wave.dispatch(r, now)
        if state in ROUTER_STATES:
            await wave.status(r, state, now, dispatched=dispatched)

    async def on_ats_events(self, batch: Sequence[tuple[Record, AtsEvent]]) -> list[tuple[Record, DecodeError]]:
        """Decide every event of a batch, record the intents, dispatch, publish states; return what to dead-letter."""
        admitted = self._admission.sort(batch)
        rejected = await self._route(admitted)
        if admitted.waiting:  # candidates whose snapshot was not in the view: only they wait
            settled = await self._admission.settle(admitted.waiting)
            rejected += await self._route(settled)
        return rejected

    async def _route(self, admitted: Admitted) -> list[tuple[Record, DecodeError]]:
        now = self._clock()
        wave = self._outputs.wave()
        for _, event in admitted.suppressed:
            self._metrics.suppressed.inc()
            await wave.suppressed(event, stage_of(event, self._cfg), now)
        moving = {
            e.subject for _, e, _ in admitted.routable if isinstance(e, InterviewRescheduled | InterviewCancelled)
        }
        async with self.locks.hold_all(moving):  # no release of this candidate's held invitation meanwhile
            await self._decide(admitted.routable, wave, now)
        return admitted.rejected

    async def _decide(self, batch: Sequence[tuple[Record, AtsEvent, RoutingPrefs]], wave: Wave, now: datetime) -> None:
        sequences = await self._store.interview_sequences(
            e.data.interview.id
            for _, e, _ in batch
            if isinstance(e, InterviewScheduled | InterviewRescheduled | InterviewCancelled)
        )
        capped = [e.subject for _, e, p in batch if p.cap_per_day or p.cap_per_week]
        recent = await self._store.recent(capped, now) if capped else {}
        new: list[Routed] = []
        withdrawn: list[tuple[str, str, str]] = []
        for record, event, prefs in batch:
            invite_unsent = False
            if isinstance(event, InterviewScheduled | InterviewRescheduled | InterviewCancelled):
                iv = event.data.interview
                known = sequences.get(iv.id)
                if known is not None and iv.sequence < known:
                    self._metrics.stale_events.inc()
                    log.info("stale interview event ignored", extra={"event_id": event.id, "sequence": iv.sequence})
                    continue
                sequences[iv.id] = iv.sequence
                if not isinstance(event, InterviewScheduled):
                    invite_unsent = await self._invite_unsent(event.subject, iv.id)
            plan = plan_event(event, prefs, now, self._cfg, recent.get(event.subject, Recent()), invite_unsent)
            if plan.withdraw_messages_of is not None:
                withdrawn.append((event.subject, plan.withdraw_messages_of, _withdrawal_reason(event, invite_unsent)))
            for planned in plan.messages:
                new.append(self.routed(planned, record.partition, address_for(event, planned.channel), prefs, now))
        fresh_ids = {r.id for r in new}
        for candidate_id, interview_id, reason in withdrawn:
            await self._withdraw(wave, candidate_id, interview_id, fresh_ids, reason, now)
        existing = await self._store.insert(new)
        for r in new:
            if r.id not in existing:
                await self.announce(wave, r, now)
            else:
                await self.reannounce(wave, existing[r.id], now)
        await wave.flush()
        capped_set = set(capped)
        await self._store.record_sends(
            [
                r
                for r in new
                if r.id not in existing
                and r.planned.candidate_id in capped_set
                and r.planned.state is NotificationStatus.QUEUED
                and not r.planned.essential
            ]
        )
        if sequences:
            await self._store.save_interview_sequences(sequences)

    async def _invite_unsent(self, candidate_id: str, interview_id: str) -> bool:
        """The interview's invitation is still held (quiet hours, a pause): the candidate never got it."""
        about = await self._store.about_interview(candidate_id, interview_id)
        held = [r for r in about if r.planned.state is NotificationStatus.HELD]
        return any(r.planned.template in INVITES for r in held) and len(held) == len(about)

    async def _withdraw(
        self, wave: Wave, candidate_id: str, interview_id: str, keep: set[str], reason: str, now: datetime
    ) -> None:
        """Cancel what waits for a moved or cancelled interview: held invitation, reminders, follow-up watches."""
        stale = [r for r in await self._store.about_interview(candidate_id, interview_id) if r.id not in keep]
        if not stale:
            return
        await self._store.set_state([r.id for r in stale], NotificationStatus.CANCELLED, reason)
        for r in stale:
            if r.planned.state is NotificationStatus.HELD:  # a sent message keeps its state; its watch just ends
                await wave.status(r, NotificationStatus.CANCELLED, now, reason)

    async def on_status_events(self, batch: Sequence[tuple[Record, NotificationStatusEvent]]) -> None:
        """A failure or bounce falls back to the next channel at once; a reply ends the silence watch.

        Other states (sent, delivered, read) need no bookkeeping here, so they cost no database write.
        """
        tracked = [(record, e.data) for record, e in batch if e.data.status in _TRACKED]
        if not tracked:
            return
        now = self._clock()
        stored = await self._store.get_many(c.notification_id for _, c in tracked)
        await self._read_back(tracked, stored)
        forward: list[tuple[str, NotificationStatus]] = []
        fallbacks: list[tuple[Routed, str]] = []
        unrouted: list[StatusChange] = []
        for _, c in tracked:
            r = stored.get(c.notification_id)
            if r is None and c.status in FALLBACK_STATES and self._prefs(c.candidate_id) is not None:
                unrouted.append(c)  # neither waiting nor its command to be found: nothing to decide it from
                continue
            if r is None or STATUS_RANK[c.status] <= STATUS_RANK[r.planned.state]:
                log.info(
                    "state ignored",
                    extra={"notification_id": c.notification_id, "status": c.status.value, "known": r is not None},
                )
                continue
            stored[c.notification_id] = replace(r, planned=replace(r.planned, state=c.status))
            forward.append((c.notification_id, c.status))
            if c.status in FALLBACK_STATES:
                fallbacks.append((stored[c.notification_id], c.reason))
        await self._store.apply_statuses(forward)
        wave = self._outputs.wave()
        for c in unrouted:
            log.warning(
                "a failed message cannot be decided again; a recruiter takes over", extra={"id": c.notification_id}
            )
            self._metrics.needs_recruiter.labels(cause="command_gone").inc()
            await wave.unrouted(c, now)
        for r, why in fallbacks:
            cause = f"{r.planned.state.value} on {r.planned.channel}: {why}"
            async with self.locks.hold(r.planned.candidate_id):
                await self.fall_back(wave, r, cause, now, r.partition)
        await wave.flush()

    async def _read_back(self, tracked: Sequence[tuple[Record, StatusChange]], stored: dict[str, Routed]) -> None:
        """Messages that went out are not stored: their commands, where the notifier's failure report says."""
        wanted: dict[str, tuple[Position, int]] = {}
        for record, c in tracked:
            if c.status in FALLBACK_STATES and c.notification_id not in stored and c.channel is not None:
                at = parse_dispatch_ref(header(record, DISPATCH_REF_HEADER))
                if at is not None:
                    wanted[c.notification_id] = ((c.channel, *at), record.partition)
        if not wanted:
            return
        commands = await self._commands.read(position for position, _ in wanted.values())
        for nid, (position, partition) in wanted.items():
            cmd = commands.get(position)
            if cmd is not None and cmd.data.notification_id == nid:
                stored[nid] = routed_from_command(cmd, partition)

    async def fall_back(
        self,
        wave: Wave,
        r: Routed,
        cause: str,
        now: datetime,
        partition: int,
        template_override: TemplateName | None = None,
    ) -> None:
        """Try the next eligible channel (or raise needs_recruiter when none is left)."""
        prefs = self._prefs(r.planned.candidate_id)
        if prefs is None:
            log.warning(
                "no fallback: the candidate has no preferences in this view (erased?)",
                extra={"notification_id": r.id, "partition": partition},
            )
            return
        tried = (*r.tried, r.planned.channel) if r.planned.channel else r.tried
        intent = replace(intent_of(r), attempt=r.planned.attempt + 1)
        if template_override:
            intent = replace(intent, template=template_override, purpose_key=f"{r.planned.purpose_key}:follow_up")
        planned = decide(intent, prefs, now, self._cfg, Recent(), exclude=frozenset(tried))
        planned = replace(planned, reasons=(f"fallback after {cause}", *planned.reasons))
        nxt = self.routed(
            planned,
            partition,
            r.to if planned.channel == r.planned.channel else None,
            prefs,
            now,
            tried=tried,
            follow_ups=r.follow_ups + (1 if template_override else 0),
        )
        recorded = await self._store.record_next(r.id, [r.planned.state.value], nxt.id, r.planned.state.value)
        # Not recorded now: another decision was (stop), or this same one before a crash (publish it again).
        if not recorded and await self._store.next_of(r.id) != nxt.id:
            return
        self._metrics.fallbacks.labels(
            channel=r.planned.channel.value if r.planned.channel else "none",
            cause=r.planned.state.value if not template_override else "silence",
        ).inc()
        existing_next = await self._store.insert([nxt])
        if nxt.id in existing_next:
            await self.reannounce(wave, existing_next[nxt.id], now)
            return
        await self.announce(wave, nxt, now)
