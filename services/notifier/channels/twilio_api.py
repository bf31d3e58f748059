"""Twilio's REST API as the adapters use it: basic auth, a timeout, a concurrency limit, classified answers.

Answers become Outcomes: 2xx with a sid -> ACCEPTED (provider_ref = sid); 408/409/425/429, 5xx,
timeouts and connection errors -> TRANSIENT (Retry-After honoured); any other 4xx -> PERMANENT.
Reasons name the HTTP status and Twilio's error code, never the provider's message, which quotes the
phone number. A timeout after the request left may still have been accepted by the provider: the
retry then sends again, like the crash window described in delivery.py.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Mapping
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any

import httpx

from services.notifier.channels.base import Outcome, SendResult
from services.notifier.settings import NotifierSettings

STATUS_PATH = "/callbacks/twilio/status"
VOICE_STATUS_PATH = "/callbacks/twilio/voice-status"
INBOUND_PATH = "/callbacks/twilio/inbound"
# Our own words for the codes we act on; Twilio's messages are not passed on (they quote the number).
TWILIO_ERRORS: dict[int, str] = {
    20003: "credentials refused",
    20429: "too many requests",
    21211: "invalid 'To' number",
    21214: "'To' number cannot be reached",
    21217: "invalid number for a call",
    21408: "region not enabled",
    21602: "message body missing",
    21610: "recipient unsubscribed (STOP) from this sender",
    21612: "'To' number not reachable from this sender",
    21614: "'To' number is not a mobile number",
    21617: "message body too long",
    30003: "handset unreachable",
    30005: "unknown or inactive number",
    30006: "landline or unreachable carrier",
    30007: "filtered as spam by the carrier",
    63016: "outside the WhatsApp 24-hour window",
}
_RETRYABLE = frozenset({408, 409, 425, 429})


def retry_after_seconds(value: str | None, now: datetime | None = None) -> float | None:
    """Retry-After as seconds (delta-seconds or an HTTP date), or None when absent or unreadable."""
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, (when - (now or datetime.now(UTC))).total_seconds())


def _json(body: bytes) -> Any:
    try:
        return json.loads(body)
    except ValueError:
        return None


def error_label(status: int, code: int | None) -> str:
    """'HTTP 400, Twilio error 21211: invalid 'To' number' (no contact data)."""
    label = f"HTTP {status}"
    if code is not None:
        label += f", Twilio error {code}"
        if code in TWILIO_ERRORS:
            label += f": {TWILIO_ERRORS[code]}"
    return label


def classify(provider: str, status: int, retry_after: str | None, body: bytes) -> SendResult:
    """Reduce a Twilio-style answer to an Outcome."""
    doc = _json(body)
    if 200 <= status < 300:
        sid = doc.get("sid") if isinstance(doc, dict) else None
        if isinstance(sid, str) and sid:
            return SendResult(Outcome.ACCEPTED, provider, sid)
        return SendResult(
            Outcome.TRANSIENT,
            provider,
            reason=f"provider answered HTTP {status} with an unreadable "
            "body (no resource sid); it may have taken the message",
        )
    code = doc.get("code") if isinstance(doc, dict) and isinstance(doc.get("code"), int) else None
    label = error_label(status, code) + ("" if isinstance(doc, dict) else ", unreadable body")
    wait = retry_after_seconds(retry_after)
    if status in _RETRYABLE or status >= 500:
        return SendResult(Outcome.TRANSIENT, provider, reason=f"provider busy or failing ({label})", retry_after_s=wait)
    if 400 <= status < 500:
        return SendResult(Outcome.PERMANENT, provider, reason=f"provider refused the request ({label})")
    return SendResult(Outcome.TRANSIENT, provider, reason=f"unexpected provider answer ({label})", retry_after_s=wait)


class TwilioApi:
    """One provider's use of the REST API: basic auth, timeout, a concurrency limit, classified answers."""

    def __init__(self, s: NotifierSettings, provider: str) -> None:
        self.provider = provider
        self._s = s
        limit = s.provider_concurrency.get(provider, 4)
        self._slots = asyncio.Semaphore(limit)
        self._path = f"/2010-04-01/Accounts/{s.twilio_account_sid}"
        self._timeout = s.provider_timeout_s
        self._client = httpx.AsyncClient(
            base_url=s.provider_base_url,
            auth=(s.twilio_account_sid, s.twilio_auth_token.get_secret_value()),
            timeout=s.provider_timeout_s,
            limits=httpx.Limits(max_connections=limit),
        )

    @property
    def callback_base(self) -> str:
        """Our public base URL, which the provider calls back at."""
        return self._s.public_url.rstrip("/")

    async def post(self, resource: str, form: Mapping[str, str]) -> SendResult:
        """POST a form to <account>/<resource> and classify the answer; never raises for provider trouble."""
        async with self._slots:
            try:
                resp = await self._client.post(f"{self._path}/{resource}", data=dict(form))
            except httpx.TimeoutException:
                return SendResult(
                    Outcome.TRANSIENT, self.provider, reason=f"provider did not answer within {self._timeout:g} s"
                )
            except httpx.HTTPError as exc:
                return SendResult(
                    Outcome.TRANSIENT, self.provider, reason=f"provider unreachable ({type(exc).__name__})"
                )
            except UnicodeError as exc:  # a value UTF-8 cannot carry (a lone surrogate): no retry can send it
                reason = f"the request cannot be encoded as UTF-8 ({type(exc).__name__})"
                return SendResult(Outcome.PERMANENT, self.provider, reason=reason)
        return classify(self.provider, resp.status_code, resp.headers.get("Retry-After"), resp.content)

    async def close(self) -> None:
        """Close the connection pool."""
        await self._client.aclose()
