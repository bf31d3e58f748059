"""Domain metrics of the connectors, on an injected registry (labels are bounded: connection names and codes)."""

from __future__ import annotations

from collections.abc import Iterable

from prometheus_client import CollectorRegistry, Counter, Histogram

from services.common.metrics import dead_letter_counter

WEBHOOK_OUTCOMES = ("accepted", "duplicate", "ping", "ignored", "rejected", "failed")
REJECT_REASONS = (
    "unknown_connection",
    "missing_signature",
    "bad_signature",
    "replayed",
    "too_large",
    "invalid_payload",
    "unmapped_stage",
    "invalid_event",
)
ERROR_KINDS = ("fetch_failed", "unmapped_stage", "writeback_failed", "invalid_event")


class ConnectorMetrics:
    """Counters the dashboards and the ConnectorErrors alert read."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.webhooks = Counter(
            "connector_webhooks",
            "Webhook deliveries by connection and outcome.",
            ["connection", "outcome"],
            registry=registry,
        )
        self.rejected = Counter(
            "connector_webhooks_rejected",
            "Webhook deliveries refused (signature, replay, size, payload, stage), by reason.",
            ["connection", "reason"],
            registry=registry,
        )
        self.cloudevents = Counter(
            "connector_cloudevents_requests", "POST /v1/events requests by outcome.", ["outcome"], registry=registry
        )
        self.produced = Counter(
            "connector_events_produced", "Events put on ats.events, by entry.", ["entry"], registry=registry
        )
        self.api_calls = Counter(
            "connector_api_calls",
            "REST calls to an ATS by connection and outcome.",
            ["connection", "outcome"],
            registry=registry,
        )
        self.errors = Counter(
            "connector_errors",
            "Failures recorded for an operator (fetch, write-back, unmapped stage), by kind.",
            ["connection", "kind"],
            registry=registry,
        )
        self.notes = Counter(
            "connector_notes",
            "Notes written back to an ATS, and status changes already written.",
            ["connection", "outcome"],
            registry=registry,
        )
        self.intake_seconds = Histogram(
            "connector_intake_seconds",
            "Webhook or CloudEvents request received -> on ats.events (acks=all).",
            ["entry"],
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
            registry=registry,
        )
        self.dead_letters = dead_letter_counter(registry)

    def dead_letter(self, topic: str, kind: str, count: int = 1) -> None:
        """Count dead letters (0: start the series, so the first one shows in rates)."""
        self.dead_letters.labels(topic=topic, kind=kind).inc(count)

    def expect(self, connections: Iterable[str]) -> None:
        """Report zero for every label a dashboard or alert reads, so a first failure shows in rates."""
        for outcome in ("accepted", "invalid", "failed"):
            self.cloudevents.labels(outcome)
        for entry in ("webhook", "cloudevents"):
            self.produced.labels(entry)
        for conn in connections:
            for outcome in WEBHOOK_OUTCOMES:
                self.webhooks.labels(conn, outcome)
            for reason in REJECT_REASONS:
                self.rejected.labels(conn, reason)
            for kind in ERROR_KINDS:
                self.errors.labels(conn, kind)
            for outcome in ("written", "duplicate"):
                self.notes.labels(conn, outcome)
            for outcome in ("ok", "retried", "failed", "rejected"):
                self.api_calls.labels(conn, outcome)
