"""One message that raises does not hold the others of its batch hostage, and an erased candidate is suppressed."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from types import SimpleNamespace
from typing import Any

import pytest
from prometheus_client import CollectorRegistry

from schemas.common import Channel, NotificationStatus, Stage
from schemas.dispatch import DeliverMessage, DeliverMessageCommand, MessageContext
from services.notifier.channels.base import Outcome, Outgoing, SendResult
from services.notifier.delivery import Delivery, ViewBehindError
from services.notifier.metrics import NotifierMetrics
from services.notifier.reach import Reach
from services.notifier.rendering import Renderer
from services.notifier.settings import NotifierSettings
from services.notifier.store import SendRecord

NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)


class Store:
    """The part of the notifier store a delivery uses, in memory."""

    def __init__(self) -> None:
        self.finished: list[SendRecord] = []

    async def claim(self, records: list[SendRecord], now: datetime) -> dict[str, SendRecord]:
        return {}

    async def finish(self, records: list[SendRecord], contents: dict[str, Any], now: datetime) -> None:
        self.finished.extend(records)


class Reports:
    """Records the states a delivery reports."""

    def __init__(self) -> None:
        self.states: dict[str, tuple[NotificationStatus, str]] = {}

    def wave(self) -> Reports:
        return self

    async def state(self, msg: DeliverMessage, status: NotificationStatus, reason: str, *_: Any, **__: Any) -> None:
        self.states[msg.notification_id] = (status, reason)

    async def flush(self) -> None:
        return None


class Adapter:
    """Accepts every message but one, on which it raises an error nobody planned for."""

    provider = "test"

    async def send(self, out: Outgoing) -> SendResult:
        if out.msg.notification_id == "boom":
            raise RuntimeError("a bug in an adapter")
        return SendResult(Outcome.ACCEPTED, self.provider, "ref-1")

    async def close(self) -> None:
        return None


def command(nid: str, cid: str) -> tuple[Any, DeliverMessageCommand]:
    msg = DeliverMessage(
        notification_id=nid,
        ats_event_id=f"ev-{nid}",
        candidate_id=cid,
        channel=Channel.EMAIL,
        stage=Stage.APPLICATION,
        template="stage_update",
        language="nl",
        context=MessageContext(candidate_name="Sanne", job_title="Data engineer"),
        event_time=NOW,
        decided_at=NOW,
        preference_version=1,
    )
    return SimpleNamespace(partition=0, offset=7), DeliverMessageCommand(id=nid, time=NOW, subject=cid, data=msg)


def reach(cid: str) -> Reach | None:
    if cid == "erased":
        return None
    return Reach(1, 0, 0b1, f"{cid}@example.org", None, None, None, "Sanne", "nl", True)


async def barrier(_: set[str]) -> bool:
    return True


def _delivery(
    adapter: Adapter,
    store: Store,
    barrier: Callable[[set[str]], Awaitable[bool]],
    reports: Reports,
    registry: CollectorRegistry,
) -> Delivery:
    """The e-mail delivery over these parts, at NOW."""
    return Delivery(
        NotifierSettings(),
        Channel.EMAIL,
        adapter,  # type: ignore[arg-type]
        store,  # type: ignore[arg-type]
        reach,
        barrier,
        Renderer(),
        reports,  # type: ignore[arg-type]
        NotifierMetrics(registry),
        lambda: NOW,
    )


async def test_a_message_that_raises_fails_alone_and_an_erased_candidate_is_suppressed() -> None:
    store, reports = Store(), Reports()
    registry = CollectorRegistry()
    delivery = _delivery(Adapter(), store, barrier, reports, registry)
    await delivery.on_dispatch([command("boom", "c1"), command("fine", "c2"), command("late", "erased")])

    assert reports.states["fine"][0] is NotificationStatus.SENT
    assert reports.states["boom"] == (NotificationStatus.FAILED, "unexpected error while sending (RuntimeError)")
    status, reason = reports.states["late"]
    assert status is NotificationStatus.SUPPRESSED and "erased" in reason
    assert {r.notification_id: r.state for r in store.finished} == {
        "boom": "failed",
        "fine": "sent",
        "late": "suppressed",
    }
    assert registry.get_sample_value("notifier_unexpected_send_errors_total", {"channel": "email"}) == 1


class ClaimingStore(Store):
    """Claims as the real store does: the first claim of an id wins, later ones see it."""

    def __init__(self, left_by_a_crash: set[str], channel: str = "email") -> None:
        super().__init__()
        self.claims = {nid: SendRecord(nid, "claimed", channel, "c0") for nid in left_by_a_crash}

    async def claim(self, records: list[SendRecord], now: datetime) -> dict[str, SendRecord]:
        existing = {
            r.notification_id: self.claims[r.notification_id] for r in records if r.notification_id in self.claims
        }
        self.claims.update({r.notification_id: r for r in records if r.notification_id not in existing})
        return existing


class Sends(Adapter):
    """Counts what reaches the provider."""

    def __init__(self) -> None:
        self.sent: list[str] = []

    async def send(self, out: Outgoing) -> SendResult:
        self.sent.append(out.msg.notification_id)
        return await super().send(out)


async def test_claims_made_while_the_view_was_behind_are_no_resends_on_the_retry() -> None:
    store, reports, adapter, registry = ClaimingStore({"crashed"}), Reports(), Sends(), CollectorRegistry()
    behind = [True]

    async def barrier_behind_once(_: set[str]) -> bool:
        return not behind.pop() if behind else True

    delivery = _delivery(adapter, store, barrier_behind_once, reports, registry)
    batch = [command("new", "c1"), command("crashed", "c2")]
    with pytest.raises(ViewBehindError):  # transient: the consumer backs off and redelivers the batch
        await delivery.on_dispatch(batch)
    assert adapter.sent == [] and set(store.claims) == {"new", "crashed"}

    await delivery.on_dispatch(batch)

    assert sorted(adapter.sent) == ["crashed", "new"]
    # Only the claim a crash left is the provider window; the one made while the view was behind is not.
    assert registry.get_sample_value("notifier_window_resends_total", {"channel": "email"}) == 1


async def test_a_message_claimed_on_another_channel_is_not_sent_again_on_this_one() -> None:
    # The router crashed after dispatching "moved" by SMS and decided it again, now by e-mail (the candidate
    # changed their order meanwhile): one notification id, so the SMS reader's claim keeps it to one send.
    store, reports, adapter = ClaimingStore({"moved"}, channel="sms"), Reports(), Sends()
    registry = CollectorRegistry()
    delivery = _delivery(adapter, store, barrier, reports, registry)

    await delivery.on_dispatch([command("moved", "c1"), command("new", "c2")])

    assert adapter.sent == ["new"]
    assert "moved" not in reports.states and store.claims["moved"].channel == "sms"
    assert not registry.get_sample_value("notifier_window_resends_total", {"channel": "email"})
