"""`make run` wires bounces and e-mail replies: the sink relays DSNs to the notifier's inbound SMTP listener.

The configuration is read from the stack's own components; the live test runs the sink exactly as
the stack starts it (its command line, as a process) and the notifier's listener with settings read
from the environment the stack gives the notifier.
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry

from deploy.local.components import COMPONENTS, Component, LocalStackSettings, component_env, smtp_ready
from deploy.local.procs import free_port
from schemas.common import Channel, NotificationStatus
from services.notifier.channels.base import Outcome
from services.notifier.channels.email import EmailAdapter, message_id
from services.notifier.inbound_smtp import InboundMail, start_inbound_smtp
from services.notifier.metrics import NotifierMetrics
from services.notifier.settings import NotifierSettings
from tests.notifier.provider_doubles import NOW, FakeReports, FakeStore, counter, outgoing
from tests.support import eventually

NID = "5d0c9a0e-64b1-5f55-9c51-2c0a9d2e7b11"


def _component(name: str) -> Component:
    return next(c for c in COMPONENTS if c.name == name)


def notifier_settings(local: LocalStackSettings, monkeypatch: pytest.MonkeyPatch) -> NotifierSettings:
    """The notifier's settings as `make run` starts it: from the environment the stack gives the process."""
    notifier = _component("notifier")
    for name, value in {**component_env(local), **notifier.env(local)}.items():
        monkeypatch.setenv(name, value)
    return NotifierSettings()


def test_make_run_switches_on_the_listener_and_the_sinks_bounce_reports(monkeypatch: pytest.MonkeyPatch) -> None:
    local = LocalStackSettings(smtp_sink_port=12525, notifier_inbound_smtp_port=12526)
    assert LocalStackSettings.model_fields["notifier_inbound_smtp_port"].description
    assert LocalStackSettings().notifier_inbound_smtp_port == 2526  # next to the sink's 2525
    sink = _component("smtp-sink").command(local)
    assert sink[sink.index("--dsn-relay") + 1] == "127.0.0.1:12526"
    assert sink[sink.index("--port") + 1] == "12525"
    s = notifier_settings(local, monkeypatch)
    assert (s.inbound_smtp_port, s.smtp_port, s.host) == (12526, 12525, "127.0.0.1")
    assert "12526" in _component("notifier").describe(local) and "12526" in _component("smtp-sink").describe(local)


async def test_a_late_bounce_reaches_the_notifier_with_the_stacks_configuration(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    local = LocalStackSettings(state_dir=tmp_path, smtp_sink_port=free_port(), notifier_inbound_smtp_port=free_port())
    s = notifier_settings(local, monkeypatch).model_copy(update={"callback_match_wait_s": 2.0})
    store, reports = FakeStore(), FakeReports()
    metrics = NotifierMetrics(CollectorRegistry())
    listener = await start_inbound_smtp(s, InboundMail(s, store, reports, metrics, lambda _: None, lambda: NOW))
    assert listener is not None
    command = _component("smtp-sink").command(local)
    assert command[0] == sys.executable
    sink = await asyncio.create_subprocess_exec(*command, stdout=asyncio.subprocess.DEVNULL)
    try:
        await eventually(lambda: smtp_ready(local), timeout=20, what="the sink to greet")
        out = outgoing(Channel.EMAIL, "bounce-later-sanne@example.org", notification_id=NID)
        smtp = EmailAdapter(s)
        sent = await smtp.send(out)
        await smtp.close()
        assert sent.outcome is Outcome.ACCEPTED
        store.sent(out, "smtp", message_id(NID, s.message_id_domain))

        async def bounced() -> bool:
            return bool(reports.changes)

        await eventually(bounced, what="the sink's DSN to reach the notifier's listener")
    finally:
        sink.terminate()
        await sink.wait()
        listener.close()
        await listener.wait_closed()
    [change] = reports.changes
    assert (change.status, change.notification_id, change.contact_invalid) == (NotificationStatus.BOUNCED, NID, True)
    assert counter(metrics, "provider_status", channel="email", status="bounced") == 1
