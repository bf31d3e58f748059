"""Connector settings (env prefix CONNECTORS_; Kafka and MongoDB under KAFKA_ and MONGODB_).

Connections are named; the webhook URL of one is /v1/webhooks/<name>. Each is configured with nested
variables, e.g. CONNECTORS_CONNECTIONS__GREENHOUSE__SECRET, CONNECTORS_CONNECTIONS__GREENHOUSE__API_KEY,
CONNECTORS_CONNECTIONS__GREENHOUSE__STAGES='{"Technical Interview": "interview_scheduling"}'. A connection's
ATS defaults to its name, so a second Greenhouse account is CONNECTORS_CONNECTIONS__GH_NL__ATS=greenhouse.
"""

from __future__ import annotations

from pydantic import BaseModel, Field, SecretStr
from pydantic_settings import SettingsConfigDict

from schemas.common import ChangeSource, Stage
from services.common.settings import ServiceSettings

# What the deploy files put where the operator must write a real value (refused at start, never sent to an ATS).
PLACEHOLDER = "CHANGE-ME"
# Stage names most ATSs ship with, mapped onto ours; a connection's own map is consulted first.
DEFAULT_STAGES: dict[str, Stage] = {
    "new": Stage.APPLICATION,
    "applied": Stage.APPLICATION,
    "apply": Stage.APPLICATION,
    "application review": Stage.APPLICATION,
    "screening": Stage.SCREENING,
    "phone screen": Stage.SCREENING,
    "preliminary phone screen": Stage.SCREENING,
    "phone_screen": Stage.SCREENING,
    "interview": Stage.INTERVIEW_SCHEDULING,
    "face to face": Stage.INTERVIEW_SCHEDULING,
    "technical interview": Stage.INTERVIEW_SCHEDULING,
    "onsite": Stage.INTERVIEW_SCHEDULING,
    "assessment": Stage.DOCUMENTS,
    "evaluation": Stage.DOCUMENTS,
    "documents": Stage.DOCUMENTS,
    "reference check": Stage.DOCUMENTS,
    "offer": Stage.OFFER,
    "hired": Stage.OFFER,
    "hire": Stage.OFFER,
    "rejected": Stage.REJECTION,
    "disqualified": Stage.REJECTION,
    "talent pool": Stage.TALENT_POOL,
}


class Connection(BaseModel):
    """One ATS account: how its webhooks are signed, how its API is reached, how its stages map."""

    ats: str | None = Field(None, description="greenhouse, lever, ashby or recruitee (default: the connection name).")
    secret: SecretStr | None = Field(None, description="The webhook signing secret the ATS shows (required).")
    signature_tokens: dict[str, SecretStr] = Field(
        default_factory=dict,
        description="Signing secrets by event type, for an ATS that gives each webhook its own (Lever: "
        "__SIGNATURE_TOKENS__CANDIDATESTAGECHANGE=...; types match without regard to case); a type not listed "
        "falls back to SECRET. Either this or SECRET is required.",
    )
    api_url: str = Field("", description="Base URL of the ATS's REST API (e.g. https://harvest.greenhouse.io).")
    api_key: SecretStr = Field(SecretStr(""), description="REST API key or token of the connection.")
    stages: dict[str, Stage] = Field(
        default_factory=dict,
        description="Their stage names (any case) -> our stages; consulted before the default map.",
    )
    use_default_stages: bool = Field(True, description="Fall back to the default stage map for unlisted names.")
    options: dict[str, str] = Field(
        default_factory=dict,
        description='ATS-specific options, e.g. Greenhouse {"on_behalf_of": "<user id>"}, '
        'Recruitee {"company_id": "<id>"}.',
    )
    locale: str = Field("nl-NL", description="Candidate locale when the ATS does not say.")
    timezone: str = Field("Europe/Amsterdam", description="Candidate time zone when the ATS does not say.")
    phone_region: str = Field("NL", description="Region of phone numbers the ATS stores without a country code.")

    def secret_for(self, event_type: str | None) -> SecretStr | None:
        """The secret a delivery of this event type is signed with (None: the connection has none for it)."""
        tokens = {k.lower(): v for k, v in self.signature_tokens.items() if v.get_secret_value()}
        found = tokens.get((event_type or "").lower())
        if found is not None:
            return found
        return self.secret if self.secret is not None and self.secret.get_secret_value() else None

    def signed(self) -> bool:
        """Whether any signing secret is configured (a connection without one is refused at start)."""
        has_secret = self.secret is not None and bool(self.secret.get_secret_value())
        return has_secret or any(v.get_secret_value() for v in self.signature_tokens.values())

    def placeholders(self) -> list[str]:
        """The variables (after CONNECTORS_CONNECTIONS__<NAME>__) still holding a deploy file's CHANGE-ME."""
        values = {"API_URL": self.api_url, **{f"OPTIONS__{k.upper()}": v for k, v in self.options.items()}}
        return [name for name, value in values.items() if PLACEHOLDER in value]


