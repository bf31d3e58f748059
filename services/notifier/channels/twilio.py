"""SMS and WhatsApp on Twilio's Messages API (or anything speaking it, such as the local provider emulator).

SMS refuses texts above sms_max_segments instead of sending a wall of segments; the accepted
result's reason says how many segments and which encoding it cost. WhatsApp sends free text only
inside the 24-hour customer-service window that opens when the candidate writes; outside it, only
a template Meta approved (ContentSid + ContentVariables), or nothing.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from dataclasses import replace
from datetime import datetime, timedelta

from schemas.common import Channel
from services.common.settings import TemplateVariable
from services.notifier.channels.base import Outcome, Outgoing, SendResult
from services.notifier.channels.sms_encoding import sms_size
from services.notifier.channels.twilio_api import STATUS_PATH, TwilioApi
from services.notifier.rendering import format_when
from services.notifier.settings import NotifierSettings

WHATSAPP_WINDOW = timedelta(hours=24)
LastInbound = Callable[[str, str], Awaitable[datetime | None]]
Clock = Callable[[], datetime]


def _with_note(result: SendResult, note: str) -> SendResult:
    return replace(result, reason=f"{result.reason}; {note}" if result.reason else note)


class SmsAdapter:
    """SMS through the Messages API; refuses texts longer than the configured number of segments."""

    provider = "twilio-sms"

    def __init__(self, s: NotifierSettings) -> None:
        self._s = s
        self._api = TwilioApi(s, self.provider)

    async def send(self, out: Outgoing) -> SendResult:
        """Send the short text as one (possibly concatenated) SMS."""
        text = out.rendered.short
        size = sms_size(text)
        note = f"{size.segments} SMS segment{'s' if size.segments != 1 else ''}, {size.encoding}"
        if size.segments == 0:
            return SendResult(Outcome.PERMANENT, self.provider, reason="nothing to send: the SMS text is empty")
        if size.segments > self._s.sms_max_segments:
            return SendResult(
                Outcome.PERMANENT,
                self.provider,
                reason=f"SMS too long: {note}, above the maximum of {self._s.sms_max_segments}",
            )
        form = {
            "To": out.to,
            "From": self._s.sms_from,
            "Body": text,
            "StatusCallback": self._api.callback_base + STATUS_PATH,
        }
        return _with_note(await self._api.post("Messages.json", form), note)

    async def close(self) -> None:
        """Close the HTTP client."""
        await self._api.close()


def whatsapp_address(number: str) -> str:
    """+316... -> whatsapp:+316... (unchanged when already prefixed)."""
    return number if number.startswith("whatsapp:") else f"whatsapp:{number}"


def template_variables(out: Outgoing, names: tuple[TemplateVariable, ...]) -> dict[str, str]:
    """ContentVariables of an approved template: {"1": ..., "2": ...} in the configured order."""
    ctx, lang = out.msg.context, out.msg.language
    first = (ctx.candidate_name or "").split(" ")[0] or ("kandidaat" if lang == "nl" else "there")
    values: dict[str, str | None] = {
        "name": first,
        "job_title": ctx.job_title,
        "location": ctx.interview_location,
        "link": out.link,
        "when": format_when(ctx.interview_start, ctx.timezone, lang) if ctx.interview_start else None,
        "deadline": format_when(ctx.offer_deadline, ctx.timezone, lang) if ctx.offer_deadline else None,
    }
    # WhatsApp refuses empty parameters; a dash keeps the sentence readable.
    return {str(i): values[name] or "-" for i, name in enumerate(names, start=1)}


class WhatsAppAdapter:
    """WhatsApp: free text inside the 24-hour customer-service window, an approved template outside it."""

    provider = "twilio-whatsapp"

    def __init__(self, s: NotifierSettings, last_inbound_at: LastInbound, clock: Clock) -> None:
        self._s = s
        self._last_inbound_at = last_inbound_at
        self._clock = clock
        self._api = TwilioApi(s, self.provider)

    async def send(self, out: Outgoing) -> SendResult:
        """Send free text or the approved template, whichever WhatsApp allows now."""
        try:
            last = await self._last_inbound_at(out.msg.candidate_id, Channel.WHATSAPP.value)
        except Exception as exc:  # noqa: BLE001 - the store being down is worth a retry, not a crash
            reason = f"could not read when the candidate last wrote ({type(exc).__name__})"
            return SendResult(Outcome.TRANSIENT, self.provider, reason=reason)
        content = self._content(out, last)
        if isinstance(content, SendResult):
            return content
        fields, note = content
        form = {
            "To": whatsapp_address(out.to),
            "From": whatsapp_address(self._s.whatsapp_from),
            "StatusCallback": self._api.callback_base + STATUS_PATH,
            **fields,
        }
        return _with_note(await self._api.post("Messages.json", form), note)

    def _content(self, out: Outgoing, last: datetime | None) -> tuple[dict[str, str], str] | SendResult:
        """Body inside the window; ContentSid + ContentVariables outside it; PERMANENT without a template."""
        m = out.msg
        if last is not None and self._clock() - last < WHATSAPP_WINDOW:
            return {"Body": out.rendered.short}, "free text inside the 24-hour window"
        template = self._s.channels.whatsapp_templates.get(m.template, {}).get(m.language)
        if template is None:
            reason = (
                f"no approved WhatsApp template for {m.template} ({m.language}) "
                "and no message from the candidate in the last 24 hours"
            )
            return SendResult(Outcome.PERMANENT, self.provider, reason=reason)
        variables = json.dumps(template_variables(out, template.variables), ensure_ascii=False)
        fields = {"ContentSid": template.content_sid, "ContentVariables": variables}
        return fields, f"approved template {template.content_sid}"

    async def close(self) -> None:
        """Close the HTTP client."""
        await self._api.close()
