"""Notifier settings (env prefix NOTIFIER_; Kafka and MongoDB under KAFKA_ and MONGODB_)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, PositiveInt, SecretStr
from pydantic_settings import SettingsConfigDict

from services.common.settings import ServiceSettings


class NotifierSettings(ServiceSettings):
    """Everything the notifier reads from the environment."""

    model_config = SettingsConfigDict(env_prefix="NOTIFIER_", extra="ignore")

    host: str = Field("127.0.0.1", description="Interface to listen on (0.0.0.0 in containers).")
    port: int = Field(8003, description="HTTP port (callbacks, timeline, probes, metrics).")
    public_url: str = Field("http://127.0.0.1:8003", description="Base URL providers call back at.")
    group_prefix: str = Field("notifier", description="Consumer groups are <prefix>.<channel>, <prefix>.status.")
    max_event_bytes: int = Field(256 * 1024, description="Larger input records are dead-lettered.")
    smtp_host: str = Field("127.0.0.1", description="SMTP relay host (the local sink by default).")
    smtp_port: int = Field(2525, description="SMTP relay port.")
    smtp_username: str | None = Field(None, description="SMTP login, if the relay needs one.")
    smtp_password: SecretStr | None = Field(None, description="SMTP password (from a secret).")
    smtp_starttls: bool = Field(False, description="Upgrade with STARTTLS (production relays).")
    smtp_tls: bool = Field(False, description="Implicit TLS (port 465).")
    smtp_timeout_s: float = Field(10.0, description="SMTP connect/command timeout.")
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
    provider_base_url: str = Field(
        "http://127.0.0.1:8025",
        description="Twilio-style REST API base URL (https://api.twilio.com in production, the emulator locally).",
    )
    twilio_account_sid: str = Field(
        "AC" + "0" * 32,
        pattern=r"^AC[0-9a-fA-F]{32}$",
        description="Account SID: the API path and the basic-auth user.",
    )
    twilio_auth_token: SecretStr = Field(
        SecretStr("dev-only-twilio-auth-token"), description="Basic-auth password; also keys the callback signatures."
    )
    sms_from: str = Field("+3197010000001", description="Sender of SMS (E.164 number or alphanumeric id).")
    whatsapp_from: str = Field("+3197010000002", description="WhatsApp sender number (without whatsapp:).")
    voice_from: str = Field("+3197010000003", description="Caller id of automated calls.")
    sms_max_segments: int = Field(4, ge=1, le=10, description="Longer SMS are refused, not split into a wall.")
    voice_mode: Literal["call_task", "automated"] = Field(
        "call_task", description="call_task: a recruiter calls (worklist item); automated: a TwiML call."
    )
    voice_voices: dict[str, str] = Field(
        default_factory=lambda: {"nl": "Polly.Lotte", "en": "Polly.Amy"},
        description="Text-to-speech voice per language (Twilio's default voice speaks no Dutch).",
    )
    portal_webhook_url: str = Field(
        "http://127.0.0.1:8025/_emulator/portal", description="Where portal messages are POSTed (signed JSON)."
    )
    portal_secret: SecretStr = Field(
        SecretStr("dev-only-portal-webhook-secret"), description="HMAC-SHA256 key of the portal webhook's X-Signature."
    )
    provider_timeout_s: float = Field(5.0, gt=0, description="Timeout of one provider or portal HTTP call.")
    provider_concurrency: dict[str, PositiveInt] = Field(
        default_factory=lambda: {"twilio-sms": 8, "twilio-whatsapp": 8, "twilio-voice": 2, "portal-webhook": 8},
        description="Concurrent requests per provider (missing providers get 4).",
    )
    callback_match_wait_s: float = Field(
        2.0,
        ge=0,
        description="How long a receipt waits for its send record (providers can call back before "
        "our record of the send is written).",
    )
    api_keys: list[SecretStr] = Field(
        default_factory=lambda: [SecretStr("dev-only-api-key")],
        description="JSON list of keys recruiters send as X-API-Key to the timeline and worklist "
        "(and exchange for a session on the recruiter pages).",
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
    session_secret: SecretStr = Field(
        SecretStr("dev-only-recruiter-session-secret-change-me"),
        description="Signs recruiter page sessions and their CSRF tokens; rotating it logs everyone out.",
    )
    max_body_bytes: int = Field(
        64 * 1024,
        ge=1024,
        description="Larger request bodies (callbacks, recruiter login and worklist forms) are refused with 413.",
    )
    callback_rate_per_minute: int = Field(
        6000, ge=0, description="Provider callbacks per minute accepted from one client address (bursts too); 0: off."
    )
    inbound_smtp_port: int | None = Field(
        None,
        ge=0,
        le=65535,
        description="Port (on `host`) of the inbound SMTP listener for bounces (DSNs) and e-mail replies; "
        "unset or 0: off.",
    )
    log_level: str = Field("INFO", description="DEBUG, INFO, WARNING or ERROR.")
    test_view_delay_s: float = Field(
        0.0, ge=0, description="Test only: apply live preference changes this late, to prove the send barrier."
    )
    crash_at: str | None = Field(None, description="Test only: SIGKILL the process at this crash point.")
