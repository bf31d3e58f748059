"""E-mail over SMTP (aiosmtplib): text + HTML, RFC 8058 one-click unsubscribe, .ics for interviews.

Every message has a stable Message-ID (<notification id@domain>) and a VERP envelope sender
(bounces+<notification id>@...), so a duplicate from the crash window is identifiable and a
delivery-status notification maps back to its notification.

Internationalised addresses: domains go out as A-labels (envelope and headers); a non-ASCII local
part is sent with SMTPUTF8 when the relay offers it, and is otherwise a permanent failure with a
reason, so the router falls back to another channel instead of retrying what can never work.
"""

from __future__ import annotations

import asyncio
import contextlib
import html
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import format_datetime, parseaddr

import aiosmtplib

from services.notifier.calendar import interview_ics
from services.notifier.channels.base import Outcome, Outgoing, SendResult
from services.notifier.channels.mail_address import AddressError, MailAddress, mail_address
from services.notifier.channels.mime import Part, mailbox, render
from services.notifier.settings import NotifierSettings

_ICS_TEMPLATES = {"interview_invite": False, "interview_rescheduled": False, "interview_cancelled": True}
# What a Message-ID's left part, a VERP tag and the inbound matcher (inbound_mail._ID) all accept.
_NOTIFICATION_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}", re.ASCII)
NO_SMTPUTF8 = "the address has a non-ASCII local part, which needs SMTPUTF8, and the mail server does not offer it"


def message_id(notification_id: str, domain: str) -> str:
    """The stable Message-ID of a notification's e-mail."""
    return f"<{notification_id}@{domain}>"


def verp_sender(bounce_address: str, notification_id: str) -> str:
    """bounces@example.org -> bounces+<id>@example.org."""
    local, _, domain = bounce_address.partition("@")
    return f"{local}+{notification_id}@{domain}"


def _html(body: str, link: str, language: str) -> str:
    paras = "".join(f"<p>{html.escape(p).replace(chr(10), '<br>')}</p>" for p in body.split("\n\n") if p.strip())
    label = "Je voorkeuren" if language == "nl" else "Your preferences"
    return (
        f'<!doctype html><html lang="{language}"><body style="font-family:sans-serif;max-width:40em">{paras}'
        f'<p><a href="{html.escape(link)}">{label}</a></p></body></html>'
    )


@dataclass(frozen=True)
class Envelope:
    """Where one e-mail goes, in SMTP form, and whether that takes SMTPUTF8."""

    sender: MailAddress  # the VERP bounce address
    author: MailAddress  # the From address
    author_name: str
    recipient: MailAddress

    @property
    def needs_smtputf8(self) -> bool:
        """Any non-ASCII local part on the envelope or in an address header."""
        return any(a.needs_smtputf8 for a in (self.sender, self.author, self.recipient))


def envelope(out: Outgoing, s: NotifierSettings) -> Envelope:
    """The SMTP form of a notification's addresses; AddressError when one cannot be sent at all."""
    if not _NOTIFICATION_ID.fullmatch(out.msg.notification_id):
        raise AddressError("the notification id cannot be written in a Message-ID or a bounce address")
    name, author = parseaddr(s.mail_from)
    return Envelope(
        sender=mail_address(verp_sender(s.bounce_address, out.msg.notification_id)),
        author=mail_address(author or s.mail_from),
        author_name=name,
        recipient=mail_address(out.to),
    )


def build_email(out: Outgoing, s: NotifierSettings, now: datetime, env: Envelope | None = None) -> tuple[str, bytes]:
    """The Message-ID and the RFC 5322 bytes of one notification's e-mail."""
    m = out.msg
    env = env or envelope(out, s)
    mid = message_id(m.notification_id, s.message_id_domain)
    headers = [
        ("From", mailbox(env.author_name, str(env.author))),
        ("To", mailbox("", str(env.recipient))),
        ("Subject", out.rendered.subject),
        ("Date", format_datetime(now)),
        ("Message-ID", mid),
        ("X-Notification-Id", m.notification_id),
        ("X-Template", f"{out.rendered.template}/v{out.rendered.version}/{out.rendered.language}"),
        ("List-Unsubscribe", f"<{out.unsubscribe_url}>"),
        ("List-Unsubscribe-Post", "List-Unsubscribe=One-Click"),
        ("Content-Language", out.rendered.language),
    ]
    attachment = None
    cancel = _ICS_TEMPLATES.get(m.template)
    if cancel is not None and m.context.interview_id and m.context.interview_start and m.context.interview_end:
        ics = interview_ics(
            m.context,
            cancel=cancel,
            organizer=env.author.uri_form(),
            attendee=env.recipient.uri_form(),
            domain=s.message_id_domain,
            summary=out.rendered.subject,
            now=now,
        )
        method = "CANCEL" if cancel else "REQUEST"
        attachment = Part(f'text/calendar; charset="utf-8"; method={method}', ics, filename="invite.ics")
    html_body = _html(out.rendered.body, out.link, out.rendered.language)
    return mid, render(headers, out.rendered.body, html_body, attachment)


