"""Inbound e-mail, classified without I/O: a delivery-status notification, a candidate's reply, or neither.

A DSN (RFC 3464: multipart/report; report-type=delivery-status) reaches the VERP address of the
notification it reports on (bounces+<notification id>@...); the returned headers name it too. A
reply names our Message-ID (<notification id@message_id_domain>) in In-Reply-To or References
(RFC 5322 section 3.6.4), or arrives at a +tagged reply address. Automatic answers (RFC 3834
Auto-Submitted, vacation responders) are neither: they say nothing about the candidate's wishes.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from email import message_from_bytes, policy
from email.message import EmailMessage, Message
from email.parser import BytesHeaderParser, HeaderParser
from email.utils import getaddresses, parseaddr

from services.common.logs import mask
from services.notifier.reply_text import html_text, strip_quoted

_ID = r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}"
_MSG_ID = re.compile(r"<([^<>\s]+)>")
_STATUS = re.compile(r"\b([245])\.\d{1,3}\.\d{1,3}\b")
_AUTOMATIC_PRECEDENCE = frozenset({"bulk", "junk", "list", "auto_reply"})
MAX_REPLY_CHARS = 2000  # InboundReply.text


@dataclass(frozen=True)
class Bounce:
    """A delivery-status report about one of our notifications."""

    notification_id: str
    action: str  # failed | delayed | delivered | relayed | expanded (RFC 3464 section 2.3.3)
    status: str  # RFC 3463 enhanced status code, e.g. 5.1.1
    diagnostic: str  # the remote server's words, contact data masked

    @property
    def permanent(self) -> bool:
        """A hard bounce: the address does not work and retrying will not help."""
        return self.action == "failed" and self.status.startswith("5")

    @property
    def reason(self) -> str:
        """The status reason (no contact data)."""
        kind = "hard bounce" if self.permanent else f"delivery {self.action or 'report'}"
        return f"{kind} reported by the receiving mail server ({self.status or 'no status'}): {self.diagnostic}"[:500]


@dataclass(frozen=True)
class Reply:
    """What a candidate wrote back, and which of our messages it answers."""

    notification_id: str | None
    sender: str  # the From address, lower case (compared with the candidate's, never logged)
    text: str
    message_id: str | None


@dataclass(frozen=True)
class Ignored:
    """Mail we accept and drop; `why` is a metric label."""

    why: str


Inbound = Bounce | Reply | Ignored


def _ours(ids: Iterable[str], domain: str) -> str | None:
    """The first notification id among Message-IDs of our domain."""
    for mid in ids:
        left, _, right = mid.rpartition("@")
        if right.lower() == domain.lower() and re.fullmatch(_ID, left):
            return left
    return None


def _tagged(rcpt_tos: Sequence[str], base: str | None, exclude: str | None = None) -> str | None:
    """The +tag of the first recipient <base>+<id>@... (any base when None; never `exclude`)."""
    for rcpt in rcpt_tos:
        local = rcpt.rpartition("@")[0].lower()
        root, plus, tag = local.partition("+")
        if plus and root != exclude and (base is None or root == base) and re.fullmatch(_ID, tag):
            return tag
    return None


def _status_blocks(part: Message) -> list[Message]:
    """The header blocks of a message/delivery-status part (per-message first, then per-recipient)."""
    payload = part.get_payload()
    if isinstance(payload, list):
        return [p for p in payload if isinstance(p, Message)]
    raw = part.get_payload(decode=True)  # an encoded part: split the blocks ourselves
    text = raw.decode("utf-8", "replace") if isinstance(raw, bytes) else str(payload)
    return [HeaderParser().parsestr(block) for block in re.split(r"\r?\n\s*\r?\n", text) if block.strip()]


def _returned_ids(msg: Message, domain: str) -> str | None:
    """The notification named in the returned message or its headers."""
    for part in msg.walk():
        kind = part.get_content_type()
        headers: Message | None = None
        if kind == "text/rfc822-headers":
            raw = part.get_payload(decode=True)
            headers = BytesHeaderParser().parsebytes(raw) if isinstance(raw, bytes) else None
        elif kind == "message/rfc822":
            inner = part.get_payload()
            first = inner[0] if isinstance(inner, list) and inner else None
            headers = first if isinstance(first, Message) else None
        if headers is not None:
            nid = headers.get("X-Notification-Id", "").strip()
            if re.fullmatch(_ID, nid):
                return nid
            found = _ours(_MSG_ID.findall(str(headers.get("Message-ID", ""))), domain)
            if found:
                return found
    return None


def read_dsn(msg: Message, rcpt_tos: Sequence[str], bounce_address: str, domain: str) -> Bounce | Ignored:
    """The report of a multipart/report DSN about one of our notifications."""
    report = next((p for p in msg.walk() if p.get_content_type() == "message/delivery-status"), None)
    if report is None:
        return Ignored("dsn_without_status")
    base = bounce_address.rpartition("@")[0].lower()
    nid = _tagged(rcpt_tos, base) or _returned_ids(msg, domain)
    if nid is None:
        return Ignored("dsn_unknown_message")
    recipients = [b for b in _status_blocks(report) if b.get("Action")]
    if not recipients:
        return Ignored("dsn_without_recipient")
    block = next((b for b in recipients if str(b["Action"]).strip().lower() == "failed"), recipients[0])
    status = _STATUS.search(str(block.get("Status", "")))
    diagnostic = str(block.get("Diagnostic-Code", "")).partition(";")[2] or str(block.get("Diagnostic-Code", ""))
    return Bounce(
        notification_id=nid,
        action=str(block["Action"]).strip().lower(),
        status=status.group(0) if status else "",
        diagnostic=mask(" ".join(diagnostic.split()))[:200],
    )


def _automatic(msg: Message) -> bool:
    auto = str(msg.get("Auto-Submitted", "no")).strip().lower()
    precedence = str(msg.get("Precedence", "")).strip().lower()
    return auto != "no" or precedence in _AUTOMATIC_PRECEDENCE or "X-Autoreply" in msg or "X-Autorespond" in msg


def _text(msg: EmailMessage) -> str:
    body = msg.get_body(preferencelist=("plain", "html"))
    if body is None:
        return ""
    content = body.get_content() if isinstance(body, EmailMessage) else ""
    text = html_text(content) if body.get_content_type() == "text/html" else str(content)
    return strip_quoted(text)[:MAX_REPLY_CHARS]


def read_reply(msg: EmailMessage, rcpt_tos: Sequence[str], bounce_address: str, domain: str) -> Reply | Ignored:
    """A candidate's reply: which notification it answers, who sent it, the new text."""
    if _automatic(msg):
        return Ignored("automatic_reply")
    # The direct parent first (In-Reply-To), then the thread from the newest reference back.
    refs = _MSG_ID.findall(str(msg.get("In-Reply-To", ""))) + _MSG_ID.findall(str(msg.get("References", "")))[::-1]
    bounce_base = bounce_address.rpartition("@")[0].lower()
    nid = _ours(refs, domain) or _tagged(rcpt_tos, None, exclude=bounce_base)
    senders = getaddresses([str(msg.get("From", ""))])
    sender = (senders[0][1] if senders else "").lower()
    mid = _MSG_ID.findall(str(msg.get("Message-ID", "")))
    try:
        text = _text(msg)
    except (LookupError, ValueError):  # an unknown charset or a broken part
        return Ignored("unreadable")
    if not text:
        return Ignored("empty_reply")
    return Reply(notification_id=nid, sender=sender, text=text, message_id=f"<{mid[0]}>"[:200] if mid else None)


