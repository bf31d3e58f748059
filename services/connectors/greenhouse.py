"""Greenhouse Recruiting: its web hooks in, Harvest API notes out.

Documents followed (https://developers.greenhouse.io/webhooks.html, source grnhse/greenhouse-api-docs):
- Every delivery has ``Signature: sha256 <hex>``, the HMAC-SHA256 of the whole raw body under the web hook's
  secret key, and a ``Greenhouse-Event-ID`` header unique per delivery (our dedupe key). No time is signed,
  so there is no replay window beyond the dedupe of event ids.
- Saving a web hook sends ``{"action": "ping", ...}``; the events mapped are ``new_candidate_application``,
  ``candidate_stage_change``, ``hire_candidate`` and ``reject_candidate`` (``new_prospect_application`` is
  known and produces nothing: a prospect has not applied). The payload carries ``application`` with its
  ``candidate`` (``email_addresses[]``, ``phone_numbers[]``), ``jobs[]`` and ``current_stage``.
- There is no "interview scheduled" web hook: on a stage change the application's scheduled interviews
  are fetched from Harvest (GET /v1/applications/{id}/scheduled_interviews); one still ahead makes the
  event ``ats.interview.scheduled``, else it is ``ats.stage.changed``.
- Notes: Harvest POST /v1/candidates/{id}/activity_feed/notes with an ``On-Behalf-Of`` user (the connection's
  ``options.on_behalf_of``), basic auth with the API key as user name. Harvest allows 50 requests per 10 s.
  They are listed by GET /v1/candidates/{id}/activity_feed (https://developers.greenhouse.io/harvest.html
  #get-retrieve-activity-feed: ``{"notes": [{"body", ...}], "emails", "activities"}``, one answer).
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

from services.connectors.adapters import (
    AtsApi,
    CandidateFacts,
    FetchFailed,
    Headers,
    InterviewFacts,
    NoteTarget,
    Occurrence,
    Ping,
    RateLimit,
    Rejected,
    WebhookItem,
    basic_auth,
    check_body_hmac,
    register,
    texts_of,
)
from services.connectors.webhook_json import items, load_object, obj, optional_text, text, timestamp

_MAPPED = {
    "new_candidate_application": "ats.application.received",
    "candidate_stage_change": "ats.stage.changed",
    "hire_candidate": "ats.candidate.hired",
    "reject_candidate": "ats.candidate.rejected",
}
_NOTHING = frozenset({"new_prospect_application"})


class Greenhouse:
    """The Greenhouse adapter (see the module docstring for the documents it follows)."""

    name = "greenhouse"
    limits = RateLimit(requests=50, per_seconds=10.0)
    doc_url = "https://developers.greenhouse.io/webhooks.html"

    def auth_headers(self, api_key: str) -> dict[str, str]:
        """Harvest: HTTP basic auth, the API key as user name and an empty password."""
        return basic_auth(api_key)

    def verify(self, headers: Headers, body: bytes, secret: str, now: datetime) -> None:
        """Signature: '<algorithm> <hex digest>' over the raw body (Unicode escaped as sent)."""
        check_body_hmac(headers.get("signature"), secret, body, " ")

    def parse(self, headers: Headers, body: bytes) -> Ping | list[WebhookItem]:
        """The ping, or the one event of the delivery keyed by its Greenhouse-Event-ID."""
        doc = load_object(body)
        action = text(doc, "action")
        if action == "ping":
            return Ping("greenhouse ping")
        if action not in _MAPPED and action not in _NOTHING:
            raise Rejected("unknown_event_type", action[:64])
        payload = obj(doc, "payload")
        # The header is documented on every delivery; a body hash keeps identical redeliveries apart otherwise.
        event = headers.get("greenhouse-event-id") or hashlib.sha256(body).hexdigest()
        application = payload.get("application")
        when = timestamp(application.get("last_activity_at")) if isinstance(application, dict) else None
        return [WebhookItem(event_id=event, kind=action, payload=payload, occurred_at=when)]

    async def complete(self, item: WebhookItem, api: AtsApi) -> list[Occurrence]:
        """Map the application; a stage change looks for a scheduled interview through Harvest."""
        if item.kind in _NOTHING or item.payload.get("application", {}).get("prospect") is True:
            return []
        application = obj(item.payload, "application")
        occurrence = _occurrence(item, application, _MAPPED[item.kind])
        if item.kind != "candidate_stage_change":
            return [occurrence]
        interview = await _next_interview(api, occurrence.application_id, occurrence.time)
        if interview is None:
            return [occurrence]
        return [replace(occurrence, type="ats.interview.scheduled", interview=interview, part="iv")]

    async def write_note(self, api: AtsApi, target: NoteTarget, text: str) -> None:
        """A private activity-feed note on the candidate, written on behalf of the configured user."""
        user = api.options.get("on_behalf_of", "")
        body: dict[str, Any] = {"body": text, "visibility": "admin_only"}
        if user:
            body["user_id"] = int(user) if user.isdigit() else user
        await api.request(
            "POST",
            f"/v1/candidates/{target.candidate_id}/activity_feed/notes",
            json=body,
            headers={"On-Behalf-Of": user} if user else None,
        )

    async def note_texts(self, api: AtsApi, target: NoteTarget) -> list[str]:
        """The bodies of the notes on the candidate's activity feed."""
        feed = await api.request("GET", f"/v1/candidates/{target.candidate_id}/activity_feed")
        if not isinstance(feed, dict):
            raise FetchFailed("activity_feed: not an object")
        return texts_of(feed.get("notes"), "body")


def _occurrence(item: WebhookItem, application: Mapping[str, Any], kind: str) -> Occurrence:
    candidate = obj(application, "candidate")
    jobs = items(application, "jobs") or ([application["job"]] if isinstance(application.get("job"), dict) else [])
    stage = application.get("current_stage")
    stage_name = text(stage, "name") if isinstance(stage, dict) else {"hire_candidate": "Hired"}.get(item.kind, "")
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
        time=item.occurred_at or datetime.now(UTC),
        note_target=NoteTarget(candidate_id=facts.ats_id, application_id=application_id),
    )


def _preferred(values: list[Mapping[str, Any]], order: tuple[str, ...]) -> str | None:
    """The value of the most suitable type (a mobile number before a work number, ...)."""
    ranked = sorted(values, key=lambda v: order.index(v.get("type")) if v.get("type") in order else len(order))
    return next((str(v["value"]) for v in ranked if isinstance(v.get("value"), str) and v["value"]), None)


async def _next_interview(api: AtsApi, application_id: str, now: datetime) -> InterviewFacts | None:
    """The application's earliest interview still ahead and scheduled, from Harvest."""
    found = await api.request("GET", f"/v1/applications/{application_id}/scheduled_interviews")
    if not isinstance(found, list):
        raise FetchFailed("scheduled_interviews: not a list")
    ahead = []
    for iv in found:
        start = timestamp((iv.get("start") or {}).get("date_time")) if isinstance(iv, dict) else None
        end = timestamp((iv.get("end") or {}).get("date_time")) if isinstance(iv, dict) else None
        if start is None or end is None or end <= start or iv.get("status") != "scheduled" or start < now:
            continue
        updated = timestamp(iv.get("updated_at"))
        ahead.append(
            InterviewFacts(
                id=f"gh-{iv.get('id')}",
                start=start,
                end=end,
                location=optional_text(iv, "location"),
                video_link=optional_text(iv, "video_conferencing_url"),
                sequence=int(updated.timestamp()) if updated else 0,
            )
        )
    return min(ahead, key=lambda iv: iv.start, default=None)


ADAPTER = register(Greenhouse())
