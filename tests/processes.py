"""Services as real OS processes (for crash tests and multi-instance tests): start, wait ready, kill."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]


def free_port() -> int:
    """A TCP port nobody listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class ServiceProcess:
    """One service process and where its log goes."""

    name: str
    env: dict[str, str]
    log: Path
    port: int = field(default_factory=free_port)
    proc: subprocess.Popen[bytes] | None = None

    def start(self) -> ServiceProcess:
        """Spawn `python -m services.<name>` with the given environment."""
        env = {**os.environ, **self.env, f"{self.name.upper()}_PORT": str(self.port), "PYTHONUNBUFFERED": "1"}
        self.log.parent.mkdir(parents=True, exist_ok=True)
        with self.log.open("ab") as out:  # the child keeps its own copy of the descriptor
            self.proc = subprocess.Popen(
                [sys.executable, "-m", f"services.{self.name}"], cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT
            )
        return self

    @property
    def url(self) -> str:
        """Base URL of its HTTP server."""
        return f"http://127.0.0.1:{self.port}"

    async def ready(self, timeout: float = 30.0) -> None:
        """Wait until /ready answers 200 (or fail with the log's tail)."""
        deadline = time.monotonic() + timeout
        async with httpx.AsyncClient(timeout=1.0) as client:
            while time.monotonic() < deadline:
                if self.proc is not None and self.proc.poll() is not None:
                    break
                try:
                    if (await client.get(f"{self.url}/ready")).status_code == 200:
                        return
                except httpx.HTTPError:
                    pass
                await asyncio.sleep(0.1)
        tail = "\n".join(self.log.read_text(errors="replace").splitlines()[-20:])
        raise AssertionError(f"{self.name} not ready (exit {self.proc and self.proc.poll()}); log tail:\n{tail}")

    async def exited(self, timeout: float = 30.0) -> int:
        """Wait for the process to end; its return code (-9 after SIGKILL)."""
        assert self.proc is not None
        deadline = time.monotonic() + timeout
        while self.proc.poll() is None:
            if time.monotonic() > deadline:
                raise AssertionError(f"{self.name} still running after {timeout}s")
            await asyncio.sleep(0.05)
        return self.proc.returncode

    def kill(self, sig: int = signal.SIGKILL) -> None:
        """Send a signal (SIGKILL by default) and reap."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(sig)
            self.proc.wait(timeout=30)

    def stop(self) -> None:
        """Terminate gracefully."""
        self.kill(signal.SIGTERM)
