"""deploy/tools/healthcheck.py: the container health check finds its service and asks it."""

from __future__ import annotations

import re
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path

import pytest

from deploy.tools import healthcheck


def fake_proc(root: Path, processes: dict[int, list[str]]) -> Path:
    for pid, argv in processes.items():
        (root / str(pid)).mkdir(parents=True)
        (root / str(pid) / "cmdline").write_bytes(b"\0".join(a.encode() for a in argv) + b"\0")
    (root / "self").mkdir()
    return root


def test_finds_the_service_module_among_the_processes(tmp_path: Path) -> None:
    proc = fake_proc(tmp_path, {1: ["/sbin/docker-init", "--"], 7: ["python", "-m", "services.router"]})
    assert healthcheck.running_service(proc) == "router"


def test_finds_every_service_the_compose_file_runs(tmp_path: Path) -> None:
    """Each service container of compose.yaml uses this check: none may be unknown to it (connectors too)."""
    commands = re.findall(
        r'command: \["services\.(\w+)"\]', (Path(healthcheck.__file__).parents[1] / "compose.yaml").read_text()
    )
    assert "connectors" in commands
    for pid, name in enumerate(sorted(set(commands)), start=1):
        proc = fake_proc(tmp_path / name, {pid: ["python", "-m", f"services.{name}"]})
        assert healthcheck.running_service(proc) == name


def test_ignores_other_modules(tmp_path: Path) -> None:
    proc = fake_proc(tmp_path, {1: ["python", "-m", "deploy.tools.create_topics"], 2: ["python", "-m", "services.x"]})
    assert healthcheck.running_service(proc) is None


@pytest.fixture
def service(monkeypatch: pytest.MonkeyPatch) -> Iterator[HTTPServer]:
    """A stand-in service: /health is up, /ready is not yet."""

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            status = 200 if self.path == "/health" else 503
            self.send_response(status)
            self.end_headers()
            self.wfile.write(b'{"status": "not ready", "pending": ["view"]}' if status == 503 else b"{}")

        def log_message(self, *args: object) -> None:
            pass

    server = HTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    monkeypatch.setattr(healthcheck, "running_service", lambda: "notifier")
    monkeypatch.setenv("NOTIFIER_PORT", str(server.server_address[1]))
    yield server
    server.shutdown()
    server.server_close()


def test_healthy_when_the_service_answers_200(service: HTTPServer) -> None:
    assert healthcheck.main(["/health"]) == 0


def test_unhealthy_with_the_reason_when_not_ready(service: HTTPServer, capsys: pytest.CaptureFixture[str]) -> None:
    assert healthcheck.main(["/ready"]) == 1
    assert "503" in capsys.readouterr().err


def test_unhealthy_without_a_port(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setattr(healthcheck, "running_service", lambda: "router")
    monkeypatch.delenv("ROUTER_PORT", raising=False)
    assert healthcheck.main([]) == 1
    assert "ROUTER_PORT" in capsys.readouterr().err
