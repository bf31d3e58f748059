"""Domain metrics of the router, on an injected registry."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge

from schemas.common import Channel, PurposeClass, Stage
from services.common.metrics import dead_letter_counter, propagation_histogram
from services.router.policy import Planned

# Why a channel was chosen, as a bounded label: the phrase each kind of reason in channels.py uses.
_REASON_KINDS = (
    ("the candidate chose", "stage_override"),
    ("in the candidate's order", "global_order"),
    ("the default channel", "default"),
    ("learned from responses", "affinity"),
    ("next channel that can reach", "next_available"),
)
HOLD_KINDS = ("quiet_hours", "scheduled", "pause", "frequency_cap")
CHOICE_KINDS = (*(kind for _, kind in _REASON_KINDS), "fallback", "urgent")


def reason_kind(p: Planned) -> str:
    """The kind of reason behind a decision (never free text: a label with a handful of values)."""
    if p.reasons and p.reasons[0].startswith("fallback after"):
        return "fallback"
    if p.channel is None:
        return "no_channel"
    if any(r.startswith("urgent:") for r in p.reasons):
        return "urgent"
    for reason in reversed(p.reasons):
        for phrase, kind in _REASON_KINDS:
            if phrase in reason:
                return kind
    return "other"


class RouterMetrics:
    """Counters and gauges the dashboards and alerts read."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.decisions = Counter(
            "router_decisions_total",
            "Routing decisions by channel, purpose class, kind of reason and outcome.",
            ["channel", "purpose", "reason", "state"],
            registry=registry,
        )
        self.stage_decisions = Counter(
            "router_stage_decisions_total",
            "Routing decisions by stage and outcome.",
            ["stage", "state"],
            registry=registry,
        )
        self.holds = Counter("router_holds_total", "Messages held, by kind.", ["kind"], registry=registry)
        self.releases = Counter(
            "router_releases_total", "Held messages released, by kind.", ["kind"], registry=registry
        )
        self.fallbacks = Counter(
            "router_fallbacks_total",
            "Fallbacks to another channel, by the channel given up and the cause (failed, bounced, silence).",
            ["channel", "cause"],
            registry=registry,
        )
        self.needs_recruiter = Counter(
            "router_needs_recruiter_total", "Messages handed to a recruiter.", ["cause"], registry=registry
        )
        self.redecisions = Counter(
            "router_redecisions_total",
            "Pending messages re-decided after a preference change.",
            ["outcome"],
            registry=registry,
        )
        self.stale_events = Counter("router_stale_events_total", "Out-of-order ATS events ignored.", registry=registry)
        self.suppressed = Counter(
            "router_suppressed_events_total",
            "ATS events of erased candidates: nothing decided, `suppressed` published.",
            registry=registry,
        )
        self.snapshot_waits = Counter(
            "router_snapshot_wait_timeouts_total",
            "Batches retried because a candidate's snapshot had not reached the view in time.",
            registry=registry,
        )
        self.dead_letters = dead_letter_counter(registry)
        self.pending = Gauge(
            "router_pending_messages",
            "Held and scheduled messages of the partitions this instance owns, by hold kind.",
            ["kind"],
            registry=registry,
        )
        self.view_candidates = Gauge(
            "router_view_candidates", "Candidates in the in-memory preference view.", registry=registry
        )
        self.view_rebuild_seconds = Gauge(
            "router_view_rebuild_seconds", "Duration of the last view rebuild.", registry=registry
        )
        self.propagation = propagation_histogram(registry)
        self._start_at_zero()

    def _start_at_zero(self) -> None:
        # Known label values start at 0, so rates and alerts see the first increment.
        for purpose in PurposeClass:
            for channel in Channel:
                for reason in CHOICE_KINDS:
                    for state in ("queued", "held"):
                        self.decisions.labels(channel=channel.value, purpose=purpose.value, reason=reason, state=state)
            for reason in ("no_channel", "fallback"):
                self.decisions.labels(channel="none", purpose=purpose.value, reason=reason, state="needs_recruiter")
        for stage in Stage:
            for state in ("queued", "held", "needs_recruiter"):
                self.stage_decisions.labels(stage=stage.value, state=state)
        for kind in HOLD_KINDS:
            self.holds.labels(kind=kind)
            self.releases.labels(kind=kind)
            self.pending.labels(kind=kind)
        for cause in ("no_channel", "silence", "command_gone"):
            self.needs_recruiter.labels(cause=cause)
        for outcome in ("released", "rerouted"):
            self.redecisions.labels(outcome=outcome)
        for channel in Channel:
            for cause in ("failed", "bounced", "silence"):
                self.fallbacks.labels(channel=channel.value, cause=cause)

    def decided(self, p: Planned) -> None:
        """Count one decision (and its hold, if any)."""
        self.decisions.labels(
            channel=p.channel.value if p.channel else "none",
            purpose=p.purpose_class.value,
            reason=reason_kind(p),
            state=p.state.value,
        ).inc()
        self.stage_decisions.labels(stage=p.stage.value, state=p.state.value).inc()
        if p.hold_kind:
            self.holds.labels(kind=p.hold_kind).inc()
        if p.channel is None:
            self.needs_recruiter.labels(cause="no_channel").inc()

    def held_now(self, counts: dict[str, int]) -> None:
        """Set the held-message gauge from a count per hold kind (kinds not counted are 0)."""
        for kind in {*HOLD_KINDS, *counts}:
            self.pending.labels(kind=kind).set(counts.get(kind, 0))

    def dead_letter(self, topic: str, kind: str, count: int = 1) -> None:
        """Count dead letters (0: start the series, so the first one shows in rates)."""
        self.dead_letters.labels(topic=topic, kind=kind).inc(count)
