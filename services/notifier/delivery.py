"""Delivery of dispatch batches: barrier, claim, last-mile check, render, send with retries, record, report.

Exactly once as far as providers allow: a notification is claimed in MongoDB before the provider
call and marked sent right after it. A crash between the provider accepting and our record being
written (the one window no SMTP server or SMS API lets us close) makes a redelivery send again;
those resends are counted (`notifier_window_resends_total`) and carry the same Message-ID or
provider reference, so a duplicate is identifiable.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from structlog.contextvars import bind_contextvars

from schemas.common import Channel, NotificationStatus
from schemas.dispatch import DeliverMessage, DeliverMessageCommand
from schemas.status import dispatch_ref, reason_text
from services.common.failpoints import CrashPoints
from services.common.failures import TransientError
from services.common.gathering import all_of
from services.common.kafka import Record
from services.common.links import sign
from services.notifier.channels.base import ChannelAdapter, Outcome, Outgoing, SendResult
from services.notifier.metrics import NotifierMetrics
from services.notifier.reach import Reach, last_mile_block
from services.notifier.rendering import Renderer, RenderError
from services.notifier.reports import Reports
from services.notifier.settings import NotifierSettings
from services.notifier.store import NotifierStore, SendRecord, TimelineEntry

log = logging.getLogger(__name__)
Clock = Callable[[], datetime]
ReachLookup = Callable[[str], Reach | None]
ERASED = "suppressed: the candidate's data was erased on request; nothing is sent"
_FINAL_STATE = {
    Outcome.ACCEPTED: "sent",
    Outcome.PERMANENT: "failed",
    Outcome.BOUNCED: "bounced",
    Outcome.TRANSIENT: "failed",
}


class ViewBehindError(TransientError):
    """The preference view did not reach the acknowledged offsets in time; retry the batch."""


@dataclass(frozen=True)
class Job:
    """One message to try, and where its command is (see SendRecord.dispatch_ref)."""

    msg: DeliverMessage
    ref: str | None = None


class Delivery:
    """Delivers dispatch commands of one channel."""

    def __init__(
        self,
        settings: NotifierSettings,
        channel: Channel,
        adapter: ChannelAdapter,
        store: NotifierStore,
        reach: ReachLookup,
        barrier: Callable[[set[str]], Awaitable[bool]],
        renderer: Renderer,
        reports: Reports,
        metrics: NotifierMetrics,
        clock: Clock,
        crash: CrashPoints | None = None,
    ) -> None:
        self._s = settings
        self._channel = channel
        self._adapter = adapter
        self._store = store
        self._reach = reach
        self._barrier = barrier
        self._renderer = renderer
        self._reports = reports
        self._metrics = metrics
        self._clock = clock
        self._crash = crash or CrashPoints(None)
        self._claimed_unsent: set[str] = set()  # claimed while the view was behind: never handed to a provider
        self._secret = settings.link_secret.get_secret_value().encode()
        for state in ("sent", "failed", "bounced"):  # start at 0, so the first failure shows in rates
            metrics.deliveries.labels(channel=channel.value, provider=adapter.provider, status=state)

    async def on_dispatch(self, batch: Sequence[tuple[Record, DeliverMessageCommand]]) -> None:
        """Handle one batch of commands; returns once every outcome is recorded and reported."""
        jobs = list(
            {cmd.data.notification_id: Job(cmd.data, dispatch_ref(r.partition, r.offset)) for r, cmd in batch}.values()
        )
        now = self._clock()
        # The acknowledgement barrier (whatever a candidate changed before now is in the view first) and the
        # claims at once: a claim sends nothing, and the last-mile check that needs the view comes after both.
        try:
            caught_up, existing = await all_of(
                self._barrier({j.msg.candidate_id for j in jobs}),
                self._store.claim(
                    [
                        SendRecord(j.msg.notification_id, "claimed", j.msg.channel.value, j.msg.candidate_id)
                        for j in jobs
                    ],
                    now,
                ),
            )
        except Exception:
            self._sent_nothing(j.msg.notification_id for j in jobs)  # rare: a crash's claim met now goes uncounted
            raise
        if not caught_up:
            self._sent_nothing(j.msg.notification_id for j in jobs if j.msg.notification_id not in existing)
            raise ViewBehindError("preference view behind the acknowledged offsets")
        self._crash.reached("after_claim")
        wave = self._reports.wave()
        todo = []
        for j in jobs:
            prior = existing.get(j.msg.notification_id)
            if prior is None:
                todo.append(j)
            elif prior.channel != self._channel.value:
                # The router decided this message again (a redelivery after its crash) onto another channel; the
                # first channel's reader has it, sends it at most once and reports it. Not a second message.
                log.info(
                    "message already claimed on another channel; not sent again",
                    extra={"notification_id": prior.notification_id, "claimed_on": prior.channel},
                )
            elif prior.state == "claimed":
                if j.msg.notification_id not in self._claimed_unsent:
                    self._metrics.window_resends.labels(channel=self._channel.value).inc()
                self._claimed_unsent.discard(j.msg.notification_id)
                todo.append(j)  # crashed mid-send before: the documented window; same Message-ID / reference
            else:
                await wave.state(
                    j.msg,
                    NotificationStatus(prior.state),
                    prior.reason,
                    prior.provider,
                    prior.provider_ref,
                    now,
                    recorded=True,
                    dispatch_ref=prior.dispatch_ref or j.ref,
                )
        results = await asyncio.gather(*(self._deliver_or_fail(j, now) for j in todo))
        self._crash.reached("after_send")
        records = [replace(r, dispatch_ref=j.ref) for (r, _), j in zip(results, todo, strict=True)]
        await self._store.finish(records, {e.notification_id: e for _, e in results if e is not None}, self._clock())
        self._crash.reached("after_record")
        for record, j in zip(records, todo, strict=True):
            await wave.state(
                j.msg,
                NotificationStatus(record.state),
                record.reason,
                record.provider,
                record.provider_ref,
                record.ended_at or self._clock(),
                recorded=True,
                dispatch_ref=record.dispatch_ref,
            )
        await wave.flush()

    def _sent_nothing(self, notification_ids: Iterable[str]) -> None:
        """Claims of a batch that failed before any send: on its retry they are no resend in the window."""
        if len(self._claimed_unsent) > 100_000:  # retries that never came (the partition moved): forget them
            self._claimed_unsent.clear()
        self._claimed_unsent.update(notification_ids)

    async def _deliver_or_fail(self, job: Job, now: datetime) -> tuple[SendRecord, TimelineEntry | None]:
        """_deliver; an unexpected exception fails this one message instead of the whole batch.

        A batch is retried as a whole, so one message that always raises (a bug, a value some library
        refuses) would hold every other candidate's message in it hostage. It ends `failed` with the
        exception's class as the reason, and the router falls back.
        """
        try:
            return await self._deliver(job, now)
        except Exception as exc:  # see the docstring; CancelledError is not an Exception
            log.exception("unexpected error delivering one message; it fails, the batch goes on")
            self._metrics.unexpected_errors.labels(channel=self._channel.value).inc()
            return self._record(job.msg, "failed", f"unexpected error while sending ({type(exc).__name__})"), None

    async def _deliver(self, job: Job, now: datetime) -> tuple[SendRecord, TimelineEntry | None]:
        msg = job.msg
        # Runs as its own task (gather), so this binding names this message in its log lines only.
        bind_contextvars(notification_id=msg.notification_id, ats_event_id=msg.ats_event_id)
        reach = self._reach(msg.candidate_id)
        if reach is None:  # after the barrier: no snapshot means the candidate was erased
            self._metrics.blocked.labels(channel=self._channel.value).inc()
            return self._record(msg, "suppressed", ERASED), None
        to = reach.address(msg.channel) or msg.to
        blocked = last_mile_block(reach, msg.channel, msg.purpose_class)
        if blocked is None and not to:
            blocked = "no address known for this channel"
        if blocked is not None:
            self._metrics.blocked.labels(channel=self._channel.value).inc()
            return self._record(msg, "failed", blocked), None
        link = self.self_service_link(msg.candidate_id, now)
        try:
            rendered = self._renderer.render(msg, link)
        except RenderError as exc:
            return self._record(msg, "failed", str(exc)), None
        out = Outgoing(
            msg=msg,
            to=to or "",
            rendered=rendered,
            link=link,
            unsubscribe_url=f"{link.replace('/s/', '/u/', 1)}?channel={msg.channel.value}",
        )
        result = await self._send_with_retries(out)
        entry = TimelineEntry(
            notification_id=msg.notification_id,
            candidate_id=msg.candidate_id,
            application_id=msg.application_id,
            ats_event_id=msg.ats_event_id,
            channel=msg.channel.value,
            stage=msg.stage.value,
            attempt=msg.attempt,
            template=rendered.template,
            template_version=rendered.version,
            language=rendered.language,
            reasons=msg.reasons,
            subject=rendered.subject,
            body=rendered.body if msg.channel in (Channel.EMAIL, Channel.PORTAL) else rendered.short,
            at=now,
        )
        ended = self._clock()  # when the provider answered: the state's time, not when it was recorded
        if result.outcome is Outcome.ACCEPTED:
            self._metrics.end_to_end.observe(max(0.0, (ended - msg.event_time).total_seconds()))
        return self._record(
            msg, _FINAL_STATE[result.outcome], result.reason, result.provider, result.provider_ref, ended
        ), entry

    def _record(
        self,
        msg: DeliverMessage,
        state: str,
        reason: str,
        provider: str | None = None,
        ref: str | None = None,
        ended: datetime | None = None,
    ) -> SendRecord:
        self._metrics.deliveries.labels(channel=self._channel.value, provider=provider or "none", status=state).inc()
        log.info("delivery outcome", extra={"channel": msg.channel.value, "status": state, "reason": reason})
        return SendRecord(
            msg.notification_id,
            state,
            msg.channel.value,
            msg.candidate_id,
            provider,
            ref,
            reason,
            ats_event_id=msg.ats_event_id,
            application_id=msg.application_id,
            stage=msg.stage.value,
            attempt=msg.attempt,
            queued_at=msg.decided_at,
            queued_reason=reason_text(msg.reasons),
            ended_at=ended or self._clock(),
        )

    def self_service_link(self, candidate_id: str, now: datetime) -> str:
        """The candidate's signed link to their preferences (reusable until it expires)."""
        token = sign(self._secret, candidate_id, now + timedelta(days=self._s.link_ttl_days))
        return f"{self._s.preference_url}/s/{token}"

    async def _send_with_retries(self, out: Outgoing) -> SendResult:
        result = SendResult(Outcome.TRANSIENT, self._adapter.provider, reason="not tried")
        for attempt in range(1, self._s.send_attempts + 1):
            started = self._clock()
            result = await self._adapter.send(out)
            self._metrics.provider_latency.labels(provider=result.provider).observe(
                (self._clock() - started).total_seconds()
            )
            if result.outcome is not Outcome.TRANSIENT:
                return result
            if attempt < self._s.send_attempts:
                self._metrics.retries.labels(channel=self._channel.value).inc()
                backoff = min(self._s.retry_max_s, self._s.retry_base_s * 2 ** (attempt - 1))
                wait = (
                    min(self._s.retry_max_s, result.retry_after_s)
                    if result.retry_after_s
                    else backoff * random.uniform(0.5, 1.0)
                )
                await asyncio.sleep(wait)
        return SendResult(
            Outcome.TRANSIENT,
            result.provider,
            result.provider_ref,
            f"{result.reason}; gave up after {self._s.send_attempts} tries",
        )
