"""Domain metrics of the router, on an injected registry."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from services.router.policy import Planned


class RouterMetrics:
    """Counters and gauges the dashboards and alerts read."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.decisions = Counter(
            "router_decisions_total",
            "Routing decisions by channel, stage and outcome.",
            ["channel", "stage", "state"],
            registry=registry,
        )
        self.holds = Counter("router_holds_total", "Messages held, by kind.", ["kind"], registry=registry)
        self.releases = Counter(
            "router_releases_total", "Held messages released, by kind.", ["kind"], registry=registry
        )
        self.fallbacks = Counter(
            "router_fallbacks_total", "Fallbacks to another channel, by cause.", ["cause"], registry=registry
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
        self.dead_letters = Counter(
            "dlq_records_total", "Records sent to a dead-letter topic.", ["topic", "kind"], registry=registry
        )
        self.pending = Gauge(
            "router_pending_messages", "Held and scheduled messages of this instance's candidates.", registry=registry
        )
        self.view_candidates = Gauge(
            "router_view_candidates", "Candidates in the in-memory preference view.", registry=registry
        )
        self.view_rebuild_seconds = Gauge(
            "router_view_rebuild_seconds", "Duration of the last view rebuild.", registry=registry
        )
        self.propagation = Histogram(
            "preference_propagation_seconds",
            "Preference stored -> applied in this service's view.",
            ["service"],
            buckets=(0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.5, 1, 5),
            registry=registry,
        )

    def decided(self, p: Planned) -> None:
        """Count one decision (and its hold, if any)."""
        self.decisions.labels(
            channel=p.channel.value if p.channel else "none", stage=p.stage.value, state=p.state.value
        ).inc()
        if p.hold_kind:
            self.holds.labels(kind=p.hold_kind).inc()
        if p.channel is None:
            self.needs_recruiter.labels(cause="no_channel").inc()

    def dead_letter(self, topic: str, kind: str) -> None:
        """Count one dead letter."""
        self.dead_letters.labels(topic=topic, kind=kind).inc()
