"""Voice: by default a call task on the recruiter's worklist; optionally an automated call that speaks the message.

"Phone call" in recruiting usually means the recruiter calls, so the default adapter calls nobody:
it puts a call task (who, why, when they like to be called, talking points) on the worklist and
reports the message as sent to the recruiter.

Automated mode (voice_mode = "automated") creates a call through the Calls API with inline TwiML
(<Say> of the rendered speech in the candidate's language) and asynchronous answering-machine
detection (MachineDetection=Enable, AsyncAmd=true). The TwiML itself checks nothing. When the
candidate asked for no voicemail, the callback URL carries `?voicemail=no` (inside the signed URL,
so it cannot be forged); when the AMD callback then reports a machine, the voice-status route hangs
the live call up through the REST API (POST Calls/<CallSid>.json Status=completed) and the
notification fails with "no voicemail left (candidate asked for no voicemail)". A machine may hear
the first words before detection ends; that is the price of starting to speak to humans at once.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from schemas.common import NotificationStatus
from services.notifier.channels.base import Outcome, Outgoing, SendResult
from services.notifier.channels.twilio_api import VOICE_STATUS_PATH, TwilioApi
from services.notifier.settings import NotifierSettings

SAY_LANGUAGE = {"nl": "nl-NL", "en": "en-GB"}
MACHINE_ANSWERS = frozenset({"machine_start", "machine_end_beep", "machine_end_silence", "machine_end_other", "fax"})
NO_VOICEMAIL_REASON = "no voicemail left (candidate asked for no voicemail)"
_LIVE_CALL_STATES = frozenset({"", "queued", "initiated", "ringing", "in-progress"})
_UNREACHED_STATES = frozenset({"busy", "no-answer", "failed", "canceled"})
_CALL_SID = re.compile(r"^CA[0-9a-fA-F]{32}$")
# XML 1.0 forbids most control characters; a template must never make the TwiML unparsable.
_NOT_XML = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")
AddWork = Callable[[Sequence[dict[str, Any]]], Awaitable[None]]
Clock = Callable[[], datetime]


def _document(root: ET.Element) -> str:
    return '<?xml version="1.0" encoding="UTF-8"?>' + ET.tostring(root, encoding="unicode")


def say_twiml(text: str, language: str, voice: str | None = None) -> str:
    """<Response><Say language=.. voice=..>text</Say></Response>, as Twilio's VoiceResponse writes it."""
    root = ET.Element("Response")
    attrs = {"language": SAY_LANGUAGE.get(language, language)}
    if voice:
        attrs["voice"] = voice
    say = ET.SubElement(root, "Say", dict(sorted(attrs.items())))
    say.text = _NOT_XML.sub("", text) or None
    return _document(root)


def empty_twiml() -> str:
    """An empty <Response />: acknowledge an inbound message without answering it."""
    return _document(ET.Element("Response"))


def call_task_item(out: Outgoing, now: datetime) -> dict[str, Any]:
    """The worklist item asking a recruiter to call the candidate (idempotent by notification id)."""
    m, ctx = out.msg, out.msg.context
    why = "; ".join(m.reasons) or "the candidate prefers a phone call"
    return {
        "_id": f"call_task:{m.notification_id}",
        "kind": "call_task",
        "candidate_id": m.candidate_id,
        "application_id": m.application_id,
        "notification_id": m.notification_id,
        "channel": m.channel.value,
        "stage": m.stage.value,
        "reason": f"call the candidate about {m.template.replace('_', ' ')} ({why})",
        "created_at": now,
        "handled_at": None,
        "details": {
            "who": ctx.candidate_name,
            "phone": out.to,
            "language": m.language,
            "preferred_call_times": ctx.preferred_call_times,
            "talking_points": out.rendered.speech,
            "subject": out.rendered.subject,
            "template": m.template,
            "voicemail": m.voicemail,
            "essential": m.essential,
            "job_title": ctx.job_title,
        },
    }


@dataclass(frozen=True)
class CallVerdict:
    """What a call callback means for the notification, and whether to hang up now."""

    status: NotificationStatus | None
    reason: str = ""
    hang_up: bool = False


def call_verdict(params: Mapping[str, str], voicemail_allowed: bool) -> CallVerdict:
    """Map a call status or AMD callback to our state (None: nothing to report yet)."""
    call_status = params.get("CallStatus", "")
    machine = params.get("AnsweredBy", "") in MACHINE_ANSWERS
    if machine and not voicemail_allowed:
        return CallVerdict(NotificationStatus.FAILED, NO_VOICEMAIL_REASON, hang_up=call_status in _LIVE_CALL_STATES)
    if call_status == "completed":
        return CallVerdict(NotificationStatus.DELIVERED, "voicemail left" if machine else "call answered")
    if call_status in _UNREACHED_STATES:
        return CallVerdict(NotificationStatus.FAILED, f"call not answered ({call_status})")
    return CallVerdict(None)


class VoiceAdapter:
    """Call tasks (default) or automated calls, by settings.voice_mode."""

    def __init__(self, s: NotifierSettings, add_work: AddWork, clock: Clock) -> None:
        self._s = s
        self._add_work = add_work
        self._clock = clock
        self.automated = s.voice_mode == "automated"
        self.provider = "twilio-voice" if self.automated else "call-task"
        self._api = TwilioApi(s, "twilio-voice")

    async def send(self, out: Outgoing) -> SendResult:
        """Create the call task, or place the automated call."""
        if self.automated:
            return await self._call(out)
        item = call_task_item(out, self._clock())
        try:
            await self._add_work([item])
        except Exception as exc:  # noqa: BLE001 - a store hiccup is retried like any transient failure
            return SendResult(
                Outcome.TRANSIENT,
                self.provider,
                reason=f"could not add the call task to the worklist ({type(exc).__name__})",
            )
        return SendResult(Outcome.ACCEPTED, self.provider, item["_id"], "call task on the recruiter's worklist")

    async def _call(self, out: Outgoing) -> SendResult:
        m = out.msg
        callback = self._api.callback_base + VOICE_STATUS_PATH + ("" if m.voicemail else "?voicemail=no")
        form = {
            "To": out.to,
            "From": self._s.voice_from,
            "StatusCallback": callback,
            "Twiml": say_twiml(out.rendered.speech, m.language, self._s.voice_voices.get(m.language)),
            "MachineDetection": "Enable",
            "AsyncAmd": "true",
            "AsyncAmdStatusCallback": callback,
        }
        return await self._api.post("Calls.json", form)

    async def hang_up(self, call_sid: str) -> bool:
        """End a live call (answered by a machine the candidate does not want a message on)."""
        if not _CALL_SID.match(call_sid):
            return False
        result = await self._api.post(f"Calls/{call_sid}.json", {"Status": "completed"})
        return result.outcome is Outcome.ACCEPTED

    async def close(self) -> None:
        """Close the HTTP client."""
        await self._api.close()
