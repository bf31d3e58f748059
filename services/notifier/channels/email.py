"""E-mail over SMTP (aiosmtplib): text + HTML, RFC 8058 one-click unsubscribe, .ics for interviews.

Every message has a stable Message-ID (<notification id@domain>) and a VERP envelope sender
(bounces+<notification id>@...), so a duplicate from the crash window is identifiable and a
delivery-status notification maps back to its notification.
"""

from __future__ import annotations

import asyncio
import contextlib
import html
from datetime import UTC, datetime
from email.utils import format_datetime, parseaddr

import aiosmtplib

from services.notifier.calendar import interview_ics
from services.notifier.channels.base import Outcome, Outgoing, SendResult
from services.notifier.channels.mime import Part, render
from services.notifier.settings import NotifierSettings

_ICS_TEMPLATES = {"interview_invite": False, "interview_rescheduled": False, "interview_cancelled": True}


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


def build_email(out: Outgoing, s: NotifierSettings, now: datetime) -> tuple[str, bytes]:
    """The Message-ID and the RFC 5322 bytes of one notification's e-mail."""
    m = out.msg
    mid = message_id(m.notification_id, s.message_id_domain)
    headers = [
        ("From", s.mail_from),
        ("To", out.to),
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
            organizer=parseaddr(s.mail_from)[1],
            attendee=out.to,
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
        """Send one e-mail; classify what the server answered."""
        mid, raw = build_email(out, self._s, datetime.now(UTC))
        async with self._slots:
            client = None
            try:
                client = self._idle.get_nowait() if not self._idle.empty() else await self._connect()
                await client.sendmail(verp_sender(self._s.bounce_address, out.msg.notification_id), [out.to], raw)
            except aiosmtplib.SMTPRecipientsRefused as exc:
                await self._reuse(client)
                code = exc.recipients[0].code if exc.recipients else 550
                outcome = Outcome.BOUNCED if code >= 500 else Outcome.TRANSIENT
                return SendResult(outcome, self.provider, mid, f"recipient refused by the mail server ({code})")
            except aiosmtplib.SMTPResponseException as exc:
                await self._reuse(client)
                outcome = Outcome.PERMANENT if exc.code >= 500 else Outcome.TRANSIENT
                return SendResult(outcome, self.provider, mid, f"mail server answered {exc.code}")
            except (aiosmtplib.SMTPException, OSError) as exc:
                await self._discard(client)
                return SendResult(
                    Outcome.TRANSIENT, self.provider, mid, f"mail server unreachable ({type(exc).__name__})"
                )
            self._idle.put_nowait(client)
            return SendResult(Outcome.ACCEPTED, self.provider, mid)

    async def _reuse(self, client: aiosmtplib.SMTP | None) -> None:
        """Reset the transaction and keep the connection, or drop it if the reset fails."""
        if client is None:
            return
        try:
            await client.rset()
        except (aiosmtplib.SMTPException, OSError):
            await self._discard(client)
            return
        self._idle.put_nowait(client)

    async def _discard(self, client: aiosmtplib.SMTP | None) -> None:
        if client is not None:
            with contextlib.suppress(Exception):
                client.close()

    async def close(self) -> None:
        """Say QUIT on every idle connection."""
        while not self._idle.empty():
            client = self._idle.get_nowait()
            with contextlib.suppress(Exception):
                await client.quit()
