"""Domain metrics of the preference service, on an injected registry."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from schemas.common import ChangeSource, Channel, ConsentState, PurposeClass
from schemas.preferences import PreferenceSnapshot
from services.common.metrics import dead_letter_counter
from services.preference.replies import Kind


class PreferenceMetrics:
    """Counters and histograms the dashboards and alerts read."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.changes = Counter(
            "preference_changes_total", "Stored preference versions by source.", ["source"], registry=registry
        )
        self.revocations = Counter(
            "preference_consent_revocations_total",
            "Consent revocations by channel and purpose class (every source: page, API, reply, unsubscribe).",
            ["channel", "purpose"],
            registry=registry,
        )
        self.dead_letters = dead_letter_counter(registry)
        self.renewals = Counter(
            "preference_suppressions_lifted_total",
            "Erased candidates who came back with a new application and renewed consent (the way back).",
            registry=registry,
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
        # Known label values start at 0, so rates and alerts see the first increment.
        for channel in Channel:
            for purpose in PurposeClass:
                self.revocations.labels(channel=channel.value, purpose=purpose.value)
        for source in ChangeSource:
            self.changes.labels(source=source.value)
        for intent in Kind:  # a reply with one intent (several are counted joined: "avoid,prefer")
            self.reply_intents.labels(intent=intent.value)

    def consent_changed(self, before: PreferenceSnapshot, after: PreferenceSnapshot) -> None:
        """Count every channel and purpose whose consent became revoked in a new version."""
        for channel in Channel:
            for purpose in PurposeClass:
                now_revoked = after.consent_for(channel, purpose).state is ConsentState.REVOKED
                if now_revoked and before.consent_for(channel, purpose).state is not ConsentState.REVOKED:
                    self.revocations.labels(channel=channel.value, purpose=purpose.value).inc()

    def dead_letter(self, topic: str, kind: str, count: int = 1) -> None:
        """Count dead letters (0: start the series, so the first one shows in rates)."""
        self.dead_letters.labels(topic=topic, kind=kind).inc(count)
