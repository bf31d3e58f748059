"""Settings every service shares; each service's own class nests these (built once in main())."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict


class KafkaSettings(BaseSettings):
    """How to reach Kafka (env prefix KAFKA_)."""

    model_config = SettingsConfigDict(env_prefix="KAFKA_", extra="ignore")

    bootstrap_servers: str = Field("127.0.0.1:9092", description="Comma-separated host:port list.")
    topic_prefix: str = Field("", description="Prepended to every topic name (tests isolate with it).")
    partitions: int = Field(6, ge=1, description="Partition count of every co-partitioned topic at creation.")
    replication_factor: int = Field(1, ge=1, description="Replication factor at topic creation.")
    security_protocol: Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"] = Field(
        "PLAINTEXT", description="PLAINTEXT locally; SASL_SSL in production."
    )
    sasl_mechanism: Literal["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"] | None = Field(
        None, description="SASL mechanism (SCRAM-SHA-512 when unset and SASL is on)."
    )
    sasl_username: str | None = Field(None, description="SASL user.")
    sasl_password: SecretStr | None = Field(None, description="SASL password (from a secret).")
    ssl_cafile: str | None = Field(None, description="CA bundle for SSL/SASL_SSL.")
    linger_ms: int = Field(1, ge=0, description="Producer linger: small batches, low latency.")
    projection_fetch_wait_ms: int = Field(
        200,
        ge=0,
        le=5000,
        description="Readers off the hot path (timeline, worklist, engagement, replies): the broker holds their "
        "fetch until 64 KiB are waiting or this many ms passed, so a busy pipeline answers them with fewer, "
        "fuller fetches; 0 hands them each record at once like the hot path.",
    )
    session_timeout_ms: int = Field(
        10_000, ge=1000, description="Consumer group session timeout: how fast a dead instance's partitions move."
    )
    tracing: bool = Field(
        False,
        description="OpenTelemetry spans for every consume and publish (to the configured exporter, else stdout).",
    )

    def topic(self, name: str) -> str:
        """The physical topic name of a contract topic."""
        return self.topic_prefix + name


# Values an approved WhatsApp template can take for its numbered placeholders ({{1}}, {{2}}, ...).
TemplateVariable = Literal["name", "job_title", "when", "location", "deadline", "link"]


class WhatsAppTemplate(BaseModel):
    """One approved WhatsApp template (a Twilio Content resource) for one message template and language."""

    content_sid: str = Field(pattern=r"^HX[0-9a-fA-F]{32}$", description="The Content SID (HX...) Meta approved.")
    variables: tuple[TemplateVariable, ...] = Field(
        ("name", "job_title"), description="What fills {{1}}, {{2}}, ... in order."
    )


class ChannelSettings(BaseSettings):
    """What each channel can carry, known to every service (env prefix CHANNELS_).

    The router decides with it (a choice that cannot be honoured is skipped with the reason and flagged),
    the self-service page tells the candidate, the notifier sends with it.
    """

    model_config = SettingsConfigDict(env_prefix="CHANNELS_", extra="ignore")

    whatsapp_templates: dict[str, dict[str, WhatsAppTemplate]] = Field(
        default_factory=dict,
        description="Approved WhatsApp templates (needed outside the 24-hour window that opens when the candidate "
        'writes): message template -> language -> {"content_sid": "HX...", "variables": [...]} (JSON).',
    )


class MongoSettings(BaseSettings):
    """How to reach MongoDB or FerretDB (env prefix MONGODB_)."""

    model_config = SettingsConfigDict(env_prefix="MONGODB_", extra="ignore")

    url: SecretStr = Field(SecretStr("mongodb://127.0.0.1:27017/"), description="Connection URL (auth, TLS).")
    database: str = Field("candidate_comms", description="Database name; each service owns its collections.")
    timeout_ms: int = Field(5000, ge=100, description="Server selection and socket timeout.")


class ServiceSettings(BaseSettings):
    """What every service's settings class has (under that service's env prefix), and the shared parts."""

    poison_attempts: int = Field(
        3,
        ge=1,
        description="A record that fails the same way (not a database or broker outage) this many times in a row "
        "is dead-lettered (processing_failed) so the rest of its partition moves on.",
    )
    stall_after_s: float = Field(
        60.0,
        gt=0,
        description="A consumer group partition of this instance with records waiting and no commit for this long "
        "makes /ready 503 (stalled:<group>) and consumer_stalled 1.",
    )
    kafka: KafkaSettings = Field(default_factory=KafkaSettings)
    mongo: MongoSettings = Field(default_factory=MongoSettings)
    channels: ChannelSettings = Field(
        default_factory=ChannelSettings, description="What each channel can carry (CHANNELS_ variables)."
    )


class HttpSettings(BaseSettings):
    """Where a service listens (env prefix set by the service: PREFERENCE_, ROUTER_, NOTIFIER_)."""

    host: str = "127.0.0.1"
    port: int = 8000
