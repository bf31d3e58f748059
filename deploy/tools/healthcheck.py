"""Container health check: python -m deploy.tools.healthcheck [/health | /ready].

Exits 0 when the service running in this container answers 200 on the path (default /health:
the process is up; /ready: connected to Kafka and MongoDB and its state rebuilt). Which service
runs is read from the process table (`python -m services.<name>`), its port from <NAME>_PORT,
the variable its settings class reads (the image sets all four). Standard library only: it runs
every few seconds and must stay cheap.
"""

from __future__ import annotations

import itertools
import os
import sys
import urllib.error
import urllib.request
from pathlib import Path

SERVICES = ("preference", "router", "notifier", "connectors")


def running_service(proc: Path = Path("/proc")) -> str | None:
    """The name of the service module a process in this container runs, if any."""
    for entry in proc.iterdir():
        if not entry.name.isdigit():
            continue
        try:
            args = (entry / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        for flag, module in itertools.pairwise(args):
            name = module.decode(errors="replace").removeprefix("services.")
            if flag == b"-m" and module.startswith(b"services.") and name in SERVICES:
                return name
    return None


def main(argv: list[str]) -> int:
    """Probe the local service; print why when it is not healthy."""
    path = argv[0] if argv else "/health"
    service = running_service()
    if service is None:
        print("healthcheck: no services.<name> process in this container", file=sys.stderr)
        return 1
    port = os.environ.get(f"{service.upper()}_PORT")
    if not port:
        print(f"healthcheck: {service.upper()}_PORT is not set (the image sets it)", file=sys.stderr)
        return 1
    url = f"http://127.0.0.1:{port}{path}"
    try:
        with urllib.request.urlopen(url, timeout=3) as response:
            return 0 if response.status == 200 else 1
    except urllib.error.HTTPError as exc:
        print(f"healthcheck: {url} answered {exc.code}: {exc.read(300).decode(errors='replace')}", file=sys.stderr)
    except (OSError, ValueError) as exc:
        print(f"healthcheck: {url} unreachable: {exc}", file=sys.stderr)
    return 1


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
