"""The notifier refuses oversized request bodies with 413: declared (Content-Length) or streamed (chunked).

The real app from create_app, served by uvicorn on a socket; its lifespan stays off, so no broker or
database is needed: every request here is decided before a handler touches either.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx
import pytest
import uvicorn

from services.notifier.app import create_app
from services.notifier.settings import NotifierSettings
from tests.support import eventually

LIMIT = 4096
KEY = {"X-API-Key": "dev-only-api-key"}
FORM = {"Content-Type": "application/x-www-form-urlencoded"}
JSON = {"Content-Type": "application/json"}
# (path, headers, a small body the handler answers itself, its status)
ENDPOINTS = [
    ("/callbacks/twilio/inbound", FORM, b"From=%2B31612345678&Body=hi", 403),  # unsigned
    ("/callbacks/twilio/status", FORM, b"MessageSid=SM1&MessageStatus=delivered", 403),
    ("/recruiter/login", FORM, b"key=wrong&who=Femke", 403),
    ("/v1/worklist/needs_recruiter:n-1/handled", JSON, b'{"by": "Femke"}', 401),  # no key
]


@asynccontextmanager
async def notifier(max_body_bytes: int) -> AsyncIterator[str]:
    """The notifier app on a free port, without its lifespan (no broker, no database)."""
    app = create_app(NotifierSettings(max_body_bytes=max_body_bytes))
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning", lifespan="off"))
    task = asyncio.create_task(server.serve())

    async def up() -> bool:
        if task.done():
            task.result()
        return server.started

    await eventually(up, timeout=10, interval=0.01, what="uvicorn to start")
    try:
        yield f"http://127.0.0.1:{server.servers[0].sockets[0].getsockname()[1]}"
    finally:
        server.should_exit = True
        await task


async def _chunks(total: int, size: int = 1000) -> AsyncIterator[bytes]:
    sent = 0
    while sent < total:
        chunk = b"x" * min(size, total - sent)
        sent += len(chunk)
        yield chunk


@pytest.mark.parametrize(("path", "headers", "small", "answer"), ENDPOINTS)
async def test_oversized_posts_get_413_and_small_ones_reach_the_handler(
    path: str, headers: dict[str, str], small: bytes, answer: int
) -> None:
    async with notifier(LIMIT) as url, httpx.AsyncClient(base_url=url, timeout=5) as client:
        declared = await client.post(path, content=b"Body=" + b"x" * LIMIT, headers={**headers, **KEY})
        streamed = await client.post(path, content=_chunks(LIMIT + 1), headers={**headers, **KEY})
        just_fits = await client.post(path, content=_chunks(LIMIT), headers=headers)
        handled = await client.post(path, content=small, headers=headers)
    assert declared.status_code == 413, declared.text
    assert streamed.request.headers.get("transfer-encoding") == "chunked"
    assert "content-length" not in streamed.request.headers
    assert streamed.status_code == 413, streamed.text
    assert just_fits.status_code != 413
    assert handled.status_code == answer, handled.text


async def test_the_default_limit_is_64_kib_and_described() -> None:
    field = NotifierSettings.model_fields["max_body_bytes"]
    assert NotifierSettings().max_body_bytes == 64 * 1024
    assert field.description and "413" in field.description
    async with notifier(NotifierSettings().max_body_bytes) as url, httpx.AsyncClient(base_url=url) as client:
        over = await client.post(ENDPOINTS[0][0], content=b"x" * (64 * 1024 + 1), headers=FORM)
        under = await client.post(ENDPOINTS[0][0], content=b"x" * (64 * 1024), headers=FORM)
    assert (over.status_code, under.status_code) == (413, 403)
