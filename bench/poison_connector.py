"""The connector in the poison scenario: its ATS (the Greenhouse emulator), the candidates it links, its notes.

The connector reads notifications.status and preferences.changed in consumer groups, so the poison on those
topics must end in its dead-letter topics while it keeps writing notes. Candidates are linked the way an ATS
links them, by signed Greenhouse webhooks (https://developers.greenhouse.io/webhooks.html: `Signature:
sha256 <hex HMAC-SHA256 of the body>`, `new_candidate_application`): some before the poison, some right
after it. Each gets its application e-mail through the pipeline, and the connector a note saying so.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import time
from datetime import datetime

import httpx

from bench.harness import Env
from bench.poison_verdict import Notes
from deploy.local.procs import ServiceProcess

SECRET = "chaos-only-greenhouse-secret"
GREENHOUSE = "CONNECTORS_CONNECTIONS__GREENHOUSE__"


async def start_connector(env: Env, stall_after_s: float) -> tuple[ServiceProcess, ServiceProcess]:
    """The ATS emulators, then the connector with one Greenhouse connection on them: (connector, emulators)."""
    ats = await env.start(
        "ats-emulators",
        module="deploy.local.ats_emulators",
        args=("--port", "{port}", "--dir", str(env.workdir / f"{env.name}-ats")),
    )
    extra = {
        "CONNECTORS_GROUP_ID": f"{env.name}.connectors",
        "CONNECTORS_STALL_AFTER_S": str(stall_after_s),
        "CONNECTORS_LOG_LEVEL": "WARNING",
        "KAFKA_SESSION_TIMEOUT_MS": "3000",
        GREENHOUSE + "SECRET": SECRET,
        GREENHOUSE + "API_URL": f"{ats.url}/greenhouse",
        GREENHOUSE + "API_KEY": "dev-greenhouse-key",
        GREENHOUSE + "OPTIONS": '{"on_behalf_of": "4080"}',
    }
    return await env.start("connectors", extra=extra), ats


def application(prefix: str, ats_id: str, now: datetime) -> dict[str, object]:
    """A Greenhouse new_candidate_application delivery for one candidate (an address of the run's own)."""
    candidate = {
        "id": ats_id,
        "first_name": "Chaos",
        "last_name": f"Linked {ats_id}",
        "email_addresses": [{"value": f"{prefix}gh{ats_id}@example.org", "type": "personal"}],
        "phone_numbers": [],
    }
    app = {
        "id": f"{ats_id}0",
        "candidate": candidate,
        "jobs": [{"name": "Monteur"}],
        "current_stage": {"name": "Application Review"},
        "last_activity_at": now.isoformat(),
        "prospect": False,
    }
    return {"action": "new_candidate_application", "payload": {"application": app}}


async def link(connector: ServiceProcess, prefix: str, ats_ids: list[str], now: datetime) -> None:
    """Post a signed webhook per candidate; each must be taken (202)."""
    async with httpx.AsyncClient(base_url=connector.url, timeout=30) as client:
        for ats_id in ats_ids:
            body = json.dumps(application(prefix, ats_id, now)).encode()
            digest = hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()
            headers = {"Signature": f"sha256 {digest}", "Greenhouse-Event-ID": f"{prefix}-link-{ats_id}"}
            answer = await client.post("/v1/webhooks/greenhouse", content=body, headers=headers)
            if answer.status_code != 202:
                raise RuntimeError(f"the connector did not take the webhook of {ats_id}: {answer.status_code}")


async def notes(ats: ServiceProcess, linked: list[str], limit_s: float = 60.0) -> Notes:
    """Every note the emulated Greenhouse received, once each linked candidate has one (or at the limit)."""
    deadline = time.monotonic() + limit_s
    async with httpx.AsyncClient(base_url=ats.url, timeout=10) as client:
        while True:
            found = (await client.get("/_emulator/notes", params={"ats": "greenhouse"})).json()
            bodies = tuple((str(n["candidate_id"]), str(n["body"])) for n in found)
            noted = {cid for cid, body in bodies if "sent by e-mail" in body}
            if set(linked) <= noted or time.monotonic() > deadline:
                return Notes(tuple(linked), bodies)
            await asyncio.sleep(1.0)
