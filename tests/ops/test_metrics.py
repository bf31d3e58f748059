"""Domain metrics: bounded reason kinds, counters that start at zero, the held-message gauge, revocations."""

from __future__ import annotations

import re
from dataclasses import replace
from datetime import UTC, datetime

from prometheus_client import CollectorRegistry

from schemas.common import ChangeSource, Channel, ConsentState, Stage
from schemas.defaults import default_snapshot
from schemas.preferences import ChannelConsent, ConsentRecord
from services.common.kafka import DECODE_ERROR_KINDS, DeadLetters
from services.common.lag import lag_of
from services.notifier.metrics import NotifierMetrics
from services.preference.metrics import PreferenceMetrics
from services.router.metrics import CHOICE_KINDS, RouterMetrics, reason_kind
from services.router.policy import Planned, Recent, RoutingConfig, plan_event
from services.router.prefs import RoutingPrefs
from tests.ops.dashboards import ROOT
from tests.router.builders import event, prefs

NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)


def planned(p: RoutingPrefs) -> Planned:
    return plan_event(event("ats.application.received"), p, NOW, RoutingConfig(), Recent()).messages[0]


def test_every_kind_of_channel_choice_gets_its_own_bounded_label() -> None:
    sms = (Channel.SMS,)
    cases = {
        "default": prefs(),
        "global_order": prefs(explicit=True),
        "stage_override": prefs(overrides={Stage.APPLICATION: sms}, granted=sms),
        "affinity": prefs(affinity={Channel.SMS: 0.9}, granted=sms),
        "next_available": prefs(invalid=(Channel.EMAIL,), granted=sms),
        "no_channel": prefs(invalid=(Channel.EMAIL,)),
    }
    for kind, p in cases.items():
        assert reason_kind(planned(p)) == kind, planned(p).reasons
    base = planned(prefs())
    assert reason_kind(replace(base, reasons=("fallback after bounced on email: 550", *base.reasons))) == "fallback"
    assert reason_kind(replace(base, reasons=(*base.reasons, "urgent: sent now by e-mail because ..."))) == "urgent"
    assert set(cases) - {"no_channel"} <= set(CHOICE_KINDS)


def sample(registry: CollectorRegistry, name: str, **labels: str) -> float | None:
    return registry.get_sample_value(name, labels)


def test_router_counters_start_at_zero_and_count_decisions_and_holds() -> None:
    registry = CollectorRegistry()
    metrics = RouterMetrics(registry)
    labels = {"channel": "sms", "purpose": "application", "reason": "stage_override", "state": "held"}
    assert sample(registry, "router_decisions_total", **labels) == 0
    assert sample(registry, "router_holds_total", kind="quiet_hours") == 0
    assert sample(registry, "router_fallbacks_total", channel="email", cause="bounced") == 0
    night = prefs(overrides={Stage.APPLICATION: (Channel.SMS,)}, granted=(Channel.SMS,), timezone="Etc/GMT+10")
    held = planned(night)  # 02:00 there
    assert held.hold_kind == "quiet_hours"
    metrics.decided(held)
    assert sample(registry, "router_decisions_total", **labels) == 1
    assert sample(registry, "router_stage_decisions_total", stage="application", state="held") == 1
    assert sample(registry, "router_holds_total", kind="quiet_hours") == 1


def test_the_held_gauge_is_set_per_kind_and_zero_for_kinds_not_counted() -> None:
    registry = CollectorRegistry()
    metrics = RouterMetrics(registry)
    metrics.held_now({"quiet_hours": 3, "scheduled": 2})
    metrics.held_now({"scheduled": 1})
    assert sample(registry, "router_pending_messages", kind="quiet_hours") == 0
    assert sample(registry, "router_pending_messages", kind="scheduled") == 1


def consent(snapshot_prefs: dict[Channel, ConsentState]) -> dict[Channel, ChannelConsent]:
    return {
        ch: ChannelConsent(application=ConsentRecord(state=st, source=ChangeSource.REPLY, at=NOW))
        for ch, st in snapshot_prefs.items()
    }


def test_revocations_count_transitions_from_any_source_once() -> None:
    registry = CollectorRegistry()
    metrics = PreferenceMetrics(registry)
    candidate = event("ats.application.received").data.candidate
    granted = consent({Channel.SMS: ConsentState.GRANTED})
    before = default_snapshot(candidate, NOW).model_copy(update={"consent": granted})
    after = before.model_copy(update={"consent": consent({Channel.SMS: ConsentState.REVOKED})})
    metrics.consent_changed(before, after)
    metrics.consent_changed(after, after)  # no transition: nothing counted
    assert sample(registry, "preference_consent_revocations_total", channel="sms", purpose="application") == 1
    assert sample(registry, "preference_consent_revocations_total", channel="email", purpose="application") == 0


def test_dead_letter_counts_start_at_zero_for_every_kind_the_decoder_knows() -> None:
    source = (ROOT / "schemas/envelope.py").read_text()
    assert set(re.findall(r'DecodeError\("(\w+)"', source)) == set(DECODE_ERROR_KINDS)
    registry = CollectorRegistry()
    metrics = NotifierMetrics(registry)
    DeadLetters(None, "notifier", metrics.dead_letter).expect(["dispatch.email"])  # type: ignore[arg-type]
    for kind in DECODE_ERROR_KINDS:
        assert sample(registry, "dlq_records_total", topic="dispatch.email", kind=kind) == 0
    assert sample(registry, "notifier_retries_total", channel="whatsapp") == 0
    assert sample(registry, "notifier_rejected_callbacks_total", endpoint="inbound") == 0


def test_lag_counts_from_the_committed_offset_or_the_log_start() -> None:
    assert lag_of(end=10, committed=4, beginning=0) == 6
    assert lag_of(end=10, committed=None, beginning=3) == 7
    assert lag_of(end=10, committed=-1, beginning=3) == 7
    assert lag_of(end=10, committed=12, beginning=0) == 0
