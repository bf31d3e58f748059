"""Run the provider emulator: python -m deploy.local.provider_emulator --port 8025 --dir .local/provider."""

from __future__ import annotations

import argparse
import os
from pathlib import Path

import uvicorn

from deploy.local.provider_emulator import create_app
from deploy.local.provider_emulator.state import DEV_ACCOUNT_SID, DEV_AUTH_TOKEN, DEV_PORTAL_SECRET, EmulatorConfig


def main() -> None:
    """Command-line entry point (options fall back to PROVIDER_EMULATOR_* variables)."""
    env = os.environ.get
    p = argparse.ArgumentParser(description="Emulate the Twilio-style provider API for the local stack.")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8025)
    p.add_argument("--dir", type=Path, default=Path(".local/provider"))
    p.add_argument("--inbound-url", default=env("PROVIDER_EMULATOR_INBOUND_URL"), help="Where inbound SMS go.")
    p.add_argument("--callback-base", default=env("PROVIDER_EMULATOR_CALLBACK_BASE"), help="Deliver callbacks here.")
    p.add_argument("--account-sid", default=env("PROVIDER_EMULATOR_ACCOUNT_SID", DEV_ACCOUNT_SID))
    p.add_argument("--auth-token", default=env("PROVIDER_EMULATOR_AUTH_TOKEN", DEV_AUTH_TOKEN))
    p.add_argument("--portal-secret", default=env("PROVIDER_EMULATOR_PORTAL_SECRET", DEV_PORTAL_SECRET))
    p.add_argument("--hang-s", type=float, default=30.0, help="How long 0006 numbers hang.")
    a = p.parse_args()
    config = EmulatorConfig(
        a.dir, a.account_sid, a.auth_token, a.portal_secret, a.inbound_url, a.callback_base, hang_s=a.hang_s
    )
    print(f"provider-emulator listening on {a.host}:{a.port}, writing to {a.dir} (pid {os.getpid()})", flush=True)
    uvicorn.run(create_app(config), host=a.host, port=a.port, log_level="warning", access_log=False)


if __name__ == "__main__":
    main()
