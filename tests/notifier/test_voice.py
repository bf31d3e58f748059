"""Voice: call tasks on the worklist by default; automated calls with TwiML equal to twilio's VoiceResponse,
and no voicemail left when the candidate asked for none."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from twilio.twiml.voice_response import VoiceResponse

from deploy.local.provider_emulator import read_messages
from schemas.common import Channel, NotificationStatus
from services.notifier.channels.base import Outcome
from services.notifier.channels.voice import (
    NO_VOICEMAIL_REASON,
    CallVerdict,
    VoiceAdapter,
    call_task_item,
    call_verdict,
    empty_twiml,
    say_twiml,
)
from tests.notifier.provider_doubles import (
    NOW,
    FakeReports,
    FakeStore,
    callback_app,
    emulator,
    outgoing,
    serving,
    settings,
)
from tests.support import eventually

xml_text = st.text(st.characters(exclude_categories=("Cs", "Cc")) | st.sampled_from("\n\t<>&\"'"), max_size=80)


def _reference(text: str, language: str, voice: str | None) -> str:
    response = VoiceResponse()
    response.say(text, voice=voice, language=language)
    return str(response)


@given(text=xml_text, language=st.sampled_from(["nl", "en"]), voice=st.sampled_from([None, "Polly.Lotte"]))
def test_twiml_equals_voice_response(text: str, language: str, voice: str | None) -> None:
    assert say_twiml(text, language, voice) == _reference(text, {"nl": "nl-NL", "en": "en-GB"}[language], voice)


def test_twiml_examples() -> None:
    speech = 'Hallo Sanne & "team" <3. Je gesprek is dinsdag.'
    assert say_twiml(speech, "nl", "Polly.Lotte") == _reference(speech, "nl-NL", "Polly.Lotte")
    assert say_twiml("Hello", "en") == _reference("Hello", "en-GB", None)
    assert say_twiml("bell\x07", "en") == _reference("bell", "en-GB", None)  # control characters dropped
    assert empty_twiml() == str(VoiceResponse()) == '<?xml version="1.0" encoding="UTF-8"?><Response />'


def test_call_task_item_shape() -> None:
    out = outgoing(Channel.VOICE, "+31612345678", voicemail=False, preferred_call_times="weekdays after 17:00")
    item = call_task_item(out, NOW)
    assert item == {
        "_id": "call_task:n-1",
        "kind": "call_task",
        "candidate_id": "cand-1",
        "application_id": "app-1",
        "notification_id": "n-1",
        "channel": "voice",
        "stage": "interview_scheduling",
        "reason": "call the candidate about interview invite (candidate prefers this channel)",
        "created_at": NOW,
        "handled_at": None,
        "details": {
            "who": "Sanne de Vries",
            "phone": "+31612345678",
            "language": "nl",
            "preferred_call_times": "weekdays after 17:00",
            "talking_points": out.rendered.speech,
            "subject": "Je gesprek",
            "template": "interview_invite",
            "voicemail": False,
            "essential": False,
            "job_title": "Data engineer",
        },
    }


async def test_default_voice_adds_a_call_task_and_calls_nobody(tmp_path: Path) -> None:
    store = FakeStore()
    async with emulator(tmp_path) as (url, _):
        adapter = VoiceAdapter(settings(url), store.add_work, lambda: NOW)
        first = await adapter.send(outgoing(Channel.VOICE, "+31612345678"))
        again = await adapter.send(outgoing(Channel.VOICE, "+31612345678"))  # a redelivery: same item
        await adapter.close()
    assert (first.outcome, first.provider, first.provider_ref) == (Outcome.ACCEPTED, "call-task", "call_task:n-1")
    assert again == first
    assert list(store.work) == ["call_task:n-1"]
    assert read_messages(tmp_path) == []


@pytest.mark.parametrize(
    ("params", "voicemail", "verdict"),
    [
        ({"AnsweredBy": "machine_start"}, False, CallVerdict(NotificationStatus.FAILED, NO_VOICEMAIL_REASON, True)),
        ({"AnsweredBy": "machine_start"}, True, CallVerdict(None)),
        ({"AnsweredBy": "human"}, False, CallVerdict(None)),
        (
            {"CallStatus": "completed", "AnsweredBy": "human"},
            False,
            CallVerdict(NotificationStatus.DELIVERED, "call answered"),
        ),
        (
            {"CallStatus": "completed", "AnsweredBy": "machine_end_beep"},
            True,
            CallVerdict(NotificationStatus.DELIVERED, "voicemail left"),
        ),
        (
            {"CallStatus": "completed", "AnsweredBy": "machine_start"},
            False,
            CallVerdict(NotificationStatus.FAILED, NO_VOICEMAIL_REASON, False),
        ),
        ({"CallStatus": "no-answer"}, True, CallVerdict(NotificationStatus.FAILED, "call not answered (no-answer)")),
        ({"CallStatus": "ringing"}, True, CallVerdict(None)),
    ],
)
def test_call_verdicts(params: dict[str, str], voicemail: bool, verdict: CallVerdict) -> None:
    assert call_verdict(params, voicemail) == verdict


@pytest.mark.parametrize(
    ("number", "voicemail", "status", "reason", "hung_up"),
    [
        ("+31612340007", False, NotificationStatus.FAILED, NO_VOICEMAIL_REASON, True),
        ("+31612340007", True, NotificationStatus.DELIVERED, "voicemail left", False),
        ("+31612340000", False, NotificationStatus.DELIVERED, "call answered", False),
        ("+31612340005", True, NotificationStatus.FAILED, "call not answered (no-answer)", False),
    ],
)
async def test_automated_call(
    tmp_path: Path, number: str, voicemail: bool, status: NotificationStatus, reason: str, hung_up: bool
) -> None:
    store, reports = FakeStore(), FakeReports()
    async with emulator(tmp_path) as (url, em):
        s = settings(url, voice_mode="automated")
        adapter = VoiceAdapter(s, store.add_work, lambda: NOW)
        app, _ = callback_app(s, store, reports, voice=adapter)
        async with serving(app) as public:
            s.public_url = public
            out = outgoing(Channel.VOICE, number, voicemail=voicemail)
            result = await adapter.send(out)
            assert (result.outcome, result.provider) == (Outcome.ACCEPTED, "twilio-voice"), result
            store.sent(out, result.provider, result.provider_ref)

            async def call_ended() -> bool:  # the emulator awaits our answer to each callback
                return any("CallStatus" in c["params"] and c["status"] for c in em.callbacks)

            await eventually(call_ended, what="the call's last callback")
            await adapter.close()
    changes = reports.changes
    assert (changes[-1].status, changes[-1].reason) == (status, reason)
    receipts = read_messages(tmp_path)
    call = receipts[0]
    assert call["twiml"] == say_twiml(out.rendered.speech, "nl", "Polly.Lotte")
    assert (call["machine_detection"], call["async_amd"]) == ("Enable", "true")
    assert call["status_callback"].endswith("/callbacks/twilio/voice-status" + ("" if voicemail else "?voicemail=no"))
    assert [r["kind"] for r in receipts] == ["call"] + ["call_update"] * hung_up
    assert store.work == {}
