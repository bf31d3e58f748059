"""Kafka plumbing shared by the services: broker factory, security, topic creation, dead letters."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import ssl
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from typing import Any, Protocol

from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import TopicAlreadyExistsError
from faststream.kafka import KafkaBroker
from faststream.kafka.opentelemetry import KafkaTelemetryMiddleware
from faststream.kafka.prometheus import KafkaPrometheusMiddleware
from faststream.security import BaseSecurity, SASLPlaintext, SASLScram256, SASLScram512
from opentelemetry.trace import TracerProvider
from prometheus_client import CollectorRegistry

from schemas.envelope import DecodeError
from schemas.partitioning import partition_for
from schemas.topics import TOPICS, TOPICS_BY_NAME, TopicSpec, dlq_topic
from services.common.failures import PROCESSING_FAILED
from services.common.guard import InputGuard
from services.common.settings import KafkaSettings
from services.common.tracing import tracer_provider

log = logging.getLogger(__name__)

# Header names of a dead letter. Values never contain input data, only classifications.
DLQ_ERROR_KIND = "dlq.error.kind"
DLQ_ERROR_REASON = "dlq.error.reason"
DLQ_ORIGINAL_TOPIC = "dlq.original.topic"
DLQ_ORIGINAL_PARTITION = "dlq.original.partition"
DLQ_ORIGINAL_OFFSET = "dlq.original.offset"
DLQ_CONSUMER = "dlq.consumer"
DLQ_FAILED_AT = "dlq.failed_at"
# Every kind of DecodeError (schemas/envelope.py): dead-letter counts of each start at zero.
DECODE_ERROR_KINDS = (
    "missing_value",
    "payload_too_large",
    "malformed_json",
    "invalid_envelope",
    "unknown_type",
    "invalid_data",
)


class Record(Protocol):
    """What a consumed Kafka record offers (aiokafka's ConsumerRecord satisfies it)."""

    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None
    headers: Sequence[tuple[str, bytes]]


def _ssl_context(k: KafkaSettings) -> ssl.SSLContext | None:
    if k.security_protocol not in ("SSL", "SASL_SSL"):
        return None
    return ssl.create_default_context(cafile=k.ssl_cafile)


def faststream_security(k: KafkaSettings) -> BaseSecurity | None:
    """FastStream's security object for the configured protocol (None for PLAINTEXT)."""
    ctx = _ssl_context(k)
    if k.security_protocol in ("SASL_PLAINTEXT", "SASL_SSL"):
        user = k.sasl_username or ""
        password = k.sasl_password.get_secret_value() if k.sasl_password else ""
        use_ssl = k.security_protocol == "SASL_SSL"
        cls = {"PLAIN": SASLPlaintext, "SCRAM-SHA-256": SASLScram256, "SCRAM-SHA-512": SASLScram512}[
            k.sasl_mechanism or "SCRAM-SHA-512"
        ]
        return cls(user, password, ssl_context=ctx, use_ssl=use_ssl)
    if k.security_protocol == "SSL":
        return BaseSecurity(ssl_context=ctx, use_ssl=True)
    return None


def aiokafka_kwargs(k: KafkaSettings) -> dict[str, Any]:
    """Connection keyword arguments for clients built on aiokafka directly."""
    kwargs: dict[str, Any] = {"bootstrap_servers": k.bootstrap_servers, "security_protocol": k.security_protocol}
    ctx = _ssl_context(k)
    if ctx is not None:
        kwargs["ssl_context"] = ctx
    if k.security_protocol.startswith("SASL"):
        kwargs["sasl_mechanism"] = k.sasl_mechanism or "SCRAM-SHA-512"
        kwargs["sasl_plain_username"] = k.sasl_username
        kwargs["sasl_plain_password"] = k.sasl_password.get_secret_value() if k.sasl_password else None
    return kwargs


def make_broker(
    k: KafkaSettings, registry: CollectorRegistry, app_name: str, tracing: TracerProvider | None = None
) -> KafkaBroker:
    """A FastStream broker with Prometheus transport metrics on the given registry (and spans if k.tracing)."""
    middlewares: list[Any] = [KafkaPrometheusMiddleware(registry=registry, app_name=app_name)]
    if k.tracing:
        # Outermost, so a span covers the metrics middleware and the handler.
        middlewares.insert(0, KafkaTelemetryMiddleware(tracer_provider=tracing or tracer_provider(app_name)))
    return KafkaBroker(
        k.bootstrap_servers,
        security=faststream_security(k),
        client_id=app_name,
        acks="all",
        enable_idempotence=True,
        linger_ms=k.linger_ms,
        max_request_size=2 * 1024 * 1024,
        allow_auto_create_topics=False,
        middlewares=tuple(middlewares),
        log_level=logging.DEBUG,
    )


async def _wait_for_leaders(admin: AIOKafkaAdminClient, names: list[str], timeout_s: float = 15.0) -> None:
    """New topics are usable once every partition has a leader; before that produce/fetch fail."""
    deadline = asyncio.get_running_loop().time() + timeout_s
    while True:
        described = await admin.describe_topics(names)
        if all(
            t["error_code"] == 0 and t["partitions"] and all(p["leader"] >= 0 for p in t["partitions"])
            for t in described
        ):
            return
        if asyncio.get_running_loop().time() > deadline:
            raise RuntimeError(f"topics without leaders after {timeout_s:.0f}s: {names}")
        await asyncio.sleep(0.05)


async def delete_prefixed_topics(k: KafkaSettings) -> int:
    """Delete every topic under this settings' prefix (tests and benchmarks clean up after themselves)."""
    if not k.topic_prefix:
        raise ValueError("refusing to delete the unprefixed production topics")
    admin = AIOKafkaAdminClient(**aiokafka_kwargs(k), request_timeout_ms=15000)
    await admin.start()
    try:
        names = [t for t in await admin.list_topics() if t.startswith(k.topic_prefix)]
        if names:
            await admin.delete_topics(names, timeout_ms=15000)
        return len(names)
    finally:
        await admin.close()


async def create_topics(k: KafkaSettings, specs: Iterable[TopicSpec] = TOPICS) -> list[str]:
    """Create the contract's topics (idempotent); return the names created now."""
    admin = AIOKafkaAdminClient(**aiokafka_kwargs(k), request_timeout_ms=15000)
    await admin.start()
    try:
        existing = set(await admin.list_topics())
        wanted = [s for s in specs if k.topic(s.name) not in existing]
        if not wanted:
            return []
        new = [
            NewTopic(
                name=k.topic(s.name),
                num_partitions=k.partitions,
                replication_factor=k.replication_factor,
                topic_configs=s.kafka_config(),
            )
            for s in wanted
        ]
        with contextlib.suppress(TopicAlreadyExistsError):  # created concurrently by another instance
            await admin.create_topics(new, timeout_ms=15000)
        await _wait_for_leaders(admin, [t.name for t in new])
        return [t.name for t in new]
    finally:
        await admin.close()


class Partitioner:
    """Partitions of candidate-keyed topics by the project's rule, for the partition count they share.

    Every internal, candidate-keyed record is written with an explicit partition from this, so no
    reader depends on which client (and which default partitioner) wrote it.
    """

    def __init__(self, count: int = 0) -> None:
        self.count = count

    def of(self, candidate_id: str) -> int:
        """The partition of a candidate."""
        if not self.count:
            raise RuntimeError("partition count unknown: load() the topics first")
        return partition_for(candidate_id, self.count)

    async def load(self, k: KafkaSettings, topics: Iterable[str]) -> None:
        """Read the partition count of these co-partitioned topics; fail loudly when they differ."""
        names = [k.topic(t) for t in topics if TOPICS_BY_NAME[t].co_partitioned]
        admin = AIOKafkaAdminClient(**aiokafka_kwargs(k), request_timeout_ms=15000)
        await admin.start()
        try:
            described = await admin.describe_topics(names)
        finally:
            await admin.close()
        counts = {t["topic"]: len(t["partitions"]) for t in described if t["error_code"] == 0}
        missing = sorted(set(names) - set(counts))
        if missing:
            raise RuntimeError(f"topics missing: {missing} (create them first: python -m deploy.tools.create_topics)")
        if len(set(counts.values())) != 1:
            raise RuntimeError(f"co-partitioned topics must have one partition count, found {counts}")
        self.count = next(iter(counts.values()))


def header(record: Record, name: str) -> str | None:
    """A header's value as text, if present."""
    for key, value in record.headers or ():
        if key == name:
            return value.decode("utf-8", "replace")
    return None


class DeadLetters:
    """Publishes records that cannot be processed to `<topic>.dlq`, with the reason in headers.

    `guard` is the consumers' failure policy (which failures are transient, when a record is poison);
    the subscribers that dead-letter through this object follow it.
    """

    def __init__(
        self, broker: KafkaBroker, consumer: str, on_dead_letter: Any = None, guard: InputGuard | None = None
    ) -> None:
        self._broker = broker
        self._consumer = consumer
        self._on_dead_letter = on_dead_letter
        self.guard = guard or InputGuard()

    async def send(self, record: Record, error: DecodeError, now: datetime | None = None) -> None:
        """Dead-letter one record; the original key and value are kept for a redrive."""
        headers = {
            DLQ_ERROR_KIND: error.kind,
            DLQ_ERROR_REASON: error.reason[:1000],
            DLQ_ORIGINAL_TOPIC: record.topic,
            DLQ_ORIGINAL_PARTITION: str(record.partition),
            DLQ_ORIGINAL_OFFSET: str(record.offset),
            DLQ_CONSUMER: self._consumer,
            DLQ_FAILED_AT: (now or datetime.now(UTC)).isoformat(),
        }
        await self._broker.publish(record.value or b"", dlq_topic(record.topic), key=record.key, headers=headers)
        log.warning(
            "dead-lettered a record",
            extra={"topic": record.topic, "partition": record.partition, "offset": record.offset, "kind": error.kind},
        )
        if self._on_dead_letter is not None:
            self._on_dead_letter(record.topic, error.kind)

    def expect(self, topics: Iterable[str], kinds: Iterable[str] = (*DECODE_ERROR_KINDS, PROCESSING_FAILED)) -> None:
        """Report zero dead letters of every kind for these input topics (a first one then shows in rates)."""
        if self._on_dead_letter is not None:
            for topic in topics:
                for kind in kinds:
                    self._on_dead_letter(topic, kind, 0)

    async def send_all(self, rejected: Sequence[tuple[Record, DecodeError]]) -> None:
        """Dead-letter several records concurrently."""
        if rejected:
            await asyncio.gather(*(self.send(r, e) for r, e in rejected))
