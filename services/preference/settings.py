"""Preference service settings (env prefix PREFERENCE_; Kafka and MongoDB under KAFKA_ and MONGODB_)."""

from __future__ import annotations

from pydantic import Field, SecretStr
from pydantic_settings import SettingsConfigDict

from services.common.settings import ServiceSettings


class PreferenceSettings(ServiceSettings):
    """Everything the preference service reads from the environment."""

    model_config = SettingsConfigDict(env_prefix="PREFERENCE_", extra="ignore")

    host: str = Field("127.0.0.1", description="Interface to listen on (0.0.0.0 in containers).")
    port: int = Field(8001, description="HTTP port (API, self-service page, probes, metrics).")
    public_url: str = Field("http://127.0.0.1:8001", description="Base URL candidates reach the page at.")
    group_id: str = Field("preference", description="Consumer group of the service.")
    max_event_bytes: int = Field(256 * 1024, description="Larger input records are dead-lettered.")
    outbox_interval_s: float = Field(1.0, gt=0, description="How often the outbox relay looks for unpublished changes.")
    outbox_grace_s: float = Field(2.0, ge=0, description="Age after which the relay republishes a pending change.")
    link_secret: SecretStr = Field(
        SecretStr("dev-only-self-service-secret-change-me"),
        description="Signs self-service links (shared with notifier).",
    )
    suppression_secret: SecretStr = Field(
        SecretStr("dev-only-suppression-secret-change-me"), description="Keys the hash kept after an erasure."
    )
    api_keys: list[SecretStr] = Field(
        default_factory=lambda: [SecretStr("dev-only-api-key")],
        description="JSON list of keys recruiters and integrators send as X-API-Key (set real ones in production).",
    )
    oidc_issuer: str | None = Field(
        None, description="OIDC: the issuer (iss) whose RS256 bearer tokens are accepted besides API keys; unset: off."
    )
    oidc_audience: str | None = Field(None, description="OIDC: the audience (aud) tokens must be issued for.")
    oidc_jwks_url: str | None = Field(None, description="OIDC: the issuer's JWKS URL (keys fetched and cached).")
    oidc_role_claim: str = Field(
        "roles", description="OIDC: claim holding roles (a list) or scopes (a space-separated string); dots nest."
    )
    oidc_roles: list[str] = Field(
        default_factory=lambda: ["recruiter"], description="OIDC: JSON list; a token must grant one of these."
    )
    max_body_bytes: int = Field(64 * 1024, description="Larger request bodies are refused with 413.")
    page_rate_per_minute: int = Field(
        120, ge=0, description="Requests per minute one client address may make to /s/ and /u/ (bursts too); 0: off."
    )
    link_rate_per_minute: int = Field(
        30, ge=0, description="Requests per minute with one self-service link to /s/ and /u/, from anywhere; 0: off."
    )
    retention_days: int = Field(180, ge=1, description="Days after the last procedure ends before data is deleted.")
    talent_pool_days: int = Field(365, ge=1, description="How long a talent-pool consent keeps data beyond that.")
    retention_interval_s: float = Field(3600.0, gt=0, description="How often the retention job runs.")
    log_level: str = Field("INFO", description="DEBUG, INFO, WARNING or ERROR.")
    crash_at: str | None = Field(None, description="Test only: SIGKILL the process at this crash point.")
