"""What an Ashby webhook lacks, read through Ashby's RPC API, and the (pure) translation into our facts.

The API is RPC over POST (https://developers.ashbyhq.com/reference/introduction): ``POST /<category>.<method>``
with a JSON body; the answer is ``{"success": true, "results": ...}`` or, with HTTP 200 too,
``{"success": false, "errors": [...], "errorInfo": {"code", "message"}}``: that is FetchFailed, not
retryable (retrying the same request cannot succeed), so the delivery is answered 503 with an error record.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from services.connectors.adapters import (
    NOTE_PAGES,
    AtsApi,
    CandidateFacts,
    FetchFailed,
    InterviewFacts,
    NoteTarget,
    Occurrence,
    texts_of,
)
from services.connectors.webhook_json import items, obj, optional_text, text, timestamp

# Ashby types contact details Personal, Work or Other: a personal address or number reaches the person.
_CONTACT_ORDER = ("Personal", "Other", "Work")
# A schedule event changed later than this after it was booked is a move (ats.interview.rescheduled).
RESCHEDULED_AFTER_S = 60.0


async def _answer(api: AtsApi, method: str, body: Mapping[str, Any]) -> Mapping[str, Any]:
    """Call one RPC method; its whole answer once it says success (FetchFailed with Ashby's code otherwise)."""
    answer = await api.request("POST", f"/{method}", json=dict(body))
    if not isinstance(answer, dict) or answer.get("success") is not True:
        info = answer.get("errorInfo") if isinstance(answer, dict) else None
        code = info.get("code") if isinstance(info, dict) else None
        raise FetchFailed(f"{method}: {code or 'success is not true'}", retryable=False)
    return answer


async def rpc(api: AtsApi, method: str, body: Mapping[str, Any]) -> Mapping[str, Any]:
    """Call one RPC method and return its `results` object."""
    results = (await _answer(api, method, body)).get("results")
    if not isinstance(results, dict):
        raise FetchFailed(f"{method}: no results object", retryable=False)
    return results


def _value(contact: Any) -> str | None:
    return optional_text(contact, "value") if isinstance(contact, dict) else None


def _best(primary: Any, others: list[Mapping[str, Any]]) -> str | None:
    """The primary address or number, else the most personal one listed."""
    ranked = sorted(others, key=lambda c: _CONTACT_ORDER.index(c["type"]) if c.get("type") in _CONTACT_ORDER else 3)
    return _value(primary) or next((v for c in ranked if (v := _value(c))), None)


async def candidate_facts(api: AtsApi, candidate: Mapping[str, Any]) -> CandidateFacts:
    """The candidate of a webhook; candidate.info only when its primary e-mail or phone is missing."""
    email, phone = _value(candidate.get("primaryEmailAddress")), _value(candidate.get("primaryPhoneNumber"))
    if email is None or phone is None:
        full = await rpc(api, "candidate.info", {"id": text(candidate, "id")})
        email = email or _best(full.get("primaryEmailAddress"), items(full, "emailAddresses"))
        phone = phone or _best(full.get("primaryPhoneNumber"), items(full, "phoneNumbers"))
    return CandidateFacts(ats_id=text(candidate, "id"), name=text(candidate, "name", ""), email=email, phone=phone)


async def occurrence_of(api: AtsApi, application: Mapping[str, Any], kind: str, at: datetime) -> Occurrence:
    """One of our events about an Ashby application (as a webhook or application.info carries it)."""
    facts = await candidate_facts(api, obj(application, "candidate"))
    job = application.get("job")
    stage = obj(application, "currentInterviewStage")
    application_id = text(application, "id")
    return Occurrence(
        type=kind,
        candidate=facts,
        application_id=application_id,
        job_title=(optional_text(job, "title") if isinstance(job, dict) else None) or "-",
        stage=text(stage, "title"),
        time=at,
        note_target=NoteTarget(candidate_id=facts.ats_id, application_id=application_id),
    )


def next_interview(schedule: Mapping[str, Any], at: datetime) -> tuple[InterviewFacts, bool] | None:
    """The schedule's earliest event not over at `at`, and whether it moved after it was booked."""
    upcoming = []
    for event in items(schedule, "interviewEvents"):
        start, end = timestamp(event.get("startTime")), timestamp(event.get("endTime"))
        if start is None or end is None or end <= start or end <= at:
            continue
        created, updated = timestamp(event.get("createdAt")), timestamp(event.get("updatedAt"))
        moved = (
            created is not None and updated is not None and (updated - created).total_seconds() > RESCHEDULED_AFTER_S
        )
        facts = InterviewFacts(
            id=text(event, "id"),
            start=start,
            end=end,
            location=optional_text(event, "location"),
            video_link=optional_text(event, "meetingLink"),
            sequence=int((updated or at).timestamp() * 1000),  # Ashby keeps no counter: the update time orders
        )
        upcoming.append((facts, moved))
    return min(upcoming, key=lambda pair: pair[0].start, default=None)


async def note_texts(api: AtsApi, candidate_id: str) -> list[str]:
    """The contents of a candidate's notes, page by page.

    candidate.listNotes (https://developers.ashbyhq.com/docs/candidatelistnotes): ``results`` of ``{"id",
    "createdAt", "content", ...}``, paged by ``cursor`` = ``nextCursor`` while ``moreDataAvailable``.
    """
    found: list[str] = []
    body: dict[str, Any] = {"candidateId": candidate_id, "limit": 100}
    for _ in range(NOTE_PAGES):
        answer = await _answer(api, "candidate.listNotes", body)
        found += texts_of(answer.get("results"), "content")
        if answer.get("moreDataAvailable") is not True or not isinstance(answer.get("nextCursor"), str):
            break
        body = {**body, "cursor": answer["nextCursor"]}
    return found
