"""The emulated REST API: Messages.json, Calls.json and call updates, with injected failures and Twilio's callbacks."""

from __future__ import annotations

import asyncio
import contextlib
import re
import uuid
from collections.abc import Mapping
from datetime import UTC, datetime
from email.utils import format_datetime
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from deploy.local.provider_emulator.state import API_VERSION, Emulator, twilio_error

ACCOUNT_PATH = f"/{API_VERSION}/Accounts/{{account:str}}"
_E164 = re.compile(r"^\+[1-9]\d{6,14}$")
_UNDELIVERED, _HANG, _MACHINE = "0005", "0006", "0007"
_FAILURES = {
    "0001": (400, 21211, "The 'To' number {to} is not a valid phone number."),  # quotes the number, as Twilio does
    "0002": (429, 20429, "Too Many Requests"),
    "0003": (500, 20500, "Internal Server Error"),
}
_MESSAGE_FIELDS = {
    "to": "To",
    "from": "From",
    "body": "Body",
    "content_sid": "ContentSid",
    "content_variables": "ContentVariables",
    "status_callback": "StatusCallback",
}
_CALL_FIELDS = {
    "to": "To",
    "from": "From",
    "twiml": "Twiml",
    "url": "Url",
    "status_callback": "StatusCallback",
    "machine_detection": "MachineDetection",
    "async_amd": "AsyncAmd",
    "amd_callback": "AsyncAmdStatusCallback",
}


async def injected(em: Emulator, to: str, request: Request) -> Response | None:
    """The failure a test number asks for, or None."""
    tail = to[-4:]
    if tail in _FAILURES:
        status, code, message = _FAILURES[tail]
        return twilio_error(status, code, message.format(to=to), {"Retry-After": "1"} if status == 429 else None)
    if tail == "0004":
        return Response("<html><body>upstream hiccup", status_code=200, media_type="text/html")
    if tail == _HANG:
        # The body is read: the next ASGI message is the client hanging up (or nothing, until hang_s).
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(request.receive(), em.config.hang_s)
        return twilio_error(504, 20504, "Gateway Timeout")
    return None


def invalid(form: Mapping[str, str], call: bool) -> JSONResponse | None:
    """Twilio's validation of the parameters we use, or None when they pass."""
    to, sender = form.get("To", ""), form.get("From", "")
    if not _E164.match(to.removeprefix("whatsapp:")):
        return twilio_error(400, 21211, f"The 'To' number {to} is not a valid phone number.")
    if not sender:
        return twilio_error(400, 21603, "A 'From' phone number is required.")
    if call:
        return None if form.get("Twiml") or form.get("Url") else twilio_error(400, 21205, "Url or Twiml required")
    if to.startswith("whatsapp:") != sender.startswith("whatsapp:"):
        return twilio_error(400, 21910, "Invalid From and To pair. From and To should be of the same channel")
    if not form.get("Body") and not form.get("ContentSid"):
        return twilio_error(400, 21602, "Message body is required.")
    return None if len(form.get("Body", "")) <= 1600 else twilio_error(400, 21617, "Message body too long.")


def resource(em: Emulator, prefix: str, form: Mapping[str, str]) -> dict[str, Any]:
    """The JSON Twilio answers with for a new Message (SM...) or Call (CA...)."""
    sid = prefix + uuid.uuid4().hex
    kind = "Messages" if prefix == "SM" else "Calls"
    return {
        "sid": sid,
        "account_sid": em.config.account_sid,
        "api_version": API_VERSION,
        "to": form.get("To"),
        "from": form.get("From"),
        "status": "queued",
        "direction": "outbound-api",
        "date_created": format_datetime(datetime.now(UTC), usegmt=True),
        "error_code": None,
        "error_message": None,
        "uri": f"/{API_VERSION}/Accounts/{em.config.account_sid}/{kind}/{sid}.json",
    }


async def message_receipts(em: Emulator, url: str, base: dict[str, str], whatsapp: bool) -> None:
    """sent -> delivered (-> read on WhatsApp), or sent -> undelivered (30003) for 0005 numbers."""
    undelivered = base["To"].endswith(_UNDELIVERED)
    states = ["sent", "undelivered"] if undelivered else ["sent", "delivered"] + ["read"] * whatsapp
    for state in states:
        await asyncio.sleep(em.config.step_s)
        params = {**base, "MessageStatus": state, "SmsStatus": state}
        if state == "undelivered":
            params["ErrorCode"] = "30003"
        await em.callback(url, params)


