"""Metrics more than one service exports under the same name (one definition, so dashboards agree)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Histogram


def dead_letter_counter(registry: CollectorRegistry) -> Counter:
    """dlq_records_total{topic, kind}: records sent to a dead-letter topic."""
    return Counter("dlq_records_total", "Records sent to a dead-letter topic.", ["topic", "kind"], registry=registry)


def propagation_histogram(registry: CollectorRegistry) -> Histogram:
    """preference_propagation_seconds{service}: preference stored -> applied in this service's view."""
    return Histogram(
        "preference_propagation_seconds",
        "Preference stored -> applied in this service's view.",
        ["service"],
        buckets=(0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.5, 1, 5),
        registry=registry,
    )
