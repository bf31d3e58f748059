"""Dashboard: pipeline health (throughput, latency, lag, errors, dead letters)."""

from __future__ import annotations

from deploy.grafana.model import (
    Board,
    Panel,
    Query,
    Row,
    or_zero,
    quantiles,
    rate,
    total,
)

RECEIVED = rate("faststream_received_messages_total", "app_name")
PIPELINE = Board(
    "pipeline-health",
    "candidate-comms-pipeline",
    "Candidate comms / Pipeline health",
    "Throughput, latency, consumer lag, errors and dead letters of preference, router, notifier and the connectors.",
    (
        Row(
            "Throughput",
            (
                Panel(
                    "Records consumed per second",
                    "Records each subscriber took from Kafka (FastStream's middleware).",
                    (
                        Query(
                            rate("faststream_received_messages_total", "app_name, handler"), "{{app_name}} {{handler}}"
                        ),
                    ),
                    "ops",
                ),
                Panel(
                    "Records published per second",
                    "Records each service wrote, by destination topic.",
                    (Query(rate("faststream_published_messages_total", "app_name, destination"), "{{destination}}"),),
                    "ops",
                ),
                Panel(
                    "Routing decisions per second",
                    "ATS events turned into decisions, by outcome.",
                    (Query(rate("router_decisions_total", "state"), "{{state}}"),),
                    "ops",
                ),
                Panel(
                    "Deliveries per second",
                    "Messages handed to a provider, by result.",
                    (Query(rate("notifier_deliveries_total", "status"), "{{status}}"),),
                    "ops",
                ),
            ),
        ),
        Row(
            "Latency",
            (
                Panel(
                    "End to end: ATS event to provider accepted",
                    "From the ATS event's time to the provider's acceptance (held messages excluded by nature).",
                    quantiles("notifier_end_to_end_seconds", "job", ""),
                    "s",
                ),
                Panel(
                    "Preference propagation: stored to applied in a view",
                    "A change acknowledged by the preference API, until the router's and notifier's views apply it.",
                    quantiles("preference_propagation_seconds", "service", "{{service}}"),
                    "s",
                ),
                Panel(
                    "Handler time per batch",
                    "Time a subscriber spends on one batch (decode, store, publish, commit).",
                    quantiles("faststream_received_processed_messages_duration_seconds", "app_name", "{{app_name}}"),
                    "s",
                ),
                Panel(
                    "Preference store and publish time",
                    "Store a change and get the broker's acknowledgement of its snapshot.",
                    quantiles("preference_publish_seconds", "job", ""),
                    "s",
                ),
            ),
        ),
        Row(
            "Lag, errors and dead letters",
            (
                Panel(
                    "Consumer lag by group",
                    "Records not yet processed per consumer group (max over the instances reporting it).",
                    (Query("sum by (group) (max by (group, topic, partition) (kafka_consumer_lag))", "{{group}}"),),
                ),
                Panel(
                    "Consumer lag by partition",
                    "Where the lag sits: one slow partition is one hot candidate key or one stuck instance.",
                    (
                        Query(
                            "max by (group, topic, partition) (kafka_consumer_lag)", "{{group}} {{topic}}/{{partition}}"
                        ),
                    ),
                ),
                Panel(
                    "Stalled consumer groups",
                    "1 while a partition of the group has records waiting and no commit for the stall time "
                    "(*_STALL_AFTER_S); the owning instance's /ready is 503 (stalled:<group>).",
                    (Query("max by (group) (consumer_stalled)", "{{group}}"),),
                ),
                Panel(
                    "Handlers backing off after transient failures",
                    "Handlers retrying because a dependency is unreachable (never dead-lettered; /ready 503, inputs), "
                    "and their failed batches per second.",
                    (
                        Query("max by (handler) (consumer_backing_off)", "backing off {{handler}}"),
                        Query(rate("consumer_transient_failures_total", "handler"), "failed batches {{handler}}"),
                    ),
                ),
                Panel(
                    "Handler errors per second",
                    "Batches that raised (they are retried: database or broker trouble, not bad input).",
                    (
                        Query(
                            or_zero(
                                rate("faststream_received_processed_messages_exceptions_total", "app_name"), RECEIVED
                            ),
                            "handler {{app_name}}",
                        ),
                        Query(
                            or_zero(
                                rate("faststream_published_messages_total", "app_name", '{status="error"}'), RECEIVED
                            ),
                            "publish {{app_name}}",
                        ),
                    ),
                    "ops",
                ),
                Panel(
                    "Dead letters per second by topic and kind",
                    "Bad input set aside in <topic>.dlq (inspect and redrive with services.common.dlq_cli).",
                    (Query(rate("dlq_records_total", "topic, kind"), "{{topic}} {{kind}}"),),
                    "ops",
                ),
                Panel(
                    "Dead letters in range",
                    "Dead letters written during the selected time range.",
                    (Query(total("dlq_records_total", "topic, kind"), "{{topic}} {{kind}}"),),
                    kind="bargauge",
                ),
                Panel(
                    "Preference view restarts and bad snapshot records",
                    "View readers restarted after a failure, and records of preferences.changed they dead-lettered "
                    "(once per process: compaction keeps a bad record), in the selected range.",
                    (
                        Query(total("preference_view_restarts_total", "service"), "restarts {{service}}"),
                        Query(
                            total("dlq_records_total", "kind", '{topic=~".*preferences.changed"}'),
                            "dead-lettered {{kind}}",
                        ),
                    ),
                    kind="bargauge",
                ),
                Panel(
                    "Outbox backlog and held messages",
                    "Preference changes stored but not yet on the topic; messages the router holds for later.",
                    (
                        Query("max(preference_outbox_backlog)", "outbox backlog"),
                        Query("sum by (kind) (router_pending_messages)", "held: {{kind}}"),
                    ),
                ),
            ),
        ),
        Row(
            "Connectors (ATS webhooks in, notes out)",
            (
                Panel(
                    "Webhooks by connection and outcome",
                    "Deliveries to /v1/webhooks/<connection>: accepted (on ats.events), duplicate, ping, ignored "
                    "(an event type we do not map), rejected, failed (answered 503: the ATS redelivers).",
                    (Query(rate("connector_webhooks_total", "connection, outcome"), "{{connection}} {{outcome}}"),),
                    "ops",
                ),
                Panel(
                    "Rejected webhooks by reason",
                    "Refused before or while parsing: signature, replay, size, payload, unmapped stage.",
                    (
                        Query(
                            total("connector_webhooks_rejected_total", "connection, reason"),
                            "{{connection}} {{reason}}",
                        ),
                    ),
                    kind="bargauge",
                ),
                Panel(
                    "Connector errors by connection and kind",
                    "Failures kept in connector_errors for a person: fetch_failed, unmapped_stage, invalid_event, "
                    "writeback_failed (alert ConnectorErrors).",
                    (Query(total("connector_errors_total", "connection, kind"), "{{connection}} {{kind}}"),),
                    kind="bargauge",
                ),
                Panel(
                    "Notes written back and ATS API calls",
                    "Notes the ATSs accepted (duplicates: states already written), and REST calls by outcome "
                    "(retried: 5xx, 429 or network, with backoff).",
                    (
                        Query(rate("connector_notes_total", "connection, outcome"), "notes {{connection}} {{outcome}}"),
                        Query(
                            rate("connector_api_calls_total", "connection, outcome"), "API {{connection}} {{outcome}}"
                        ),
                    ),
                    "ops",
                ),
            ),
        ),
    ),
)
