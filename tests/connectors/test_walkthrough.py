"""docs/connectors-lever-ashby.md "Trying it locally", run as written against `make run`'s own set-up.

The ATS emulators are the process `make run` starts (its default: the records of
deploy/local/ats_emulators/records/ seeded), the connector a process with `make run`'s connections
(deploy.local.components.local_connections_env), the pipeline the three services with an SMTP sink. The
doc's shell block runs unchanged but for the ports (and its scratch file, kept in this test's directory).
"""

from __future__ import annotations

import asyncio
import re
import subprocess
from pathlib import Path

import httpx

from deploy.local.components import LocalStackSettings, local_connections_env
from deploy.local.procs import ROOT
from services.common.settings import KafkaSettings, MongoSettings
from tests.processes import ServiceProcess, stack_env
from tests.stacks import services_running
from tests.support import eventually

DOC = ROOT / "docs/connectors-lever-ashby.md"


def walkthrough() -> str:
    """The first shell block after the heading "Trying it locally"."""
    text = DOC.read_text().split("## Trying it locally", 1)[1]
    found = re.search(r"```sh\n(.*?)```", text, re.S)
    assert found, "the walkthrough has a sh block"
    return found.group(1)


async def test_the_local_walkthrough_runs_as_written(
    kafka: KafkaSettings, mongo: MongoSettings, tmp_path: Path, unique: str
) -> None:
    async with services_running(kafka, mongo, tmp_path, unique):
        emulators = ServiceProcess(
            "ats-emulators",
            {},
            tmp_path / "ats.log",
            module="deploy.local.ats_emulators",
            args=("--port", "{port}", "--dir", str(tmp_path / "ats")),
        ).start()
        connections = local_connections_env(LocalStackSettings(ats_emulator_port=emulators.port))
        env = {**stack_env(kafka, mongo), "CONNECTORS_GROUP_ID": f"{unique}.connectors", **connections}
        connector = ServiceProcess("connectors", env, tmp_path / "connectors.log").start()
        try:
            await emulators.listening()
            await connector.ready()
            script = (
                walkthrough()
                .replace("127.0.0.1:8004", f"127.0.0.1:{connector.port}")
                .replace("127.0.0.1:8026", f"127.0.0.1:{emulators.port}")
                .replace("/tmp/lever.json", str(tmp_path / "lever.json"))
            )
            ran = await asyncio.to_thread(
                subprocess.run, ["bash", "-euo", "pipefail", "-c", script], cwd=ROOT, capture_output=True, text=True
            )
            assert ran.returncode == 0, ran.stderr
            assert ran.stdout.count("HTTP/1.1 202 Accepted") == 2, ran.stdout
            async with httpx.AsyncClient(base_url=emulators.url) as client:

                async def noted() -> bool:
                    notes = (await client.get("/_emulator/notes")).json()
                    return {n["ats"] for n in notes if "sent by e-mail" in n["body"]} == {"lever", "ashby"}

                await eventually(noted, timeout=60, what="a note at Lever and at Ashby, once the e-mails went out")
                again = await client.post(
                    f"{connector.url}/v1/webhooks/lever",
                    content=(tmp_path / "lever.json").read_bytes(),
                    headers={"Content-Type": "application/json"},
                )
                notes = (await client.get("/_emulator/notes")).json()
        finally:
            connector.stop()
            emulators.stop()
    assert (again.status_code, again.json()) == (200, {"status": "duplicate"})
    lever = next(n for n in notes if n["ats"] == "lever")
    assert lever["candidate_id"] == "3410c8b9-5c31-4bab-b7e9-9f710206d647"  # the seeded opportunity
    ashby = next(n for n in notes if n["ats"] == "ashby")
    assert ashby["candidate_id"] == "5b3c7e90-1d2f-4a8b-b6c4-7e9f0a1b2c3d"  # the seeded candidate
