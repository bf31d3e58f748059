"""Sends one-time verification codes at once: SMS through the Twilio-style Messages API, e-mail over SMTP.

Why here and not through a dispatch command to the notifier: a code is useful for minutes and the
candidate is waiting on the page, so the page must know at once whether it left. A dispatch would put
the code on a Kafka topic (kept for its retention), in the notifier's send records and timeline, and
in its retries after the candidate gave up. Sent directly, the code exists only in this request's
memory and at the provider; "nothing lost" is kept by the candidate's own retry: a failed send is
said on the page, and a new code can be asked for.

Nothing here logs the message, the code or the address; failures carry an HTTP status or an exception
class only.
"""

from __future__ import annotations

from email.message import EmailMessage
from email.utils import make_msgid
from typing import Protocol

import aiosmtplib
import httpx

from services.preference.settings import PreferenceSettings
from services.preference.verification import ContactKind


class CodeNotSent(Exception):  # noqa: N818 - a refusal the page explains, not a programming error
    """The provider or relay did not take the code; the reason names no address and no code."""


class CodeSender(Protocol):
    """Delivers one short text to a phone number (SMS) or an e-mail address, or raises CodeNotSent."""

    async def send(self, kind: ContactKind, address: str, subject: str, text: str) -> None: ...


class ProviderCodeSender:
    """The real sender: the provider's REST API for SMS, the SMTP relay for e-mail."""

    def __init__(self, s: PreferenceSettings) -> None:
        self._s = s

    async def send(self, kind: ContactKind, address: str, subject: str, text: str) -> None:
        """Send the text now; CodeNotSent when it did not leave."""
        if kind == "phone":
            await self._sms(address, text)
        else:
            await self._mail(address, subject, text)

    async def _sms(self, number: str, text: str) -> None:
        s = self._s
        url = f"{s.provider_base_url.rstrip('/')}/2010-04-01/Accounts/{s.twilio_account_sid}/Messages.json"
        auth = (s.twilio_account_sid, s.twilio_auth_token.get_secret_value())
        try:
            async with httpx.AsyncClient(timeout=s.code_send_timeout_s, auth=auth) as client:
                answer = await client.post(url, data={"To": number, "From": s.sms_from, "Body": text})
        except httpx.HTTPError as exc:
            raise CodeNotSent(f"provider unreachable ({type(exc).__name__})") from None
        if not answer.is_success:
            raise CodeNotSent(f"provider refused the message (HTTP {answer.status_code})")

    async def _mail(self, address: str, subject: str, text: str) -> None:
        s = self._s
        message = EmailMessage()
        message["From"], message["To"], message["Subject"] = s.mail_from, address, subject
        message["Message-ID"] = make_msgid(domain="candidate-comms.local")
        message["Auto-Submitted"] = "auto-generated"  # RFC 3834: no auto-replies to a code
        message.set_content(text)
        try:
            await aiosmtplib.send(
                message,
                hostname=s.smtp_host,
                port=s.smtp_port,
                username=s.smtp_username,
                password=s.smtp_password.get_secret_value() if s.smtp_password else None,
                start_tls=s.smtp_starttls,
                use_tls=s.smtp_tls,
                timeout=s.code_send_timeout_s,
            )
        except (aiosmtplib.SMTPException, OSError) as exc:
            raise CodeNotSent(f"mail relay did not take the message ({type(exc).__name__})") from None