class EmailAdapter:
    """Sends through a small pool of SMTP connections."""

    provider = "smtp"

    def __init__(self, s: NotifierSettings) -> None:
        self._s = s
        self._idle: asyncio.Queue[aiosmtplib.SMTP] = asyncio.Queue()
        self._slots = asyncio.Semaphore(s.smtp_connections)

    async def _connect(self) -> aiosmtplib.SMTP:
        s = self._s
        client = aiosmtplib.SMTP(
            hostname=s.smtp_host,
            port=s.smtp_port,
            timeout=s.smtp_timeout_s,
            use_tls=s.smtp_tls,
            start_tls=s.smtp_starttls or None,
        )
        await client.connect()
        if s.smtp_username:
            await client.login(s.smtp_username, s.smtp_password.get_secret_value() if s.smtp_password else "")
        return client

    async def send(self, out: Outgoing) -> SendResult:
        """Send one e-mail; classify what the server answered (never raises for the message's content)."""
        try:
            env = envelope(out, self._s)
            mid, raw = build_email(out, self._s, datetime.now(UTC), env)
        except AddressError as exc:
            return SendResult(Outcome.PERMANENT, self.provider, reason=str(exc))
        async with self._slots:
            try:
                client = self._idle.get_nowait() if not self._idle.empty() else await self._connect()
            except (aiosmtplib.SMTPException, OSError) as exc:
                return SendResult(
                    Outcome.TRANSIENT, self.provider, mid, f"mail server unreachable ({type(exc).__name__})"
                )
            try:
                options = await self._mail_options(client, env)
                if options is None:
                    self._idle.put_nowait(client)
                    return SendResult(Outcome.PERMANENT, self.provider, mid, NO_SMTPUTF8)
                await client.sendmail(str(env.sender), [str(env.recipient)], raw, mail_options=options)
            except Exception as exc:  # noqa: BLE001 - every failure is classified; none may fail the batch
                return await self._failed(client, mid, exc)
            self._idle.put_nowait(client)
            return SendResult(Outcome.ACCEPTED, self.provider, mid)

    async def _mail_options(self, client: aiosmtplib.SMTP, env: Envelope) -> list[str] | None:
        """MAIL FROM options: SMTPUTF8 when an address needs it; None when the relay does not offer it."""
        if not env.needs_smtputf8:
            return []
        if client.is_ehlo_or_helo_needed:
            await client.ehlo()
        if not client.supports_extension("smtputf8"):
            return None
        # RFC 6531 section 3.1: an SMTPUTF8 server also takes 8-bit content (our UTF-8 address headers).
        return ["SMTPUTF8", "BODY=8BITMIME"] if client.supports_extension("8bitmime") else ["SMTPUTF8"]

    async def _failed(self, client: aiosmtplib.SMTP, mid: str, exc: Exception) -> SendResult:
        """Classify a failed transaction; keep the connection when only this transaction was refused."""
        if isinstance(exc, aiosmtplib.SMTPRecipientsRefused):
            await self._reuse(client)
            code = exc.recipients[0].code if exc.recipients else 550
            outcome = Outcome.BOUNCED if code >= 500 else Outcome.TRANSIENT
            return SendResult(outcome, self.provider, mid, f"recipient refused by the mail server ({code})")
        if isinstance(exc, aiosmtplib.SMTPNotSupported):  # the relay's EHLO changed after we asked
            await self._reuse(client)
            return SendResult(Outcome.PERMANENT, self.provider, mid, NO_SMTPUTF8)
        if isinstance(exc, aiosmtplib.SMTPResponseException):
            await self._reuse(client)
            outcome = Outcome.PERMANENT if exc.code >= 500 else Outcome.TRANSIENT
            return SendResult(outcome, self.provider, mid, f"mail server answered {exc.code}")
        await self._discard(client)
        if isinstance(exc, aiosmtplib.SMTPException | OSError):
            return SendResult(Outcome.TRANSIENT, self.provider, mid, f"mail server unreachable ({type(exc).__name__})")
        # Retrying cannot change what the SMTP client refuses to write (an encoding, an unsafe address).
        return SendResult(
            Outcome.PERMANENT, self.provider, mid, f"the SMTP client refused the message ({type(exc).__name__})"
        )

    async def _reuse(self, client: aiosmtplib.SMTP) -> None:
        """Reset the transaction and keep the connection, or drop it if the reset fails."""
        try:
            await client.rset()
        except (aiosmtplib.SMTPException, OSError):
            await self._discard(client)
            return
        self._idle.put_nowait(client)

    async def _discard(self, client: aiosmtplib.SMTP) -> None:
        with contextlib.suppress(Exception):
            client.close()

    async def close(self) -> None:
        """Say QUIT on every idle connection."""
        while not self._idle.empty():
            client = self._idle.get_nowait()
            with contextlib.suppress(Exception):
                await client.quit()
