"""Templates: one Jinja2 file per template and language, with macros per part (subject, body, short, speech).

Missing variables fail here, at render time, never at the provider: StrictUndefined for names the
template uses, and REQUIRED for context fields that must not be empty.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from jinja2 import Environment, FileSystemLoader, StrictUndefined, TemplateNotFound, UndefinedError, select_autoescape

from schemas.dispatch import DeliverMessage, MessageContext

TEMPLATE_DIR = Path(__file__).parent / "templates"

# Version of each template's wording; shown in the timeline and bumped with every textual change.
CATALOGUE: dict[str, int] = {
    "application_received": 1,
    "stage_update": 1,
    "interview_invite": 1,
    "interview_slot_options": 1,
    "interview_rescheduled": 1,
    "interview_cancelled": 1,
    "interview_reminder": 1,
    "offer_extended": 1,
    "rejection": 1,
    "hired": 1,
    "free_message": 1,
    "follow_up": 1,
}
# Context fields that must be present and non-empty; checked before rendering so the error names them.
REQUIRED: dict[str, tuple[str, ...]] = {
    "application_received": ("job_title",),
    "stage_update": ("job_title",),
    "interview_invite": ("job_title", "interview_start", "interview_end"),
    "interview_slot_options": ("job_title", "slot_options"),
    "interview_rescheduled": ("job_title", "interview_start", "interview_end"),
    "interview_cancelled": ("job_title", "interview_start"),
    "interview_reminder": ("job_title", "interview_start"),
    "offer_extended": ("job_title",),
    "rejection": ("job_title",),
    "hired": ("job_title",),
    "free_message": ("subject", "body"),
}

_DAYS = {
    "nl": ["maandag", "dinsdag", "woensdag", "donderdag", "vrijdag", "zaterdag", "zondag"],
    "en": ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"],
}
_MONTHS = {
    "nl": [
        "januari",
        "februari",
        "maart",
        "april",
        "mei",
        "juni",
        "juli",
        "augustus",
        "september",
        "oktober",
        "november",
        "december",
    ],
    "en": [
        "January",
        "February",
        "March",
        "April",
        "May",
        "June",
        "July",
        "August",
        "September",
        "October",
        "November",
        "December",
    ],
}


_URL = re.compile(r"(?:https?://|www\.)\S+", re.IGNORECASE)


class RenderError(ValueError):
    """A template cannot be rendered: unknown template, missing variable. Never retried."""


def format_when(moment: datetime, timezone: str, language: str) -> str:
    """'dinsdag 1 december 2026 om 10:00' / 'Tuesday 1 December 2026 at 10:00' in the candidate's zone."""
    local = moment.astimezone(ZoneInfo(timezone))
    day = _DAYS[language][local.weekday()]
    month = _MONTHS[language][local.month - 1]
    at = "om" if language == "nl" else "at"
    return f"{day} {local.day} {month} {local.year} {at} {local:%H:%M}"


def speakable(text: str) -> str:
    """Text fit for text-to-speech: URLs dropped (nobody can follow a spoken link), whitespace collapsed."""
    return " ".join(_URL.sub("", text).split())


def format_time(moment: datetime, timezone: str) -> str:
    """'10:00' in the candidate's zone."""
    return f"{moment.astimezone(ZoneInfo(timezone)):%H:%M}"


@dataclass(frozen=True)
class Rendered:
    """A message's parts; channels take what they need."""

    template: str
    version: int
    language: str
    subject: str
    body: str
    short: str
    speech: str


def _variables(ctx: MessageContext, language: str, link: str) -> dict[str, Any]:
    tz = ctx.timezone
    name = (ctx.candidate_name or "").split(" ")[0] or ("kandidaat" if language == "nl" else "there")
    return {
        "lang": language,
        "name": name,
        "job_title": ctx.job_title or "",
        "when": format_when(ctx.interview_start, tz, language) if ctx.interview_start else None,
        "until": format_time(ctx.interview_end, tz) if ctx.interview_end else None,
        "location": ctx.interview_location,
        "video_link": str(ctx.interview_video_link) if ctx.interview_video_link else None,
        "options": [format_when(o, tz, language) for o in ctx.slot_options],
        "deadline": format_when(ctx.offer_deadline, tz, language) if ctx.offer_deadline else None,
        "subject": ctx.subject,
        "body": ctx.body,
        "talent_pool_invite": ctx.talent_pool_invite,
        "call_times": ctx.preferred_call_times,
        "link": link,
        "timezone": tz,
    }


class Renderer:
    """Renders the catalogue's templates."""

    def __init__(self, template_dir: Path = TEMPLATE_DIR) -> None:
        self._env = Environment(
            loader=FileSystemLoader(template_dir),
            undefined=StrictUndefined,
            autoescape=select_autoescape(default=False),
            trim_blocks=True,
            lstrip_blocks=True,
            keep_trailing_newline=False,
        )
        self._env.filters["speakable"] = speakable

    def render(self, msg: DeliverMessage, link: str) -> Rendered:
        """Render every part of a message in its language, or raise RenderError."""
        if msg.template not in CATALOGUE:
            raise RenderError(f"unknown template {msg.template}")
        missing = [f for f in REQUIRED.get(msg.template, ()) if not getattr(msg.context, f)]
        if missing:
            raise RenderError(f"template {msg.template} needs {', '.join(missing)}")
        try:
            tmpl = self._env.get_template(f"{msg.template}.{msg.language}.j2")
            module = tmpl.make_module(_variables(msg.context, msg.language, link))
            parts = {p: str(getattr(module, p)()).strip() for p in ("subject", "body", "short", "speech")}
        except TemplateNotFound:
            raise RenderError(f"no {msg.language} version of template {msg.template}") from None
        except UndefinedError as exc:
            raise RenderError(f"template {msg.template}: {exc.message}") from None
        return Rendered(template=msg.template, version=CATALOGUE[msg.template], language=msg.language, **parts)
