"""Batch handling: a batch that times out is retried in halves, in order, instead of whole for ever."""

from __future__ import annotations

from typing import Any

import pytest
from pymongo.errors import NetworkTimeout

from services.common.consuming import handle_in_halves


def batch(n: int) -> list[tuple[Any, int]]:
    return [(None, i) for i in range(n)]


async def test_a_batch_too_big_for_the_time_limit_is_handled_in_halves_in_order() -> None:
    done: list[int] = []

    async def handle(items: list[tuple[Any, int]]) -> None:
        if len(items) > 3:
            raise NetworkTimeout("timed out")
        done.extend(i for _, i in items)

    await handle_in_halves(handle, batch(10))
    assert done == list(range(10))


async def test_a_single_record_that_times_out_fails_the_batch() -> None:
    async def handle(items: list[tuple[Any, int]]) -> None:
        if any(i == 7 for _, i in items):
            raise TimeoutError("still too slow")

    with pytest.raises(TimeoutError):
        await handle_in_halves(handle, batch(10))


async def test_other_errors_are_not_split() -> None:
    calls = 0

    async def handle(items: list[tuple[Any, int]]) -> None:
        nonlocal calls
        calls += 1
        raise ConnectionError("database down")

    with pytest.raises(ConnectionError):
        await handle_in_halves(handle, batch(10))
    assert calls == 1
