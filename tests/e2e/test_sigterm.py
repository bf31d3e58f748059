"""Every service stops when it is told to: SIGTERM, right after it became ready and again after it has worked
a while, ends the process after a complete shutdown, well within the 30 s an orchestrator waits before it kills.

A service that ignores SIGTERM is killed mid-write by the orchestrator, and in tests it lingered after the
suite: the preference service once did, because a database call lost its task's cancellation.
"""

from __future__ import annotations

import asyncio
import signal
import time
from pathlib import Path

import pytest

from services.common.settings import KafkaSettings, MongoSettings
from tests.processes import ServiceProcess, free_port, stack_env

WITHIN_S = 25.0  # shutdown's own bound is 20 s


def _env(name: str, kafka: KafkaSettings, mongo: MongoSettings, unique: str) -> dict[str, str]:
    own = {
        # Its relays query the database without pause: a SIGTERM almost always meets a call in flight, the
        # moment a cancellation could be lost (without the fix, 4 of 6 runs hung).
        "preference": {"PREFERENCE_GROUP_ID": f"{unique}.preference", "PREFERENCE_OUTBOX_INTERVAL_S": "0.001"},
        "router": {"ROUTER_GROUP_ID": f"{unique}.router"},
        "notifier": {"NOTIFIER_GROUP_PREFIX": f"{unique}.notifier", "NOTIFIER_SMTP_PORT": str(free_port())},
        "connectors": {"CONNECTORS_GROUP_ID": f"{unique}.connectors"},
    }[name]
    return {**stack_env(kafka, mongo), **own}


@pytest.mark.parametrize("name", ["preference", "router", "notifier", "connectors"])
@pytest.mark.parametrize("after_s", [0.0, 1.5])
async def test_a_service_exits_cleanly_and_promptly_on_sigterm(
    kafka: KafkaSettings, mongo: MongoSettings, tmp_path: Path, unique: str, name: str, after_s: float
) -> None:
    service = ServiceProcess(name, _env(name, kafka, mongo, unique), tmp_path / f"{name}.log").start()
    try:
        await service.ready()
        await asyncio.sleep(after_s)  # its background loops have run many rounds by then
        assert service.proc is not None
        asked = time.monotonic()
        service.proc.send_signal(signal.SIGTERM)
        code = await service.exited(within_s=WITHIN_S)
        took = time.monotonic() - asked
    finally:
        service.kill()
    log = service.log.read_text(errors="replace")
    # Uvicorn ends its graceful shutdown by raising the signal it caught again: -15, after the lifespan ended.
    assert code == -signal.SIGTERM, log[-2000:]
    assert "Application shutdown complete" in log, log[-2000:]
    assert "did not finish in time" not in log, log[-4000:]
    assert took < WITHIN_S
