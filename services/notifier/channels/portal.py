"""The candidate portal: a signed JSON webhook per message.

The portal verifies `X-Signature: sha256=<hex HMAC-SHA256 of the raw body>` with the shared secret.
The send time travels both in the signed body (`sent_at`) and in `X-Timestamp`, so a receiver can
refuse replays by age without trusting an unsigned header. `Idempotency-Key` is the notification
id: a resend from the crash window (see delivery.py) is recognisable and can be dropped (percent-encoded
when it holds characters a header cannot carry). The body is UTF-8 JSON, so any account id or text
travels as it is; text that UTF-8 cannot carry (a lone surrogate) fails the message, it never raises.
"""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import Callable
from datetime import datetime
from typing import Any
from urllib.parse import quote

import httpx

from services.notifier.channels.base import Outcome, Outgoing, SendResult
from services.notifier.channels.twilio_api import retry_after_seconds
from services.notifier.settings import NotifierSettings
from services.notifier.signatures import PORTAL_SIGNATURE_HEADER, PORTAL_TIMESTAMP_HEADER, portal_signature

Clock = Callable[[], datetime]
_RETRYABLE = frozenset({408, 425, 429})
_HEADER_TOKEN = re.compile(r"[A-Za-z0-9._:@-]{1,200}", re.ASCII)


def header_token(value: str) -> str:
    """The value as a header can carry it: as is when it is a plain token, else percent-encoded UTF-8."""
    if _HEADER_TOKEN.fullmatch(value):
        return value
    return quote(value.encode("utf-8", "surrogatepass"), safe="")


def portal_document(out: Outgoing, now: datetime) -> dict[str, Any]:
    """What the portal receives for one message."""
    m, r = out.msg, out.rendered
    return {
        "notification_id": m.notification_id,
        "candidate_id": m.candidate_id,
        "application_id": m.application_id,
        "portal_account": out.to,
        "stage": m.stage.value,
        "subject": r.subject,
        "body": r.body,
        "template": r.template,
        "template_version": r.version,
        "language": r.language,
        "link": out.link,
        "sent_at": now.isoformat(),
    }


class PortalAdapter:
    """POSTs signed JSON documents to the portal's webhook."""

    provider = "portal-webhook"

    def __init__(self, s: NotifierSettings, clock: Clock) -> None:
        self._url = s.portal_webhook_url
        self._secret = s.portal_secret.get_secret_value()
        self._clock = clock
        self._timeout = s.provider_timeout_s
        limit = s.provider_concurrency.get(self.provider, 4)
        self._slots = asyncio.Semaphore(limit)
        self._client = httpx.AsyncClient(timeout=s.provider_timeout_s, limits=httpx.Limits(max_connections=limit))

    def request(self, out: Outgoing, now: datetime) -> tuple[bytes, dict[str, str]]:
        """The raw body and headers of one webhook call."""
        body = json.dumps(portal_document(out, now), ensure_ascii=False, separators=(",", ":")).encode()
        headers = {
            "Content-Type": "application/json",
            PORTAL_SIGNATURE_HEADER: portal_signature(self._secret, body),
            PORTAL_TIMESTAMP_HEADER: str(int(now.timestamp())),
            "Idempotency-Key": header_token(out.msg.notification_id),
        }
        return body, headers

    async def send(self, out: Outgoing) -> SendResult:
        """Deliver one message to the portal."""
        ref = out.msg.notification_id
        try:
            body, headers = self.request(out, self._clock())
        except UnicodeError as exc:
            reason = f"the message cannot be written as UTF-8 JSON ({type(exc).__name__})"
            return SendResult(Outcome.PERMANENT, self.provider, ref, reason)
        async with self._slots:
            try:
                resp = await self._client.post(self._url, content=body, headers=headers)
            except httpx.TimeoutException:
                return SendResult(
                    Outcome.TRANSIENT, self.provider, ref, f"portal did not answer within {self._timeout:g} s"
                )
            except httpx.HTTPError as exc:
                return SendResult(Outcome.TRANSIENT, self.provider, ref, f"portal unreachable ({type(exc).__name__})")
        status = resp.status_code
        if 200 <= status < 300:
            return SendResult(Outcome.ACCEPTED, self.provider, ref)
        wait = retry_after_seconds(resp.headers.get("Retry-After"))
        if status in _RETRYABLE or status >= 500:
            return SendResult(Outcome.TRANSIENT, self.provider, ref, f"portal busy or failing (HTTP {status})", wait)
        if 400 <= status < 500:
            return SendResult(Outcome.PERMANENT, self.provider, ref, f"portal refused the message (HTTP {status})")
        return SendResult(Outcome.TRANSIENT, self.provider, ref, f"unexpected portal answer (HTTP {status})", wait)

    async def close(self) -> None:
        """Close the HTTP client."""
        await self._client.aclose()