class ConnectorSettings(ServiceSettings):
    """Everything the connector service reads from the environment."""

    model_config = SettingsConfigDict(env_prefix="CONNECTORS_", env_nested_delimiter="__", extra="ignore")

    host: str = Field("127.0.0.1", description="Interface to listen on (0.0.0.0 in containers).")
    port: int = Field(8004, description="HTTP port (webhooks, CloudEvents, probes, metrics).")
    group_id: str = Field("connectors", description="Consumer group of the write-back (notifications.status).")
    connections: dict[str, Connection] = Field(
        default_factory=dict,
        description="Named ATS connections (nested: CONNECTORS_CONNECTIONS__<NAME>__SECRET, __API_URL, __API_KEY, "
        "__STAGES, __OPTIONS).",
    )
    max_body_bytes: int = Field(256 * 1024, ge=1024, description="Larger webhook or CloudEvents bodies get 413.")
    max_batch_events: int = Field(100, ge=1, description="Most events in one batched CloudEvents request.")
    source: str = Field("urn:candidate-comms:connectors", description="CloudEvents source of mapped webhooks.")
    api_timeout_s: float = Field(5.0, gt=0, description="Timeout of one REST call to an ATS.")
    api_attempts: int = Field(4, ge=1, description="Tries of one REST call (5xx, 429, network) before it fails.")
    api_backoff_s: float = Field(0.5, gt=0, description="First backoff between REST tries (doubles, jittered).")
    note_states: tuple[str, ...] = Field(
        ("sent", "delivered", "bounced", "failed", "needs_recruiter", "cancelled", "replied"),
        description="Notification states written back to the ATS as notes.",
    )
    interview_poll_s: float = Field(
        60.0,
        ge=0,
        description="Seconds between polls of each Greenhouse connection's scheduled interviews (Greenhouse has no "
        "interview web hook); 0 turns the poller off.",
    )
    writeback_rounds: int = Field(
        6, ge=1, description="Rounds of retries (each api_attempts tries) before a note is recorded as failed."
    )
    preference_note_sources: tuple[ChangeSource, ...] = Field(
        (ChangeSource.SELF_SERVICE, ChangeSource.REPLY),
        description="Change sources of a preference version that get a note in the ATS (the ATS and recruiters "
        "know of their own changes).",
    )
    preference_note_max_age_days: float = Field(
        7.0,
        gt=0,
        description="A preference version older than this gets no note (a first start reads the compacted topic "
        "from its beginning: that is history, not news).",
    )
    log_level: str = Field("INFO", description="DEBUG, INFO, WARNING or ERROR.")
    crash_at: str | None = Field(None, description="Test only: SIGKILL the process at this crash point.")

    def connection(self, name: str) -> Connection | None:
        """A configured connection by name (case-insensitive)."""
        return self.connections.get(name.lower())

    def ats_of(self, name: str) -> str:
        """The ATS a connection speaks."""
        conn = self.connections[name.lower()]
        return (conn.ats or name).lower()
