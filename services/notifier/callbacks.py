"""Provider callbacks: message receipts, call progress and inbound SMS/WhatsApp, all signed by the provider.

Every request must carry a valid X-Twilio-Signature over the URL the provider was given (our
public_url + path + query) and its form fields; anything else is refused with 403 and counted.
Receipts find their notification by the provider's sid; a receipt can arrive before our record of
the send is written, so it waits up to callback_match_wait_s for it. Inbound messages name only a
phone number: the PhoneBook (the notifier's preference view, indexed by number) finds the candidates
holding it, and inbound_sms decides which of them wrote (or puts the message on the worklist).
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Iterable
from datetime import datetime
from typing import Any

from fastapi import APIRouter, Request, Response

from schemas.common import Channel, NotificationStatus, Stage
from schemas.status import StatusChange
from services.common.view import PartitionedView
from services.notifier.channels.twilio_api import INBOUND_PATH, STATUS_PATH, TWILIO_ERRORS, VOICE_STATUS_PATH
from services.notifier.channels.voice import call_verdict, empty_twiml
from services.notifier.inbound_sms import InboundMessages, Owners
from services.notifier.metrics import NotifierMetrics
from services.notifier.reach import Reach
from services.notifier.reports import Reports
from services.notifier.settings import NotifierSettings
from services.notifier.signatures import TWILIO_SIGNATURE_HEADER, verify_twilio
from services.notifier.store import NotifierStore, SendRecord, sent_message

MESSAGE_STATES = {
    "sent": NotificationStatus.SENT,
    "delivered": NotificationStatus.DELIVERED,
    "read": NotificationStatus.READ,
    "failed": NotificationStatus.FAILED,
    "undelivered": NotificationStatus.FAILED,
}
_KNOWN_PROVIDER_STATES = frozenset({*MESSAGE_STATES, "queued", "sending", "accepted", "scheduled", "canceled"})
log = logging.getLogger(__name__)
HangUp = Callable[[str], Awaitable[bool]]
Clock = Callable[[], datetime]


def receipt_error(code: str) -> str:
    """'Twilio error 30003: handset unreachable' (our words, no contact data)."""
    known = TWILIO_ERRORS.get(int(code))
    return f"Twilio error {code}" + (f": {known}" if known else "")


class PhoneBook(PartitionedView[Reach]):
    """The notifier's preference view, also indexed by phone and WhatsApp number."""

    def __init__(self) -> None:
        super().__init__()
        self._owners: dict[str, set[str]] = {}
        self._held: dict[str, tuple[int, frozenset[str]]] = {}

    def apply(
        self, partition: int, candidate_id: str, value: Reach | None, version: int | None = None
    ) -> tuple[Reach | None, bool]:
        old, changed = super().apply(partition, candidate_id, value, version)
        if changed:
            self._forget(candidate_id)
            numbers = frozenset(n for n in (value.phone, value.whatsapp) if n) if value else frozenset()
            self._held[candidate_id] = (partition, numbers)
            for n in numbers:
                self._owners.setdefault(n, set()).add(candidate_id)
        return old, changed

    def drop(self, partitions: Iterable[int]) -> None:
        gone = set(partitions)
        super().drop(gone)
        for candidate_id in [c for c, (p, _) in self._held.items() if p in gone]:
            self._forget(candidate_id)

    def _forget(self, candidate_id: str) -> None:
        _, numbers = self._held.pop(candidate_id, (0, frozenset()))
        for n in numbers:
            owners = self._owners.get(n, set())
            owners.discard(candidate_id)
            if not owners:
                self._owners.pop(n, None)

    async def candidate_for(self, number: str, channel: Channel) -> str | None:
        """The one candidate with this number; None when unknown or shared (a reply must not be misattributed)."""
        owners = self._owners.get(number, set())
        return next(iter(owners)) if len(owners) == 1 else None

    async def candidates_for(self, number: str, channel: Channel) -> tuple[str, ...]:
        """Every candidate holding this number (several when a family or an agency shares one), sorted."""
        return tuple(sorted(self._owners.get(number, ())))


