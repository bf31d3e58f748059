"""Running a service: background loops that survive errors, and the uvicorn entry point."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any

import uvicorn
from fastapi import FastAPI

log = logging.getLogger(__name__)
CANCEL_AGAIN_AFTER_S = 2.0  # a task still running this long after its cancellation is cancelled again


async def every(interval_s: float, step: Callable[[], Awaitable[object]], name: str) -> None:
    """Run `step` every `interval_s` forever; log and continue on errors (cancel to stop).

    A cancellation stops the loop even when a step lost it (see `stop_if_cancelled`).
    """
    task = asyncio.current_task()
    if task is not None:
        task.set_name(name)  # what a stuck shutdown's task dump shows
    while True:
        try:
            await step()
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("background step failed; retrying", extra={"loop": name})
        stop_if_cancelled()
        await asyncio.sleep(interval_s)


def stop_if_cancelled() -> None:
    """Raise CancelledError when the current task has a cancellation pending.

    Python 3.11's `asyncio.wait_for`, used inside PyMongo and aiokafka, can return normally when the
    awaited operation completes in the same instant its task is cancelled (CPython gh-86296), so the
    cancellation is lost. A loop that runs until cancelled calls this once per round, or it never ends.
    """
    task = asyncio.current_task()
    if task is not None and task.cancelling():
        raise asyncio.CancelledError


async def cancel(*tasks: asyncio.Task[Any]) -> None:
    """Cancel tasks and wait for them to end, cancelling again while one swallowed the cancellation."""
    pending = {task for task in tasks if not task.done()}
    while pending:
        for task in pending:
            task.cancel()
        _, pending = await asyncio.wait(pending, timeout=CANCEL_AGAIN_AFTER_S)
    for task in tasks:
        if not task.cancelled() and (error := task.exception()) is not None:
            log.error(
                "background task had failed before it was stopped", exc_info=error, extra={"task": task.get_name()}
            )


async def shut_down(steps: list[tuple[str, Callable[[], Awaitable[object]]]], within_s: float = 20.0) -> None:
    """Run shutdown steps in order, all of them within `within_s` (a step gets what is left, at least 1 s).

    The default stays under the 30 s an orchestrator waits after SIGTERM before it kills the process. A
    step that does not finish in time is abandoned, logged with the await chain of every task still
    running (what it was waiting for), and the next step runs: a process asked to stop must stop, and the
    log must say what held it up. A step that fails is logged and does not skip the others either.
    """
    deadline = asyncio.get_running_loop().time() + within_s
    for name, step in steps:
        running = asyncio.ensure_future(step())
        left = max(1.0, deadline - asyncio.get_running_loop().time())
        done, _ = await asyncio.wait({running}, timeout=left)
        if not done:  # the stacks now, while it is stuck; then abandon it
            log.error(
                "shutdown step did not finish in time; abandoned",
                extra={"step": name, "waited_s": round(left, 1), "tasks": _task_stacks()},
            )
            running.cancel()
            await asyncio.wait({running}, timeout=1.0)
            continue
        if not running.cancelled() and (error := running.exception()) is not None:
            log.error("shutdown step failed", exc_info=error, extra={"step": name})


def _task_stacks() -> list[str]:
    """Every other running task and the chain of awaits it is suspended in, innermost last."""
    current = asyncio.current_task()
    return [
        f"{task.get_name()}: {' -> '.join(_awaiting(task.get_coro()))}"
        for task in asyncio.all_tasks()
        if task is not current and not task.done()
    ]


def _awaiting(awaitable: object) -> list[str]:
    """The frames of a suspended coroutine's await chain (coroutines, generators, async generators)."""
    chain: list[str] = []
    while awaitable is not None and len(chain) < 40:
        frame = getattr(awaitable, "cr_frame", None) or getattr(awaitable, "gi_frame", None)
        frame = frame or getattr(awaitable, "ag_frame", None)
        if frame is None:
            chain.append(type(awaitable).__name__)
            break
        chain.append(f"{frame.f_code.co_name} ({'/'.join(frame.f_code.co_filename.split('/')[-2:])}:{frame.f_lineno})")
        awaitable = next(
            (getattr(awaitable, a) for a in ("cr_await", "gi_yieldfrom", "ag_await") if hasattr(awaitable, a)), None
        )
    return chain


def serve(app: FastAPI, host: str, port: int) -> None:
    """Serve an app with uvicorn; logging stays as configured (JSON)."""
    uvicorn.run(app, host=host, port=port, log_config=None, access_log=False, lifespan="on")