def read_inbound(
    raw: bytes, mail_from: str | None, rcpt_tos: Sequence[str], bounce_address: str, domain: str
) -> Inbound:
    """Classify one received message (a malformed one is ignored, never an error)."""
    try:
        return _classify(raw, mail_from, rcpt_tos, bounce_address, domain)
    except (ValueError, LookupError, TypeError, AttributeError):  # what the email package raises on junk
        return Ignored("unreadable")


def _classify(raw: bytes, mail_from: str | None, rcpt_tos: Sequence[str], bounce_address: str, domain: str) -> Inbound:
    msg = message_from_bytes(raw, policy=policy.default)
    if not isinstance(msg, EmailMessage):
        return Ignored("unreadable")
    if msg.get_content_type() == "multipart/report":
        if str(msg.get_param("report-type", "")).lower() == "delivery-status":
            return read_dsn(msg, rcpt_tos, bounce_address, domain)
        return Ignored("other_report")  # e.g. an abuse feedback report (RFC 5965)
    base = bounce_address.rpartition("@")[0].lower()
    if _tagged(rcpt_tos, base) is not None or not (mail_from or parseaddr(str(msg.get("From", "")))[1]):
        return Ignored("not_a_report")  # a non-standard bounce at the VERP address, or a null sender
    return read_reply(msg, rcpt_tos, bounce_address, domain)
