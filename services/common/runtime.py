"""Running a service: background loops that survive errors, and the uvicorn entry point."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable

import uvicorn
from fastapi import FastAPI

log = logging.getLogger(__name__)


async def every(interval_s: float, step: Callable[[], Awaitable[object]], name: str) -> None:
    """Run `step` every `interval_s` forever; log and continue on errors (cancel to stop)."""
    while True:
        try:
            await step()
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("background step failed; retrying", extra={"loop": name})
        await asyncio.sleep(interval_s)


async def cancel(*tasks: asyncio.Task[None]) -> None:
    """Cancel background tasks and wait for them to end."""
    for task in tasks:
        task.cancel()
    for task in tasks:
        with contextlib.suppress(asyncio.CancelledError):
            await task


def serve(app: FastAPI, host: str, port: int) -> None:
    """Serve an app with uvicorn; logging stays as configured (JSON)."""
    uvicorn.run(app, host=host, port=port, log_config=None, access_log=False, lifespan="on")
