"""Secrets are SecretStr and never printed; no code logs a settings object; log lines are JSON and masked."""

from __future__ import annotations

import ast
import io
import json
import logging
import re
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import structlog
from prometheus_client import CollectorRegistry
from pydantic_settings import BaseSettings

from schemas.topics import ATS_EVENTS
from services.common.kafka import make_broker
from services.common.logs import configure_logging
from services.common.settings import KafkaSettings
from tests.deploy.tooling import ROOT, SETTINGS, is_secret, settings_fields
from tests.support import eventually

SECRET_NAME = re.compile(r"(SECRET|PASSWORD|TOKEN|API_KEYS|MONGODB_URL)$")
LOG_METHODS = {"debug", "info", "warning", "error", "exception", "critical", "log"}
SETTINGS_NAMES = {"settings", "s", "k", "kafka", "mongo"}
PHONE, EMAIL = "+31612345678", "sanne.canary@example.org"


def test_every_secret_setting_is_a_secret_str() -> None:
    secrets = {env for cls in SETTINGS.values() for env, field in settings_fields(cls).items() if is_secret(field)}
    named = {env for cls in SETTINGS.values() for env in settings_fields(cls) if SECRET_NAME.search(env)}
    assert named <= secrets, f"secret-looking settings that are not SecretStr: {sorted(named - secrets)}"
    assert len(secrets) >= 10, sorted(secrets)


@pytest.mark.parametrize("name", sorted(SETTINGS))
def test_printing_settings_shows_no_secret(name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    cls: type[BaseSettings] = SETTINGS[name]
    canaries = {}
    for env, field in settings_fields(cls).items():
        if is_secret(field):
            value = f"canary-{env.lower()}"
            canaries[env] = value
            monkeypatch.setenv(env, json.dumps([value]) if env.endswith("API_KEYS") else value)
    settings = cls()
    for text in (repr(settings), str(settings), settings.model_dump_json(), str(settings.model_dump())):
        leaked = [env for env, value in canaries.items() if value in text]
        assert not leaked, f"{name}: {leaked}"


def _bare_names(call: ast.Call) -> set[str]:
    """Names passed whole (not just one attribute of them) in a call's arguments."""
    nodes = [*call.args, *(k.value for k in call.keywords)]
    inside = [n for node in nodes for n in ast.walk(node)]
    bases = {id(n.value) for n in inside if isinstance(n, ast.Attribute)}
    return {n.id for n in inside if isinstance(n, ast.Name) and id(n) not in bases}


def test_no_code_logs_or_prints_a_settings_object() -> None:
    offenders = []
    for path in sorted((ROOT / "services").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if not isinstance(node, ast.Call):
                continue
            func = node.func
            logs = isinstance(func, ast.Attribute) and func.attr in LOG_METHODS
            prints = isinstance(func, ast.Name) and func.id == "print"
            if (logs or prints) and _bare_names(node) & SETTINGS_NAMES:
                offenders.append(f"{Path(path).relative_to(ROOT)}:{node.lineno}")
    assert not offenders


@pytest.fixture
def json_stdout(monkeypatch: pytest.MonkeyPatch) -> Iterator[io.StringIO]:
    """The services' logging configuration, writing to a buffer; every touched logger restored afterwards."""
    touched = [logging.getLogger(n) for n in ("", "faststream", "faststream.access.kafka")]
    saved = [(lg, lg.handlers[:], lg.level) for lg in touched]
    out = io.StringIO()
    monkeypatch.setattr(sys, "stdout", out)
    configure_logging("test")
    yield out
    for lg, handlers, level in saved:
        lg.handlers[:] = handlers
        lg.setLevel(level)
    structlog.reset_defaults()


def test_nested_values_and_exceptions_are_masked(json_stdout: io.StringIO) -> None:
    log = logging.getLogger("tests.security")
    log.warning("nested", extra={"details": {"to": PHONE, "cc": [{"mail": EMAIL}]}, "obj": object()})
    try:
        raise ValueError(f"cannot reach {EMAIL} or whatsapp:{PHONE}")
    except ValueError:
        log.exception("failed")
    lines = [json.loads(line) for line in json_stdout.getvalue().splitlines()]
    assert [line["event"] for line in lines] == ["nested", "failed"]
    assert PHONE not in json_stdout.getvalue() and EMAIL not in json_stdout.getvalue()
    assert "<email>" in lines[1]["exception"]


@pytest.mark.integration
async def test_faststream_lines_are_json_and_masked(
    json_stdout: io.StringIO, kafka: KafkaSettings, unique: str
) -> None:
    """A real broker: FastStream's own lines (assignments, a failing handler's traceback) go through our handler."""
    broker = make_broker(kafka, CollectorRegistry(), "secrets-test")

    @broker.subscriber(kafka.topic(ATS_EVENTS), group_id=f"{unique}.secrets", auto_offset_reset="earliest")
    async def on_record(body: str) -> None:
        raise RuntimeError(f"handler failed for {EMAIL} / {PHONE}")

    await broker.start()
    try:
        await broker.publish("x", kafka.topic(ATS_EVENTS))

        async def failure_logged() -> bool:
            return "handler failed for" in json_stdout.getvalue()

        await eventually(failure_logged, what="FastStream to log the failing handler")
    finally:
        await broker.stop()
    text = json_stdout.getvalue()
    assert all(line.startswith("{") for line in text.splitlines()), text
    assert PHONE not in text and EMAIL not in text
