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
    notice_lease_s: float = Field(
        60.0,
        gt=0,
        description="How long one instance alone may send an erasure notice (above the producer's 40 s timeout).",
    )
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
    # One-time codes that prove a contact point added on the self-service page. They go out directly (not
    # through Kafka and the notifier) so the code is never on a topic, in a log or in a timeline.
    provider_base_url: str = Field(
        "http://127.0.0.1:8025", description="Twilio-style REST API base URL for verification SMS (as the notifier's)."
    )
    twilio_account_sid: str = Field(
        "AC" + "0" * 32, pattern=r"^AC[0-9a-fA-F]{32}$", description="Account SID: API path and basic-auth user."
    )
    twilio_auth_token: SecretStr = Field(SecretStr("dev-only-twilio-auth-token"), description="Basic-auth password.")
    sms_from: str = Field("+3197010000001", description="Sender of verification SMS (E.164 or alphanumeric id).")
    smtp_host: str = Field("127.0.0.1", description="SMTP relay for verification e-mails (the local sink by default).")
    smtp_port: int = Field(2525, description="SMTP relay port.")
    smtp_username: str | None = Field(None, description="SMTP login, if the relay needs one.")
    smtp_password: SecretStr | None = Field(None, description="SMTP password (from a secret).")
    smtp_starttls: bool = Field(False, description="Upgrade with STARTTLS (production relays).")
    smtp_tls: bool = Field(False, description="Implicit TLS (port 465).")
    mail_from: str = Field("Recruitment <recruitment@example.org>", description="From header of verification e-mails.")
    code_send_timeout_s: float = Field(10.0, gt=0, description="Longest wait for the provider or relay per code.")
    code_ttl_s: int = Field(600, ge=60, le=3600, description="How long a one-time code can be entered.")
    code_max_tries: int = Field(5, ge=1, le=10, description="Wrong entries after which a code is void.")
    codes_per_link_per_hour: int = Field(5, ge=1, description="Codes one self-service link may request per hour.")
    codes_per_address_per_day: int = Field(5, ge=1, description="Codes one number or address may receive per day.")
    log_level: str = Field("INFO", description="DEBUG, INFO, WARNING or ERROR.")
    crash_at: str | None = Field(None, description="Test only: SIGKILL the process at this crash point.")
