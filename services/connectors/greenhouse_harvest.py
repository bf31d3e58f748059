"""What Greenhouse's ids stand for: reads from the Harvest API and their (pure) translation into our facts.

Documents followed (https://developers.greenhouse.io/harvest.html, source grnhse/greenhouse-api-docs):
- The scheduled interview object: ``id``, ``application_id``, ``start``/``end`` as ``{"date_time"}`` (or
  ``{"date"}`` for an all-day event), ``location``, ``video_conferencing_url``, ``status`` (``scheduled``,
  ``awaiting_feedback``, ``complete``), ``updated_at``.
- GET /v1/applications/{id} (``candidate_id``, ``prospect``, ``current_stage``, ``jobs[]``) and
  GET /v1/candidates/{id} (``first_name``, ``last_name``, ``email_addresses[]``, ``phone_numbers[]``): what a
  webhook that carries ids only (offers, interview deletions) and the interview poller need for a message.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from services.connectors.adapters import (
    AtsApi,
    CandidateFacts,
    FetchFailed,
    InterviewFacts,
    KnownInterview,
    NoteTarget,
    Occurrence,
    Rejected,
)
from services.connectors.webhook_json import items, obj, optional_text, text, timestamp

SCHEDULED = "ats.interview.scheduled"
RESCHEDULED = "ats.interview.rescheduled"


def interview_id(harvest_id: object) -> str:
    """Our interview id of a Harvest scheduled interview (the webhook path and the poller agree on it)."""
    return f"gh-{harvest_id}"


def interview_event_key(event_type: str, facts: InterviewFacts) -> str:
    """One key for one interview version told as one event type, whichever path (web hook, poller) found it."""
    return f"{event_type}/{facts.id}/{facts.sequence}"


def interview_facts(iv: Mapping[str, Any]) -> InterviewFacts | None:
    """A scheduled interview with a precise time as our facts; None for an all-day one or a malformed one."""
    start = timestamp((iv.get("start") or {}).get("date_time"))
    end = timestamp((iv.get("end") or {}).get("date_time"))
    if start is None or end is None or end <= start or iv.get("id") is None:
        return None  # an all-day event has no time to invite to
    updated = timestamp(iv.get("updated_at"))
    return InterviewFacts(
        id=interview_id(iv["id"]),
        start=start,
        end=end,
        location=optional_text(iv, "location"),
        video_link=optional_text(iv, "video_conferencing_url"),
        sequence=int(updated.timestamp()) if updated else 0,
    )


def interview_change(iv: Mapping[str, Any], known: KnownInterview | None, now: datetime) -> str | None:
    """Our event type for a scheduled interview as Harvest lists it now, given what we told before; None: nothing."""
    facts = interview_facts(iv)
    if facts is None or iv.get("status") != "scheduled" or facts.end <= now:
        return None
    if known is None or known.cancelled:
        return SCHEDULED
    told = known.interview
    moved = (facts.start, facts.end, facts.location, facts.video_link) != (
        told.start,
        told.end,
        told.location,
        told.video_link,
    )
    return RESCHEDULED if moved else None  # e.g. an interviewer's answer changed updated_at only


async def next_interview(api: AtsApi, application_id: str, now: datetime) -> InterviewFacts | None:
    """The application's earliest interview still ahead and scheduled, from Harvest."""
    found = await api.request("GET", f"/v1/applications/{application_id}/scheduled_interviews")
    if not isinstance(found, list):
        raise FetchFailed("scheduled_interviews: not a list")
    ahead = [
        facts
        for iv in found
        if isinstance(iv, dict) and iv.get("status") == "scheduled"
        if (facts := interview_facts(iv)) is not None and facts.start >= now
    ]
    return min(ahead, key=lambda iv: iv.start, default=None)


async def read_application(api: AtsApi, application_id: str) -> Mapping[str, Any]:
    """The application as Harvest returns it (its candidate by id)."""
    application = await api.request("GET", f"/v1/applications/{application_id}")
    if not isinstance(application, dict) or application.get("candidate_id") is None:
        raise FetchFailed("application: no candidate_id", retryable=False)
    return application


async def with_candidate(api: AtsApi, application: Mapping[str, Any]) -> Mapping[str, Any]:
    """The application with its candidate embedded, as the webhooks carry it."""
    candidate = await api.request("GET", f"/v1/candidates/{application['candidate_id']}")
    if not isinstance(candidate, dict):
        raise FetchFailed("candidate: not an object", retryable=False)
    return {**application, "candidate": candidate}


async def fetch_application(api: AtsApi, application_id: str) -> Mapping[str, Any]:
    """The application with its candidate embedded: two Harvest reads."""
    return await with_candidate(api, await read_application(api, application_id))


def occurrence_of(application: Mapping[str, Any], kind: str, at: datetime, stage: str = "") -> Occurrence:
    """One of our events about an application (candidate embedded); `stage` when it has no current stage."""
    candidate = obj(application, "candidate")
    jobs = items(application, "jobs") or ([application["job"]] if isinstance(application.get("job"), dict) else [])
    current = application.get("current_stage")
    stage_name = text(current, "name") if isinstance(current, dict) else stage
    if not stage_name:
        raise Rejected("invalid_payload", "application.current_stage is missing")
    facts = CandidateFacts(
        ats_id=text(candidate, "id"),
        name=" ".join(p for p in (optional_text(candidate, "first_name"), optional_text(candidate, "last_name")) if p),
        email=_preferred(items(candidate, "email_addresses"), ("personal", "other", "work")),
        phone=_preferred(items(candidate, "phone_numbers"), ("mobile", "home", "other", "work")),
    )
    application_id = text(application, "id")
    return Occurrence(
        type=kind,
        candidate=facts,
        application_id=application_id,
        job_title=text(jobs[0], "name") if jobs else "-",
        stage=stage_name,
        time=at,
        note_target=NoteTarget(candidate_id=facts.ats_id, application_id=application_id),
    )


def _preferred(values: list[Mapping[str, Any]], order: tuple[str, ...]) -> str | None:
    """The value of the most suitable type (a mobile number before a work number, ...)."""
    ranked = sorted(values, key=lambda v: order.index(v.get("type")) if v.get("type") in order else len(order))
    return next((str(v["value"]) for v in ranked if isinstance(v.get("value"), str) and v["value"]), None)
