"""Dashboard: channels (delivery success per channel and provider, fallbacks, bounces, provider latency)."""

from __future__ import annotations

from deploy.grafana.model import (
    SENT,
    Board,
    Panel,
    Query,
    Row,
    quantiles,
    rate,
    ratio,
)

CHANNELS = Board(
    "channels",
    "candidate-comms-channels",
    "Candidate comms / Channels",
    "Delivery success per channel and provider, fallbacks, bounces, provider latency and retries.",
    (
        Row(
            "Delivery",
            (
                Panel(
                    "Delivery success ratio by channel and provider",
                    "Share of send attempts the provider accepted (the rest failed or bounced; 'none': blocked"
                    " before any provider was asked).",
                    (
                        Query(
                            ratio(
                                rate("notifier_deliveries_total", "channel, provider", SENT),
                                rate("notifier_deliveries_total", "channel, provider"),
                            ),
                            "{{channel}} {{provider}}",
                        ),
                    ),
                    "percentunit",
                ),
                Panel(
                    "Deliveries by channel, provider and status",
                    "Every outcome of a send, per provider.",
                    (
                        Query(
                            rate("notifier_deliveries_total", "channel, provider, status"),
                            "{{channel}} {{provider}} {{status}}",
                        ),
                    ),
                    "ops",
                ),
                Panel(
                    "Bounces and failures by channel",
                    "Addresses that do not exist (bounced) and sends that failed for good.",
                    (
                        Query(
                            rate("notifier_deliveries_total", "channel, status", '{status=~"bounced|failed"}'),
                            "{{channel}} {{status}}",
                        ),
                    ),
                    "ops",
                ),
                Panel(
                    "Provider receipts by channel and status",
                    "Status callbacks from the providers (delivered, read, undelivered, ...).",
                    (Query(rate("notifier_provider_callbacks_total", "channel, status"), "{{channel}} {{status}}"),),
                    "ops",
                ),
            ),
        ),
        Row(
            "Fallbacks and providers",
            (
                Panel(
                    "Fallbacks by channel given up and cause",
                    "The router moved a message to the next channel: failed, bounced, or no reply (silence).",
                    (Query(rate("router_fallbacks_total", "channel, cause"), "{{channel}} {{cause}}"),),
                    "ops",
                ),
                Panel(
                    "Provider latency by provider",
                    "Duration of one provider call (SMTP transaction, REST request).",
                    quantiles("notifier_provider_seconds", "provider", "{{provider}}"),
                    "s",
                ),
                Panel(
                    "Retries by channel",
                    "Sends repeated after a transient provider error (429, 5xx, timeouts).",
                    (Query(rate("notifier_retries_total", "channel"), "{{channel}}"),),
                    "ops",
                ),
                Panel(
                    "Stopped at the last mile",
                    "Sends blocked by the consent check right before sending; repeats in the documented crash window;"
                    " provider callbacks refused for a bad signature.",
                    (
                        Query(rate("notifier_blocked_total", "channel"), "blocked {{channel}}"),
                        Query(rate("notifier_window_resends_total", "channel"), "window resend {{channel}}"),
                        Query(rate("notifier_rejected_callbacks_total", "endpoint"), "refused callback {{endpoint}}"),
                    ),
                    "ops",
                ),
            ),
        ),
    ),
)
