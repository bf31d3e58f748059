"""A local provider emulator: the part of Twilio's REST API the notifier uses, with Twilio's signed callbacks.

    python -m deploy.local.provider_emulator --port 8025 --dir .local/provider \\
        --inbound-url http://127.0.0.1:8003/callbacks/twilio/inbound

Options fall back to PROVIDER_EMULATOR_<OPTION> variables (INBOUND_URL, CALLBACK_BASE, ACCOUNT_SID,
AUTH_TOKEN, PORTAL_SECRET). API requests need HTTP basic auth with the account SID and auth token.
Every accepted request is appended to <dir>/messages.jsonl (raw receipts, never de-duplicated) and
listed at GET /_emulator/messages (?kind=message|call|call_update|inbound|portal); the callbacks
sent are listed at GET /_emulator/callbacks.

After accepting, the emulator POSTs what Twilio would to StatusCallback: form fields signed with
X-Twilio-Signature (base64 HMAC-SHA1, keyed by the auth token, over the URL followed by the
parameters as name + value in sorted order). Messages report `sent`, then `delivered` (WhatsApp also
`read`); like Twilio, no callback repeats the initial `queued` of the API answer. Calls with
AsyncAmd report AnsweredBy to AsyncAmdStatusCallback, then `completed` to StatusCallback. With
--callback-base, callbacks go to that host but stay signed for the URL given (as behind a proxy).

Error injection by the last four digits of the destination number:

    0001  400, Twilio error 21211 (invalid 'To'; the message quotes the number, as Twilio's does)
    0002  429, Twilio error 20429, Retry-After: 1
    0003  500, Twilio error 20500
    0004  200 with a garbage (non-JSON) body; nothing recorded
    0005  accepted; the message ends `undelivered` with ErrorCode 30003 (a call: `no-answer`)
    0006  hangs for --hang-s seconds (longer than any client timeout), then 504
    0007  accepted; a call is answered by a machine (AnsweredBy=machine_start)

Also: POST .../Calls/<CallSid>.json Status=completed ends a live call; POST /_emulator/inbound
{"from", "to", "body", "channel": "sms"|"whatsapp"} sends a signed inbound-message webhook to the
inbound URL and answers with the webhook's status and body; POST /_emulator/portal receives portal
webhooks (X-Signature checked against --portal-secret, recorded); GET /_emulator/health.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from deploy.local.provider_emulator.rest import rest_routes
from deploy.local.provider_emulator.state import API_VERSION, Emulator, EmulatorConfig, read_messages, twilio_signature

__all__ = ["Emulator", "EmulatorConfig", "create_app", "read_messages", "twilio_signature"]


def _emulator_routes(em: Emulator) -> list[Route]:
    async def inbound(request: Request) -> Response:
        doc = await request.json()
        if not em.config.inbound_url:
            return JSONResponse({"error": "no inbound URL configured"}, status_code=409)
        prefix = "whatsapp:" if doc.get("channel") == "whatsapp" else ""
        sid = "SM" + uuid.uuid4().hex
        params = {
            "AccountSid": em.config.account_sid,
            "ApiVersion": API_VERSION,
            "Body": str(doc.get("body", "")),
            "From": prefix + str(doc["from"]),
            "MessageSid": sid,
            "NumMedia": "0",
            "NumSegments": "1",
            "SmsMessageSid": sid,
            "SmsSid": sid,
            "SmsStatus": "received",
            "To": prefix + str(doc.get("to", "+3197010000001")),
        }
        if prefix:
            params |= {"WaId": str(doc["from"]).lstrip("+"), "ProfileName": str(doc.get("profile_name", "Kandidaat"))}
        status, text = await em.callback(em.config.inbound_url, params)
        em.record(
            {
                "kind": "inbound",
                "channel": doc.get("channel", "sms"),
                "sid": sid,
                "from": params["From"],
                "body": params["Body"],
                "webhook_status": status,
            }
        )
        return JSONResponse({"sid": sid, "status": status, "response": text})

    async def portal(request: Request) -> Response:
        body = await request.body()
        mac = hmac.new(em.config.portal_secret.encode(), body, hashlib.sha256).hexdigest()
        if not hmac.compare_digest(request.headers.get("x-signature", "").encode(), f"sha256={mac}".encode()):
            return JSONResponse({"error": "bad signature"}, status_code=401)
        doc = json.loads(body)
        em.record(
            {
                "kind": "portal",
                "channel": "portal",
                "idempotency_key": request.headers.get("idempotency-key"),
                **{k: doc.get(k) for k in ("notification_id", "candidate_id", "subject", "template")},
            }
        )
        return JSONResponse({"received": True}, status_code=202)

    async def listing(request: Request) -> Response:
        kind = request.query_params.get("kind")
        return JSONResponse([m for m in read_messages(em.config.directory) if kind in (None, m["kind"])])

    async def callbacks(request: Request) -> Response:
        return JSONResponse(em.callbacks)

    async def health(request: Request) -> Response:
        return JSONResponse({"status": "ok"})

    return [
        Route("/_emulator/inbound", inbound, methods=["POST"]),
        Route("/_emulator/portal", portal, methods=["POST"]),
        Route("/_emulator/messages", listing),
        Route("/_emulator/callbacks", callbacks),
        Route("/_emulator/health", health),
    ]


def create_app(config: EmulatorConfig) -> Starlette:
    """The emulator as an ASGI app (its state at app.state.emulator)."""
    em = Emulator(config)

    @asynccontextmanager
    async def lifespan(_: Starlette) -> AsyncIterator[None]:
        try:
            yield
        finally:
            await em.close()

    app = Starlette(routes=rest_routes(em) + _emulator_routes(em), lifespan=lifespan)
    app.state.emulator = em
    return app
