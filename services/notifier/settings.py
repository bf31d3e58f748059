"""Notifier settings (env prefix NOTIFIER_; Kafka and MongoDB under KAFKA_ and MONGODB_)."""

from __future__ import annotations

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

from services.common.settings import KafkaSettings, MongoSettings


class NotifierSettings(BaseSettings):
    """Everything the notifier reads from the environment."""

    model_config = SettingsConfigDict(env_prefix="NOTIFIER_", extra="ignore")

    host: str = "127.0.0.1"
    port: int = Field(8003, description="HTTP port (callbacks, timeline, probes, metrics).")
    public_url: str = Field("http://127.0.0.1:8003", description="Base URL providers call back at.")
    group_prefix: str = Field("notifier", description="Consumer groups are <prefix>.<channel>, <prefix>.status.")
    max_event_bytes: int = Field(256 * 1024, description="Larger input records are dead-lettered.")
    smtp_host: str = "127.0.0.1"
    smtp_port: int = 2525
    smtp_username: str | None = None
    smtp_password: SecretStr | None = None
    smtp_starttls: bool = Field(False, description="Upgrade with STARTTLS (production relays).")
    smtp_tls: bool = Field(False, description="Implicit TLS (port 465).")
    smtp_timeout_s: float = 10.0
    smtp_connections: int = Field(4, ge=1, description="Pooled SMTP connections.")
    mail_from: str = Field("Recruitment <recruitment@example.org>", description="From header of e-mails.")
    bounce_address: str = Field("bounces@example.org", description="Envelope sender; DSNs arrive here.")
    message_id_domain: str = Field("candidate-comms.local", description="Right part of our Message-IDs.")
    preference_url: str = Field("http://127.0.0.1:8001", description="Public URL of the preference service.")
    link_secret: SecretStr = Field(
        SecretStr("dev-only-self-service-secret-change-me"), description="Signs self-service links (as preference)."
    )
    link_ttl_days: int = Field(30, ge=1, description="Self-service links expire after this many days.")
    send_attempts: int = Field(4, ge=1, description="Tries per message for transient errors.")
    retry_base_s: float = Field(0.2, gt=0, description="First backoff; doubles per try, with jitter.")
    retry_max_s: float = Field(5.0, gt=0, description="Longest single backoff (also caps Retry-After).")
    consent_wait_s: float = Field(2.0, gt=0, description="Longest wait for the view to reach the acknowledged offsets.")
    log_level: str = "INFO"
    crash_at: str | None = Field(None, description="Test only: SIGKILL the process at this crash point.")
    kafka: KafkaSettings = Field(default_factory=KafkaSettings)
    mongo: MongoSettings = Field(default_factory=MongoSettings)
