"""What a Lever webhook's ids stand for: reads from the Lever API and their (pure) translation into our facts.

Answers are ``{"data": {...}}`` (https://hire.lever.co/developer/documentation#responses-and-errors). An
answer without the fields the document lists is the API's fault, not the webhook's: it raises FetchFailed
(not retryable), so the delivery is answered 503 and an error record is kept.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from services.connectors.adapters import (
    AtsApi,
    CandidateFacts,
    FetchFailed,
    InterviewFacts,
    NoteTarget,
    Occurrence,
    Rejected,
)
from services.connectors.webhook_json import optional_text, text

# A mobile number first: the channels that need a number (SMS, WhatsApp) need a mobile one.
_PHONE_ORDER = ("mobile", "other", "home", "work", "skype")


async def _data(api: AtsApi, path: str) -> Mapping[str, Any]:
    """GET a Lever resource and return its `data` object."""
    answer = await api.request("GET", path)
    data = answer.get("data") if isinstance(answer, dict) else None
    if not isinstance(data, dict):
        raise FetchFailed(f"GET {path.split('?')[0]}: the answer has no data object", retryable=False)
    return data


def _field(doc: Mapping[str, Any], key: str, what: str) -> str:
    """A required text field of an API answer (FetchFailed, not Rejected, when it is missing)."""
    try:
        return text(doc, key)
    except Rejected:
        raise FetchFailed(f"{what}: {key} is missing", retryable=False) from None


async def fetch_opportunity(api: AtsApi, opportunity_id: str) -> tuple[Mapping[str, Any], str]:
    """The opportunity with its stage and application expanded, and the title of the posting applied to."""
    opportunity = await _data(api, f"/opportunities/{opportunity_id}?expand=stage&expand=applications")
    postings = [
        a.get("posting") for a in opportunity.get("applications") or [] if isinstance(a, dict) and a.get("posting")
    ]
    if not postings:
        return opportunity, "-"  # a lead nobody applied to a posting for yet
    posting = await _data(api, f"/postings/{postings[0]}")
    return opportunity, optional_text(posting, "text") or "-"


def candidate_facts(opportunity: Mapping[str, Any]) -> CandidateFacts:
    """The person behind an opportunity: Lever's contact id, name, first e-mail, best phone number."""
    emails = [e for e in opportunity.get("emails") or [] if isinstance(e, str) and e]
    phones = [p for p in opportunity.get("phones") or [] if isinstance(p, dict) and isinstance(p.get("value"), str)]
    phones.sort(key=lambda p: _PHONE_ORDER.index(p["type"]) if p.get("type") in _PHONE_ORDER else len(_PHONE_ORDER))
    return CandidateFacts(
        ats_id=_field(opportunity, "contact", "opportunity"),
        name=optional_text(opportunity, "name") or "",
        email=emails[0] if emails else None,
        phone=phones[0]["value"] if phones else None,
    )


def stage_name(opportunity: Mapping[str, Any]) -> str:
    """The current stage's name (the stage is expanded into {id, text})."""
    stage = opportunity.get("stage")
    if not isinstance(stage, dict):
        raise FetchFailed("opportunity: stage is not expanded", retryable=False)
    return _field(stage, "text", "stage")


def occurrence_of(fetched: tuple[Mapping[str, Any], str], kind: str, at: datetime) -> Occurrence:
    """One of our events about a fetched opportunity (notes go to the opportunity, Lever's unit of applying)."""
    opportunity, job_title = fetched
    facts = candidate_facts(opportunity)
    opportunity_id = _field(opportunity, "id", "opportunity")
    return Occurrence(
        type=kind,
        candidate=facts,
        application_id=opportunity_id,
        job_title=job_title,
        stage=stage_name(opportunity),
        time=at,
        note_target=NoteTarget(candidate_id=facts.ats_id, application_id=opportunity_id),
    )


def interview_facts(interview: Mapping[str, Any], at: datetime) -> tuple[InterviewFacts, bool] | None:
    """The interview and whether it is cancelled; None when it ended before the webhook was triggered."""
    date, duration = interview.get("date"), interview.get("duration")
    if isinstance(date, bool) or not isinstance(date, int) or isinstance(duration, bool):
        raise FetchFailed("interview: date is missing", retryable=False)
    if not isinstance(duration, int | float) or duration <= 0:
        raise FetchFailed("interview: duration is missing", retryable=False)
    start = datetime.fromtimestamp(date / 1000, UTC)
    end = start + timedelta(minutes=duration)
    cancelled = interview.get("canceledAt") is not None
    if end <= at and not cancelled:
        return None  # a past interview logged afterwards: nothing to tell the candidate
    place = optional_text(interview, "location")
    remote = place is not None and place.startswith(("https://", "http://"))
    facts = InterviewFacts(
        id=_field(interview, "id", "interview"),
        start=start,
        end=end,
        location=None if remote else place,
        video_link=place if remote else None,
        sequence=int(at.timestamp() * 1000),  # Lever keeps no counter: the trigger time orders the changes
    )
    return facts, cancelled


async def fetch_interview(
    api: AtsApi, opportunity_id: str, interview_id: str, at: datetime
) -> tuple[InterviewFacts, bool] | None:
    """The interview an interview webhook names; None when Lever no longer has it (deleted) or it is over."""
    try:
        interview = await _data(api, f"/opportunities/{opportunity_id}/interviews/{interview_id}")
    except FetchFailed as exc:
        if not exc.retryable and "HTTP 404" in exc.reason:
            return None
        raise
    return interview_facts(interview, at)


async def archive_reason_type(api: AtsApi, reason_id: str) -> str:
    """An archive reason's type: 'hired' or 'non-hired'."""
    reason = await _data(api, f"/archive_reasons/{reason_id}")
    return _field(reason, "type", "archive reason")
