"""Router settings (env prefix ROUTER_; Kafka and MongoDB under KAFKA_ and MONGODB_)."""

from __future__ import annotations

from datetime import timedelta

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from schemas.common import Channel, Stage
from services.common.settings import ServiceSettings
from services.router.policy import RoutingConfig


class RouterSettings(ServiceSettings):
    """Everything the router reads from the environment."""

    model_config = SettingsConfigDict(env_prefix="ROUTER_", extra="ignore")

    host: str = Field("127.0.0.1", description="Interface to listen on (0.0.0.0 in containers).")
    port: int = Field(8002, description="HTTP port (probes, metrics).")
    group_id: str = Field("router", description="Consumer group of the router instances.")
    max_event_bytes: int = Field(256 * 1024, description="Larger input records are dead-lettered.")
    stage_map: dict[str, Stage] = Field(
        default_factory=lambda: {
            "new": Stage.APPLICATION,
            "applied": Stage.APPLICATION,
            "screening": Stage.SCREENING,
            "phone screen": Stage.SCREENING,
            "interview": Stage.INTERVIEW_SCHEDULING,
            "documents": Stage.DOCUMENTS,
            "assessment": Stage.DOCUMENTS,
            "offer": Stage.OFFER,
            "rejected": Stage.REJECTION,
            "hired": Stage.OFFER,
            "talent pool": Stage.TALENT_POOL,
        },
        description='JSON: ATS stage names (lower case) -> our stages, e.g. {"gesprek": "interview_scheduling"}.',
    )
    default_order: tuple[Channel, ...] = Field((Channel.EMAIL,), description="Order when nothing is known.")
    reminder_hours: tuple[float, ...] = Field((24.0, 2.0), description="Interview reminders, hours before start.")
    reply_window_hours: dict[Stage, float] = Field(
        default_factory=lambda: {Stage.INTERVIEW_SCHEDULING: 24.0, Stage.DOCUMENTS: 48.0},
        description="Per stage: silence after this long triggers a follow-up on the next channel.",
    )
    max_follow_ups: int = Field(1, ge=0, description="Follow-ups before needs_recruiter.")
    essential_window_hours: float = Field(48.0, description="Reschedule/cancellation this close is essential.")
    scheduler_interval_s: float = Field(1.0, gt=0, description="How often due messages are released.")
    timer_backstop_s: float = Field(
        30.0,
        gt=0,
        description="Longest time between two scans of held and awaiting-reply messages when none is known to be due.",
    )
    snapshot_wait_s: float = Field(
        5.0,
        gt=0,
        description="Longest wait for the view to read a candidate's partition of preferences.changed to its end "
        "when their snapshot is not in it yet (then missing: snapshot_missing; still behind: the batch is retried).",
    )
    log_level: str = Field("INFO", description="DEBUG, INFO, WARNING or ERROR.")

    def routing(self) -> RoutingConfig:
        """The pure policy's configuration."""
        return RoutingConfig(
            stage_map={k.lower(): v for k, v in self.stage_map.items()},
            default_order=self.default_order,
            reminder_offsets=tuple(timedelta(hours=h) for h in self.reminder_hours),
            reply_windows={k: timedelta(hours=v) for k, v in self.reply_window_hours.items()},
            essential_window=timedelta(hours=self.essential_window_hours),
            max_follow_ups=self.max_follow_ups,
            whatsapp_templates=frozenset(
                (template, language)
                for template, languages in self.channels.whatsapp_templates.items()
                for language in languages
            ),
        )
