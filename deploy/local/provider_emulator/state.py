"""The emulator's configuration and state: credentials, the receipt log, signed webhooks, live calls."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
from collections.abc import Coroutine, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import httpx
from starlette.requests import Request
from starlette.responses import JSONResponse

DEV_ACCOUNT_SID = "AC" + "0" * 32
DEV_AUTH_TOKEN = "dev-only-twilio-auth-token"  # noqa: S105 - the local stack's published dev default
DEV_PORTAL_SECRET = "dev-only-portal-webhook-secret"  # noqa: S105 - the local stack's published dev default
API_VERSION = "2010-04-01"


def twilio_signature(token: str, url: str, params: Mapping[str, str]) -> str:
    """X-Twilio-Signature as Twilio documents it (single-valued parameters)."""
    data = url + "".join(name + params[name] for name in sorted(params))
    return base64.b64encode(hmac.new(token.encode(), data.encode(), hashlib.sha1).digest()).decode()


def read_messages(directory: Path) -> list[dict[str, Any]]:
    """Every recorded request, in arrival order."""
    path = directory / "messages.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()] if path.exists() else []


def twilio_error(status: int, code: int, message: str, headers: dict[str, str] | None = None) -> JSONResponse:
    """An error answer shaped like Twilio's."""
    body = {"code": code, "message": message, "more_info": f"https://www.twilio.com/docs/errors/{code}"}
    return JSONResponse({**body, "status": status}, status_code=status, headers=headers)


@dataclass
class EmulatorConfig:
    """Where to record, which credentials to expect, where to send webhooks, how fast to call back."""

    directory: Path
    account_sid: str = DEV_ACCOUNT_SID
    auth_token: str = DEV_AUTH_TOKEN
    portal_secret: str = DEV_PORTAL_SECRET
    inbound_url: str | None = None
    callback_base: str | None = None
    step_s: float = 0.05
    hang_s: float = 30.0


class Emulator:
    """Recorded requests, callbacks sent, live calls, and the HTTP client that calls back."""

    def __init__(self, config: EmulatorConfig) -> None:
        self.config = config
        config.directory.mkdir(parents=True, exist_ok=True)
        self.callbacks: list[dict[str, Any]] = []
        self.live_calls: dict[str, asyncio.Event] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self._client = httpx.AsyncClient(timeout=10.0)

    def record(self, entry: dict[str, Any]) -> None:
        """Append one receipt to messages.jsonl."""
        entry = {"received_at": datetime.now(UTC).isoformat(), **entry}
        with (self.config.directory / "messages.jsonl").open("a") as out:
            out.write(json.dumps(entry, ensure_ascii=False) + "\n")

    def spawn(self, work: Coroutine[Any, Any, None]) -> None:
        """Run callbacks in the background, keeping a reference until they end."""
        task = asyncio.create_task(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def callback(self, url: str, params: dict[str, str]) -> tuple[int | None, str]:
        """POST one signed webhook; returns the receiver's status and body (None: unreachable)."""
        headers = {"X-Twilio-Signature": twilio_signature(self.config.auth_token, url, params)}
        target = url
        if self.config.callback_base:  # deliver elsewhere, signed for the URL given (as behind a proxy)
            base = urlsplit(self.config.callback_base)
            target = urlunsplit((base.scheme, base.netloc, *urlsplit(url)[2:]))
        try:
            resp = await self._client.post(target, data=params, headers=headers)
            answer: tuple[int | None, str] = (resp.status_code, resp.text)
        except httpx.HTTPError as exc:
            answer = (None, type(exc).__name__)
        self.callbacks.append({"url": url, "params": params, "status": answer[0]})
        return answer

    def authorised(self, request: Request) -> bool:
        """Basic auth with the account SID and auth token, on the same account's path."""
        pair = f"{self.config.account_sid}:{self.config.auth_token}".encode()
        given = request.headers.get("authorization", "").encode()
        same_account = request.path_params.get("account") == self.config.account_sid
        return hmac.compare_digest(given, b"Basic " + base64.b64encode(pair)) and same_account

    async def close(self) -> None:
        """Stop pending callbacks and close the HTTP client."""
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await self._client.aclose()