async def call_progress(em: Emulator, sid: str, form: Mapping[str, str]) -> None:
    """The AMD verdict (AsyncAmd), a short call unless hung up, then `completed` (0005: `no-answer`)."""
    hung_up = em.live_calls.setdefault(sid, asyncio.Event())
    to, status_url = form.get("To", ""), form.get("StatusCallback")
    base = {
        "AccountSid": em.config.account_sid,
        "ApiVersion": API_VERSION,
        "CallSid": sid,
        "Direction": "outbound-api",
        "From": form.get("From", ""),
        "To": to,
    }
    final = {**base, "CallStatus": "no-answer", "CallDuration": "0"}
    await asyncio.sleep(em.config.step_s)
    if not to.endswith(_UNDELIVERED):
        answered_by = "machine_start" if to.endswith(_MACHINE) else "human"
        amd = form.get("MachineDetection") in ("Enable", "DetectMessageEnd")
        if amd and form.get("AsyncAmd") == "true" and (amd_url := form.get("AsyncAmdStatusCallback")):
            await em.callback(amd_url, {**base, "AnsweredBy": answered_by, "MachineDetectionDuration": "1800"})
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(hung_up.wait(), em.config.step_s * 4)  # the time the message takes to say
        final = {**base, "CallStatus": "completed", "CallDuration": "2" if hung_up.is_set() else "14"}
        if amd:
            final["AnsweredBy"] = answered_by
    if status_url:
        await em.callback(status_url, final)
    em.live_calls.pop(sid, None)


async def _form(request: Request) -> dict[str, str]:
    return {k: v for k, v in (await request.form()).items() if isinstance(v, str)}


def rest_routes(em: Emulator) -> list[Route]:
    """Routes of the emulated REST API."""

    async def messages(request: Request) -> Response:
        if not em.authorised(request):
            return twilio_error(401, 20003, "Authenticate")
        form = await _form(request)
        to = form.get("To", "")
        failure = await injected(em, to, request) or invalid(form, call=False)
        if failure is not None:
            return failure
        answer, whatsapp = resource(em, "SM", form), to.startswith("whatsapp:")
        fields = {k: form.get(v) for k, v in _MESSAGE_FIELDS.items()}
        em.record({"kind": "message", "channel": "whatsapp" if whatsapp else "sms", "sid": answer["sid"], **fields})
        if url := form.get("StatusCallback"):
            base = {
                "AccountSid": em.config.account_sid,
                "ApiVersion": API_VERSION,
                "From": form["From"],
                "MessageSid": answer["sid"],
                "SmsSid": answer["sid"],
                "To": to,
            }
            em.spawn(message_receipts(em, url, base, whatsapp))
        return JSONResponse(answer, status_code=201)

    async def calls(request: Request) -> Response:
        if not em.authorised(request):
            return twilio_error(401, 20003, "Authenticate")
        form = await _form(request)
        failure = await injected(em, form.get("To", ""), request) or invalid(form, call=True)
        if failure is not None:
            return failure
        answer = resource(em, "CA", form)
        em.record(
            {
                "kind": "call",
                "channel": "voice",
                "sid": answer["sid"],
                **{k: form.get(v) for k, v in _CALL_FIELDS.items()},
            }
        )
        em.live_calls[answer["sid"]] = asyncio.Event()
        em.spawn(call_progress(em, answer["sid"], form))
        return JSONResponse(answer, status_code=201)

    async def call_update(request: Request) -> Response:
        if not em.authorised(request):
            return twilio_error(401, 20003, "Authenticate")
        sid, status = request.path_params["call"], (await _form(request)).get("Status")
        live = em.live_calls.get(sid)
        if live is None:
            return twilio_error(404, 20404, "The requested resource was not found")
        if status in ("completed", "canceled"):
            live.set()
        em.record({"kind": "call_update", "channel": "voice", "sid": sid, "status": status})
        return JSONResponse({"sid": sid, "status": status or "in-progress"})

    return [
        Route(f"{ACCOUNT_PATH}/Messages.json", messages, methods=["POST"]),
        Route(f"{ACCOUNT_PATH}/Calls.json", calls, methods=["POST"]),
        Route(ACCOUNT_PATH + "/Calls/{call:str}.json", call_update, methods=["POST"]),
    ]
