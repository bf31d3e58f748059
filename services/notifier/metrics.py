"""Domain metrics of the notifier, on an injected registry."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Histogram

from schemas.common import Channel
from services.common.metrics import dead_letter_counter, propagation_histogram

_LATENCY = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


class NotifierMetrics:
    """Counters and histograms the dashboards and alerts read."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.deliveries = Counter(
            "notifier_deliveries_total",
            "Send outcomes by channel, provider and status.",
            ["channel", "provider", "status"],
            registry=registry,
        )
        self.provider_status = Counter(
            "notifier_provider_callbacks_total",
            "Provider receipts by channel and status.",
            ["channel", "status"],
            registry=registry,
        )
        self.rejected_callbacks = Counter(
            "notifier_rejected_callbacks_total",
            "Provider callbacks refused (bad or missing signature).",
            ["endpoint"],
            registry=registry,
        )
        self.retries = Counter(
            "notifier_retries_total", "Retries after transient provider errors.", ["channel"], registry=registry
        )
        self.blocked = Counter(
            "notifier_blocked_total", "Sends stopped by the last-mile consent check.", ["channel"], registry=registry
        )
        self.unexpected_errors = Counter(
            "notifier_unexpected_send_errors_total",
            "Messages that raised an unexpected error while being sent; each ended failed, its batch went on.",
            ["channel"],
            registry=registry,
        )
        self.window_resends = Counter(
            "notifier_window_resends_total",
            "Sends repeated after a crash between provider acceptance and our record (the documented window).",
            ["channel"],
            registry=registry,
        )
        self.replies = Counter(
            "notifier_inbound_replies_total", "Candidate replies received.", ["channel"], registry=registry
        )
        self.dead_letters = dead_letter_counter(registry)
        self.provider_latency = Histogram(
            "notifier_provider_seconds", "Provider call duration.", ["provider"], buckets=_LATENCY, registry=registry
        )
        self.end_to_end = Histogram(
            "notifier_end_to_end_seconds", "ATS event time -> provider accepted.", buckets=_LATENCY, registry=registry
        )
        self.propagation = propagation_histogram(registry)
        # Every channel starts at 0, so rates and alerts see the first increment.
        for channel in Channel:
            for counter in (self.retries, self.blocked, self.window_resends, self.replies):
                counter.labels(channel=channel.value)
        for endpoint in ("status", "voice-status", "inbound"):
            self.rejected_callbacks.labels(endpoint=endpoint)

    def dead_letter(self, topic: str, kind: str, count: int = 1) -> None:
        """Count dead letters (0: start the series, so the first one shows in rates)."""
        self.dead_letters.labels(topic=topic, kind=kind).inc(count)
