"""The notifier's optional inbound SMTP listener (aiosmtpd): bounces and e-mail replies.

A DSN becomes `bounced` (contact_invalid for a permanent 5.x.x failure), so the router falls back and
the preference service marks the address invalid. A reply from the candidate's own address goes to
`candidate.inbound` for intent parsing, with a `replied` state for the message it answers; a reply
from any other address changes nothing and waits, with its text, on the worklist (a stranger's STOP
must not revoke a candidate's consent). When the database or the broker fails, the listener answers 451 so the
sending server retries later: the mail is not lost. Addresses are never logged.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from datetime import datetime
from typing import Any

from aiosmtpd.smtp import SMTP, Envelope, Session

from schemas.common import Channel, NotificationStatus, Stage
from schemas.inbound import InboundReply
from schemas.status import StatusChange
from services.notifier.channels.email import message_id
from services.notifier.channels.mail_address import same_mailbox
from services.notifier.inbound_mail import Bounce, Reply, read_inbound
from services.notifier.metrics import NotifierMetrics
from services.notifier.reach import Reach
from services.notifier.reports import Reports
from services.notifier.settings import NotifierSettings
from services.notifier.store import NotifierStore, SendRecord, sent_message

log = logging.getLogger(__name__)
MAX_MESSAGE_BYTES = 10 * 1024 * 1024  # DSNs may return the whole original message
_ACTIONS = frozenset({"failed", "delayed", "delivered", "relayed", "expanded"})
ReachOf = Callable[[str], Reach | None]
Clock = Callable[[], datetime]


class InboundMail:
    """aiosmtpd handler: accepts every recipient (nothing is relayed), acts on DSNs and replies."""

    def __init__(
        self,
        s: NotifierSettings,
        store: NotifierStore,
        reports: Reports,
        metrics: NotifierMetrics,
        reach_of: ReachOf,
        clock: Clock,
    ) -> None:
        self._s, self._store, self._reports = s, store, reports
        self._metrics, self._reach_of, self._clock = metrics, reach_of, clock

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:  # noqa: N802
        """Classify the message and act on it; 451 when our side failed, so the sender retries."""
        raw = envelope.original_content or b""
        s = self._s
        mail = read_inbound(raw, envelope.mail_from, envelope.rcpt_tos, s.bounce_address, s.message_id_domain)
        try:
            if isinstance(mail, Bounce):
                await self.on_bounce(mail)
            elif isinstance(mail, Reply):
                await self.on_reply(mail)
            else:
                self._count(f"ignored_{mail.why}")
        except Exception:
            log.exception("inbound mail not processed; the sending server will retry")
            return "451 4.3.0 temporary failure, please try again later"
        return "250 OK"

    def _count(self, status: str) -> None:
        self._metrics.provider_status.labels(channel=Channel.EMAIL.value, status=status).inc()

    async def _notification(self, notification_id: str) -> tuple[SendRecord, dict[str, Any]] | None:
        """Our send and its timeline entry; waits briefly, as a DSN can beat our record of the send."""
        return await sent_message(
            self._store, lambda: self._store.send_of(notification_id), self._s.callback_match_wait_s
        )

    def _change(
        self, record: SendRecord, entry: dict[str, Any], status: NotificationStatus, reason: str, **extra: Any
    ) -> StatusChange:
        return StatusChange(
            notification_id=record.notification_id,
            ats_event_id=entry["ats_event_id"],
            candidate_id=record.candidate_id,
            application_id=entry.get("application_id"),
            status=status,
            channel=Channel.EMAIL,
            stage=Stage(entry["stage"]),
            attempt=entry.get("attempt", 1),
            reason=reason[:500],
            provider="smtp",
            occurred_at=self._clock(),
            **extra,
        )

    async def on_bounce(self, bounce: Bounce) -> None:
        """A failed delivery becomes `bounced`; delays and successes are only counted."""
        if bounce.action != "failed":
            self._count(f"dsn_{bounce.action if bounce.action in _ACTIONS else 'other'}")
            return
        found = await self._notification(bounce.notification_id)
        if found is None:
            self._count("unmatched")
            return
        record, entry = found
        ref = message_id(record.notification_id, self._s.message_id_domain)
        change = self._change(
            record, entry, NotificationStatus.BOUNCED, bounce.reason, provider_ref=ref, contact_invalid=bounce.permanent
        )
        wave = self._reports.wave()
        await wave.change(change, dispatch_ref=record.dispatch_ref)
        await wave.flush()
        self._count("bounced")

    async def on_reply(self, reply: Reply) -> None:
        """Hand the candidate's words to the preference service and mark the message replied."""
        found = await self._notification(reply.notification_id) if reply.notification_id else None
        if found is None:
            self._count("unmatched_reply")
            return
        record, entry = found
        reach = self._reach_of(record.candidate_id)
        # The same mailbox may come back spelled differently: U-labels or A-labels, other case, other NFC form.
        if reach is None or not reach.email or not same_mailbox(reach.email, reply.sender):
            await self._store.add_work([self._unverified(record, entry, reply)])
            self._count("unverified_sender")
            return
        await self._publish_reply(record, entry, reply)
        self._metrics.replies.labels(channel=Channel.EMAIL.value).inc()

    async def _publish_reply(self, record: SendRecord, entry: dict[str, Any], reply: Reply) -> None:
        now = self._clock()
        await self._store.record_inbound(record.candidate_id, Channel.EMAIL.value, now)
        inbound = InboundReply(
            candidate_id=record.candidate_id,
            channel=Channel.EMAIL,
            text=reply.text,
            received_at=now,
            in_reply_to=record.notification_id,
            application_id=entry.get("application_id"),
            provider_ref=reply.message_id,
        )
        # The reply's own Message-ID makes a retried delivery of the same mail the same event.
        event_id = f"inbound:{reply.message_id or f'{record.candidate_id}:{now.isoformat()}'}"
        replied = self._change(
            record, entry, NotificationStatus.REPLIED, "the candidate replied by e-mail", provider_ref=reply.message_id
        )
        wave = self._reports.wave()
        await wave.reply(inbound, event_id)
        await wave.change(replied)
        await wave.flush()

    def _unverified(self, record: SendRecord, entry: dict[str, Any], reply: Reply) -> dict[str, Any]:
        return {
            "_id": f"unverified_reply:{reply.message_id or record.notification_id}",
            "kind": "unparsed_reply",
            "candidate_id": record.candidate_id,
            "application_id": entry.get("application_id"),
            "notification_id": record.notification_id,
            "stage": entry.get("stage"),
            "channel": Channel.EMAIL.value,
            "reason": "an e-mail reply came from an address that is not the candidate's; nothing was changed",
            "created_at": self._clock(),
            "handled_at": None,
            "details": {"text": reply.text},  # kept for the recruiter: this mail reached no mailbox
        }


async def start_inbound_smtp(s: NotifierSettings, handler: InboundMail) -> asyncio.Server | None:
    """Listen on s.host:s.inbound_smtp_port (None when the listener is off)."""
    if not s.inbound_smtp_port:
        return None
    loop = asyncio.get_running_loop()
    return await loop.create_server(
        lambda: SMTP(
            handler,
            hostname=s.message_id_domain,
            ident="candidate-comms notifier",
            data_size_limit=MAX_MESSAGE_BYTES,
            enable_SMTPUTF8=True,
        ),
        host=s.host,
        port=s.inbound_smtp_port,
    )
