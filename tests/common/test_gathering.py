"""all_of: steps run at once, a failure is raised only after every step has finished."""

from __future__ import annotations

import asyncio

import pytest

from services.common.gathering import all_of


async def test_the_steps_run_at_once_and_their_results_come_back_in_order() -> None:
    started: list[str] = []
    both_started = asyncio.Event()

    async def step(name: str) -> str:
        started.append(name)
        if len(started) == 2:
            both_started.set()
        await asyncio.wait_for(both_started.wait(), 1.0)  # a sequential run would time out here
        return name.upper()

    assert await all_of(step("a"), step("b")) == ["A", "B"]


async def test_a_failure_is_raised_only_once_the_other_step_has_finished() -> None:
    finished: list[str] = []

    async def fails() -> None:
        raise ValueError("first")

    async def slow() -> None:
        await asyncio.sleep(0.05)
        finished.append("slow")

    with pytest.raises(ValueError, match="first"):
        await all_of(fails(), slow())
    assert finished == ["slow"]
