"""Awaiting several independent steps at once without leaving any of them behind."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from typing import Any


async def all_of(*steps: Awaitable[Any]) -> list[Any]:
    """Run `steps` concurrently and wait for every one of them; then raise the first failure, if any.

    Unlike a bare `gather`, a failure does not return while the other steps still run: the caller (a
    batch handler that commits its input on return, or backs off and retries on error) never overlaps
    with work left over from its previous attempt.
    """
    results = await asyncio.gather(*steps, return_exceptions=True)
    for result in results:
        if isinstance(result, BaseException):
            raise result
    return list(results)
