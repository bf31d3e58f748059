"""Services as real OS processes (crash tests, multi-instance tests, benchmark, chaos): start, wait ready, kill."""

from __future__ import annotations

import asyncio
import os
import random
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[2]


# Ports handed out below the kernel's ephemeral range: a port from bind(0) lies inside it, so any outgoing
# connection (Kafka, MongoDB) can take it between this check and the service's own bind.
FREE_PORT_FLOOR = 20000
_RESERVED = frozenset({27017})  # the local stack's defaults above the floor
_handed_out: set[int] = set()


def _ephemeral_start() -> int:
    try:
        return int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return 32768  # Linux's default


def free_port() -> int:
    """A TCP port nobody listens on right now, outside the ephemeral range, not handed out before here."""
    top = _ephemeral_start()
    if top < FREE_PORT_FLOOR + 1000:  # an unusual range: stay under the floor's usual ceiling
        top = 32768
    rng = random.SystemRandom()
    for _ in range(200):
        port = rng.randrange(FREE_PORT_FLOOR, top)
        if port in _RESERVED or port in _handed_out:
            continue
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
        _handed_out.add(port)
        return port
    raise RuntimeError(f"no free TCP port between {FREE_PORT_FLOOR} and {top}")


@dataclass
class ServiceProcess:
    """One service process and where its log goes."""

    name: str
    env: dict[str, str]
    log: Path
    port: int = field(default_factory=free_port)
    module: str | None = None  # default: services.<name>, told its port through <NAME>_PORT
    args: tuple[str, ...] = ()  # extra arguments; "{port}" is replaced by the port
    proc: subprocess.Popen[bytes] | None = None

    def start(self) -> ServiceProcess:
        """Spawn `python -m <module>` with the given environment."""
        env = {**os.environ, **self.env, "PYTHONUNBUFFERED": "1"}
        if self.module is None:
            env[f"{self.name.upper()}_PORT"] = str(self.port)
        command = [sys.executable, "-m", self.module or f"services.{self.name}"]
        command += [a.replace("{port}", str(self.port)) for a in self.args]
        self.log.parent.mkdir(parents=True, exist_ok=True)
        with self.log.open("ab") as out:  # the child keeps its own copy of the descriptor
            self.proc = subprocess.Popen(  # noqa: S603 - our own modules, fixed arguments
                command, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT
            )
        return self

    async def listening(self, within_s: float = 20.0) -> None:
        """Wait until the port accepts connections (for processes without /ready)."""
        deadline = time.monotonic() + within_s
        while time.monotonic() < deadline:
            try:
                _, writer = await asyncio.open_connection("127.0.0.1", self.port)
            except OSError:
                await asyncio.sleep(0.05)
                continue
            writer.close()
            return
        raise AssertionError(f"{self.name} is not listening on {self.port}")

    @property
    def url(self) -> str:
        """Base URL of its HTTP server."""
        return f"http://127.0.0.1:{self.port}"

    async def ready(self, within_s: float = 30.0) -> None:
        """Wait until /ready answers 200 (or fail with the log's tail)."""
        deadline = time.monotonic() + within_s
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

    async def exited(self, within_s: float = 30.0) -> int:
        """Wait for the process to end; its return code (-9 after SIGKILL)."""
        assert self.proc is not None
        deadline = time.monotonic() + within_s
        while self.proc.poll() is None:
            if time.monotonic() > deadline:
                raise AssertionError(f"{self.name} still running after {within_s}s")
            await asyncio.sleep(0.05)
        return self.proc.returncode

    def kill(self, sig: int = signal.SIGKILL, within_s: float = 30.0) -> None:
        """Send a signal (SIGKILL by default) and reap.

        A process still running `within_s` after the signal is killed, so none outlives its test, and
        this fails with its log's tail: a service that ignores SIGTERM is a bug (orchestrators kill it).
        """
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.send_signal(sig)
        try:
            self.proc.wait(timeout=within_s)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=30)
            tail = "\n".join(self.log.read_text(errors="replace").splitlines()[-20:])
            raise AssertionError(
                f"{self.name} still running {within_s:.0f}s after signal {sig}; killed. Log tail:\n{tail}"
            ) from None

    def stop(self) -> None:
        """Terminate gracefully."""
        self.kill(signal.SIGTERM)
