"""/ready: set conditions and probes together; 503 names every unmet condition with its reason."""

from __future__ import annotations

import httpx
from fastapi import FastAPI
from prometheus_client import CollectorRegistry

from services.common.http import Readiness, mount_probes


async def ready(readiness: Readiness) -> httpx.Response:
    app = FastAPI()
    mount_probes(app, readiness, CollectorRegistry())
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://app") as client:
        return await client.get("/ready")


async def test_ready_only_when_conditions_hold_and_no_probe_reports_a_problem() -> None:
    readiness = Readiness("kafka", "view")
    problems: dict[str, str] = {}
    readiness.probe(lambda: problems)
    response = await ready(readiness)
    assert response.status_code == 503
    assert response.json() == {
        "status": "not ready",
        "pending": ["kafka", "view"],
        "reasons": {"kafka": "not yet", "view": "not yet"},
    }
    readiness.set("kafka")
    readiness.set("view")
    assert (await ready(readiness)).json() == {"status": "ready"}
    problems["stalled:router"] = "ats.accepted/2: 4 records waiting, committed offset 9 unchanged for 61s"
    problems["view"] = "view reader restarting after KeyError"
    response = await ready(readiness)
    assert response.status_code == 503
    assert response.json()["pending"] == ["stalled:router", "view"]
    assert not readiness.ready
    readiness.set("view", False)
    assert readiness.reasons()["view"] == "not yet; view reader restarting after KeyError"
    problems.clear()
    readiness.set("view")
    assert readiness.ready and readiness.pending() == []
