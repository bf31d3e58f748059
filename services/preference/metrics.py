"""Domain metrics of the preference service, on an injected registry."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram


class PreferenceMetrics:
    """Counters and histograms the dashboards and alerts read."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.changes = Counter(
            "preference_changes_total", "Stored preference versions by source.", ["source"], registry=registry
        )
        self.revocations = Counter(
            "preference_consent_revocations_total", "Consent revocations by channel.", ["channel"], registry=registry
        )
        self.dead_letters = Counter(
            "dlq_records_total", "Records sent to a dead-letter topic.", ["topic", "kind"], registry=registry
        )
        self.suppressed = Counter(
            "preference_suppressed_events_total", "ATS events for erased candidates not recreated.", registry=registry
        )
        self.publish_seconds = Histogram(
            "preference_publish_seconds",
            "Store + publish time of a change until the snapshot is on the topic.",
            buckets=(0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 1.0),
            registry=registry,
        )
        self.republished = Counter(
            "preference_republished_total",
            "Snapshots published again (relay or reordering).",
            ["cause"],
            registry=registry,
        )
        self.retention_erasures = Counter(
            "preference_retention_erasures_total", "Candidates erased by the retention job.", registry=registry
        )
        self.reply_intents = Counter(
            "preference_reply_intents_total", "Candidate replies by recognised intent.", ["intent"], registry=registry
        )
        self.outbox_backlog = Gauge(
            "preference_outbox_backlog", "Changes stored but not yet confirmed on the topic.", registry=registry
        )

    def dead_letter(self, topic: str, kind: str) -> None:
        """Count one dead letter."""
        self.dead_letters.labels(topic=topic, kind=kind).inc()
