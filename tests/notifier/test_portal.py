"""The portal webhook: signed JSON over a real socket; the receiver can verify it; answers become Outcomes."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
from pathlib import Path
from typing import Any

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from deploy.local.provider_emulator import read_messages
from schemas.common import Channel
from services.notifier.channels.base import Outcome
from services.notifier.channels.portal import PortalAdapter
from services.notifier.signatures import verify_portal
from tests.notifier.provider_doubles import NOW, emulator, outgoing, serving, settings

SECRET = "portal-test-secret"
ANSWERS = {
    "portal-ok": (202, {}),
    "portal-gone": (410, {}),
    "portal-bad": (422, {}),
    "portal-down": (503, {}),
    "portal-busy": (429, {"Retry-After": "3"}),
}


def receiver(received: list[dict[str, Any]]) -> Starlette:
    """A portal that records what arrives and answers by the recipient's account name."""

    async def webhook(request: Request) -> Response:
        body = await request.body()
        doc = json.loads(body)
        received.append({"body": body, "headers": dict(request.headers), "doc": doc})
        if doc["portal_account"] == "portal-slow":
            await asyncio.sleep(2)
        status, headers = ANSWERS.get(doc["portal_account"], (200, {}))
        return JSONResponse({"ok": status < 300}, status_code=status, headers=headers)

    return Starlette(routes=[Route("/webhook", webhook, methods=["POST"])])


async def test_signed_document_reaches_the_portal() -> None:
    received: list[dict[str, Any]] = []
    async with serving(receiver(received)) as url:
        adapter = PortalAdapter(
            settings("http://127.0.0.1:9", portal_webhook_url=f"{url}/webhook", portal_secret=SECRET), lambda: NOW
        )
        result = await adapter.send(outgoing(Channel.PORTAL, "portal-ok"))
        await adapter.close()
    assert (result.outcome, result.provider, result.provider_ref) == (Outcome.ACCEPTED, "portal-webhook", "n-1")
    [got] = received
    headers, body = got["headers"], got["body"]
    assert verify_portal(SECRET, body, headers["x-signature"])
    assert headers["x-signature"] == "sha256=" + hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()
    assert headers["x-timestamp"] == str(int(NOW.timestamp()))
    assert headers["idempotency-key"] == "n-1"
    assert headers["content-type"] == "application/json"
    assert got["doc"] == {
        "notification_id": "n-1",
        "candidate_id": "cand-1",
        "application_id": "app-1",
        "portal_account": "portal-ok",
        "stage": "interview_scheduling",
        "subject": "Je gesprek",
        "body": "Hoi Sanne,\n\nJe gesprek is dinsdag.",
        "template": "interview_invite",
        "template_version": 1,
        "language": "nl",
        "link": "https://pref.example.org/s/tok",
        "sent_at": NOW.isoformat(),
    }
    assert not verify_portal("another-secret", body, headers["x-signature"])


@pytest.mark.parametrize(
    ("account", "outcome", "reason", "retry_after"),
    [
        ("portal-gone", Outcome.PERMANENT, "portal refused the message (HTTP 410)", None),
        ("portal-bad", Outcome.PERMANENT, "portal refused the message (HTTP 422)", None),
        ("portal-down", Outcome.TRANSIENT, "portal busy or failing (HTTP 503)", None),
        ("portal-busy", Outcome.TRANSIENT, "portal busy or failing (HTTP 429)", 3.0),
        ("portal-slow", Outcome.TRANSIENT, "portal did not answer within 0.5 s", None),
    ],
)
async def test_portal_answers_become_outcomes(
    account: str, outcome: Outcome, reason: str, retry_after: float | None
) -> None:
    async with serving(receiver([])) as url:
        adapter = PortalAdapter(
            settings("http://127.0.0.1:9", portal_webhook_url=f"{url}/webhook", portal_secret=SECRET), lambda: NOW
        )
        result = await adapter.send(outgoing(Channel.PORTAL, account))
        await adapter.close()
    assert (result.outcome, result.reason, result.retry_after_s) == (outcome, reason, retry_after)
    assert result.provider_ref == "n-1"


async def test_unreachable_portal_is_transient() -> None:
    adapter = PortalAdapter(
        settings("http://127.0.0.1:9", portal_webhook_url="http://127.0.0.1:9/webhook"), lambda: NOW
    )
    result = await adapter.send(outgoing(Channel.PORTAL, "portal-ok"))
    await adapter.close()
    assert (result.outcome, result.reason) == (Outcome.TRANSIENT, "portal unreachable (ConnectError)")


async def test_the_emulator_portal_checks_the_signature(tmp_path: Path) -> None:
    async with emulator(tmp_path) as (url, _):
        good = PortalAdapter(settings(url, portal_webhook_url=f"{url}/_emulator/portal"), lambda: NOW)
        bad = PortalAdapter(
            settings(url, portal_webhook_url=f"{url}/_emulator/portal", portal_secret="wrong"), lambda: NOW
        )
        accepted = await good.send(outgoing(Channel.PORTAL, "portal-ok"))
        refused = await bad.send(outgoing(Channel.PORTAL, "portal-ok", notification_id="n-2"))
        await good.close()
        await bad.close()
    assert accepted.outcome is Outcome.ACCEPTED
    assert (refused.outcome, refused.reason) == (Outcome.PERMANENT, "portal refused the message (HTTP 401)")
    assert [(m["kind"], m["notification_id"], m["idempotency_key"]) for m in read_messages(tmp_path)] == [
        ("portal", "n-1", "n-1")
    ]