def callback_routes(
    s: NotifierSettings,
    store: NotifierStore,
    reports: Reports,
    metrics: NotifierMetrics,
    owners: Owners,
    hang_up: HangUp,
    clock: Clock,
) -> APIRouter:
    """The provider callback endpoints."""
    router = APIRouter(include_in_schema=False)
    token = s.twilio_auth_token.get_secret_value()
    inbound = InboundMessages(store, reports, metrics, owners, clock)

    async def signed_form(request: Request, endpoint: str) -> dict[str, str] | None:
        form = await request.form()
        pairs = [(k, v) for k, v in form.multi_items() if isinstance(v, str)]
        query = f"?{request.url.query}" if request.url.query else ""
        url = s.public_url.rstrip("/") + request.url.path + query
        if not verify_twilio(token, url, pairs, request.headers.get(TWILIO_SIGNATURE_HEADER)):
            metrics.rejected_callbacks.labels(endpoint=endpoint).inc()
            return None
        return dict(pairs)

    async def match(ref: str) -> tuple[SendRecord, dict[str, Any]] | None:
        async def find() -> SendRecord | None:
            return await store.send_by_ref(ref) if ref else None

        return await sent_message(store, find, s.callback_match_wait_s)

    async def publish(ref: str, status: NotificationStatus, reason: str, provider_state: str) -> None:
        found = await match(ref)
        if found is None:
            metrics.provider_status.labels(channel="unknown", status="unmatched").inc()
            return
        record, entry = found
        metrics.provider_status.labels(channel=record.channel, status=provider_state).inc()
        if status is NotificationStatus.SENT and record.state == "sent":
            return  # delivery reported `sent` already when the provider accepted
        wave = reports.wave()
        await wave.change(
            StatusChange(
                notification_id=record.notification_id,
                ats_event_id=entry["ats_event_id"],
                candidate_id=record.candidate_id,
                application_id=entry.get("application_id"),
                status=status,
                channel=Channel(record.channel),
                stage=Stage(entry["stage"]),
                attempt=entry.get("attempt", 1),
                reason=reason[:500],
                provider=record.provider,
                provider_ref=ref,
                occurred_at=clock(),
            ),
            dispatch_ref=record.dispatch_ref,
        )
        await wave.flush()

    @router.post(STATUS_PATH)
    async def on_message_status(request: Request) -> Response:
        """A message receipt (sent, delivered, read, failed, undelivered)."""
        params = await signed_form(request, "status")
        if params is None:
            return Response(status_code=403)
        state = params.get("MessageStatus", "")
        status = MESSAGE_STATES.get(state)
        if status is None:
            metrics.provider_status.labels(
                channel="unknown", status=state if state in _KNOWN_PROVIDER_STATES else "other"
            ).inc()
            return Response(status_code=204)
        code = params.get("ErrorCode", "")
        reason = f"provider reported {state}" + (f" ({receipt_error(code)})" if code.isdigit() else "")
        await publish(params.get("MessageSid", ""), status, reason, state)
        return Response(status_code=204)

    @router.post(VOICE_STATUS_PATH)
    async def on_call_status(request: Request) -> Response:
        """Call progress and answering-machine verdicts; hangs up on machines when voicemail is unwanted."""
        params = await signed_form(request, "voice-status")
        if params is None:
            return Response(status_code=403)
        verdict = call_verdict(params, voicemail_allowed=request.query_params.get("voicemail") != "no")
        call_sid = params.get("CallSid", "")
        if verdict.hang_up and not await hang_up(call_sid):
            log.warning("could not hang up a call answered by a machine", extra={"call_sid": call_sid})
        if verdict.status is not None:
            await publish(call_sid, verdict.status, verdict.reason, params.get("CallStatus") or "amd")
        return Response(status_code=204)

    @router.post(INBOUND_PATH)
    async def on_inbound(request: Request) -> Response:
        """An SMS or WhatsApp message: to the candidate it answers, else onto the worklist; never dropped."""
        params = await signed_form(request, "inbound")
        if params is None:
            return Response(status_code=403)
        await inbound.receive(params)
        return Response(empty_twiml(), media_type="application/xml")

    return router
