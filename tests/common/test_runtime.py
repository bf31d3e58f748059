"""A service asked to stop stops: background loops end even when a step lost its cancellation, and a
shutdown step that hangs is abandoned with the stacks of what was still running in the log."""

from __future__ import annotations

import asyncio
import logging

import pytest

from services.common import runtime
from services.common.runtime import cancel, every, shut_down


async def _loses_its_cancellation() -> None:
    """What Python 3.11's wait_for does when the awaited operation finishes as the task is cancelled."""
    try:
        await asyncio.sleep(3600)
    except asyncio.CancelledError:
        return


async def test_a_loop_whose_step_lost_the_cancellation_still_stops() -> None:
    steps = 0

    async def step() -> None:
        nonlocal steps
        steps += 1
        await _loses_its_cancellation()

    task = asyncio.create_task(every(0.01, step, "relay"))
    await asyncio.sleep(0.05)
    assert task.get_name() == "relay", "a stuck shutdown's task dump names the loop"
    task.cancel()
    done, _ = await asyncio.wait({task}, timeout=1.0)
    assert done, "the loop went on after its cancellation"
    assert task.cancelled()
    assert steps == 1


async def test_cancel_cancels_again_a_task_that_swallowed_the_first(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(runtime, "CANCEL_AGAIN_AFTER_S", 0.05)
    cancellations = 0

    async def stubborn() -> None:
        nonlocal cancellations
        while True:
            try:
                await asyncio.sleep(3600)
            except asyncio.CancelledError:
                cancellations += 1
                if cancellations >= 3:
                    raise

    task = asyncio.create_task(stubborn())
    await asyncio.sleep(0)
    await asyncio.wait_for(cancel(task), 2.0)
    assert task.cancelled()
    assert cancellations == 3


async def test_a_hanging_shutdown_step_is_abandoned_logged_with_the_stacks_and_the_rest_still_runs(
    caplog: pytest.LogCaptureFixture,
) -> None:
    closed: list[str] = []
    release = asyncio.Event()

    async def producer_stop() -> None:  # stands for a client whose stop() waits for ever
        await release.wait()

    async def stuck_worker() -> None:
        await release.wait()

    worker = asyncio.create_task(stuck_worker(), name="worker")

    async def close_database() -> None:
        closed.append("database")

    async def failing() -> None:
        raise RuntimeError("broker gone")

    with caplog.at_level(logging.ERROR, logger="services.common.runtime"):
        await asyncio.wait_for(
            shut_down(
                [("producer", producer_stop), ("views", failing), ("database client", close_database)], within_s=0.1
            ),
            2.0,
        )
    assert closed == ["database"], "a hanging or failing step must not skip the ones after it"
    stuck = next(r for r in caplog.records if r.getMessage().startswith("shutdown step did not finish"))
    assert stuck.step == "producer"  # type: ignore[attr-defined]
    stacks = "\n".join(stuck.tasks)  # type: ignore[attr-defined]
    assert "producer_stop" in stacks, stacks
    assert "worker: stuck_worker (common/test_runtime.py:" in stacks, stacks
    failed = next(r for r in caplog.records if r.getMessage() == "shutdown step failed")
    assert failed.step == "views"  # type: ignore[attr-defined]
    assert failed.exc_info is not None and "broker gone" in str(failed.exc_info[1])
    worker.cancel()
