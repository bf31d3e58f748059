"""Run the ATS emulators: python -m deploy.local.ats_emulators --port 8026 --dir .local/ats [--empty].

They start with the records of records/<ats>.json (local_records.py), unless --empty.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

import uvicorn

from deploy.local.ats_emulators import MODULES, create_app
from deploy.local.ats_emulators.local_records import seed_local
from deploy.local.ats_emulators.state import DEV_KEYS, EmulatorState


def main() -> None:
    """Command-line entry point (API keys from ATS_EMULATOR_<NAME>_KEY, else dev-<name>-key)."""
    p = argparse.ArgumentParser(description="Emulate the ATS REST APIs the connector calls.")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8026)
    p.add_argument("--dir", type=Path, default=Path(".local/ats"))
    p.add_argument("--empty", action="store_true", help="start without the records of records/<ats>.json")
    a = p.parse_args()
    keys = {name: os.environ.get(f"ATS_EMULATOR_{name.upper()}_KEY", DEV_KEYS.get(name, "")) for name in MODULES}
    state = EmulatorState(directory=a.dir, api_keys=keys)
    seeded = [] if a.empty else seed_local(state)
    app = create_app(state)
    print(
        f"ats-emulators listening on {a.host}:{a.port}, {len(seeded)} records seeded, notes in {a.dir} "
        f"(pid {os.getpid()})",
        flush=True,
    )
    uvicorn.run(app, host=a.host, port=a.port, log_level="warning", access_log=False)


if __name__ == "__main__":
    main()
