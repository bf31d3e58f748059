"""Ashby: its webhooks in (rich payloads; only missing contact data is fetched), candidate notes out.

Documents followed (https://developers.ashbyhq.com: docs/authenticating-webhooks, docs/setting-up-webhooks,
docs/retries, the webhook payload reference and the API reference for application.info, candidate.info and
candidate.createNote):
- ``Ashby-Signature: sha256=<hex>``, the HMAC-SHA256 of the raw body under the webhook's secret token. No
  time is signed: replays are stopped by the dedupe of event ids.
- A delivery is ``{"action", "data", ...}``; saving a webhook sends ``action: ping``. Ashby retries failures
  (up to 10 tries, growing pauses) but never after 401, 403, 404, 405 or 410. A retry repeats the delivery's
  ``webhookActionId``: our dedupe key (a hash of the body when it is absent). Schedules are keyed by their
  own id, status and update time instead, because interviewScheduleCreate also triggers an
  interviewScheduleUpdate with the same content: both are one event to us.
- Mapped: applicationSubmit (received; a Lead has not applied: nothing), candidateStageChange (stage
  changed; status Archived: rejected; Hired: nothing, candidateHire carries it), candidateHire (hired),
  interviewScheduleCreate/Update (Scheduled: scheduled, or rescheduled when the event moved after it was
  booked; Cancelled: cancelled; other statuses: nothing). Application payloads carry the candidate, job and
  stage; candidate.info is called only when the primary e-mail or phone is missing; schedules carry ids, so
  application.info is called.
- Notes: candidate.createNote with a text/plain note; candidate.listNotes lists them. Basic auth, the API
  key as user name. Ashby answers 429 with Retry-After above its per-key limit (it publishes no number): we
  pace at 5 requests a second.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

from services.connectors.adapters import (
    AtsApi,
    Headers,
    NoteTarget,
    Occurrence,
    Ping,
    RateLimit,
    Rejected,
    WebhookItem,
    basic_auth,
    check_body_hmac,
    register,
)
from services.connectors.ashby_fetch import next_interview, note_texts, occurrence_of, rpc
from services.connectors.webhook_json import load_object, obj, optional_text, text, timestamp

_MAPPED = {
    "applicationSubmit": "ats.application.received",
    "candidateStageChange": "ats.stage.changed",
    "candidateHire": "ats.candidate.hired",
    "interviewScheduleCreate": "ats.interview.scheduled",
    "interviewScheduleUpdate": "ats.interview.scheduled",
}
_SCHEDULES = frozenset({"interviewScheduleCreate", "interviewScheduleUpdate"})


def event_key(action: str, doc: Mapping[str, Any], body: bytes) -> str:
    """The dedupe key of a delivery (see the module docstring)."""
    if action in _SCHEDULES:
        schedule = obj(obj(doc, "data"), "interviewSchedule")
        status, updated = text(schedule, "status"), optional_text(schedule, "updatedAt") or ""
        return f"interviewSchedule/{text(schedule, 'id')}/{status}/{updated}"
    action_id = optional_text(doc, "webhookActionId")
    return action_id or f"sha256:{hashlib.sha256(body).hexdigest()}"


class Ashby:
    """The Ashby adapter (see the module docstring for the documents it follows)."""

    name = "ashby"
    limits = RateLimit(requests=50, per_seconds=10.0)
    doc_url = "https://developers.ashbyhq.com/docs/authenticating-webhooks"

    def auth_headers(self, api_key: str) -> dict[str, str]:
        """Basic auth: the API key as user name, an empty password."""
        return basic_auth(api_key)

    def verify(self, headers: Headers, body: bytes, secret: str, now: datetime) -> None:
        """Ashby-Signature: 'sha256=<hex HMAC-SHA256 of the raw body>'."""
        check_body_hmac(headers.get("ashby-signature"), secret, body, "=")

    def parse(self, headers: Headers, body: bytes) -> Ping | list[WebhookItem]:
        """The ping, or the one event of the delivery with its dedupe key."""
        doc = load_object(body)
        action = text(doc, "action")
        if action == "ping":
            return Ping("ashby ping")
        if action not in _MAPPED:
            raise Rejected("unknown_event_type", action[:64])
        data = obj(doc, "data")
        subject = data.get("interviewSchedule") if action in _SCHEDULES else data.get("application")
        at = timestamp(subject.get("updatedAt")) if isinstance(subject, dict) else None
        return [WebhookItem(event_id=event_key(action, doc, body), kind=action, payload=data, occurred_at=at)]

    async def complete(self, item: WebhookItem, api: AtsApi) -> list[Occurrence]:
        """Map the application (or the schedule's application, read with application.info)."""
        at = item.occurred_at or datetime.now(UTC)
        if item.kind in _SCHEDULES:
            return await _schedule(obj(item.payload, "interviewSchedule"), api, at)
        application = obj(item.payload, "application")
        status = text(application, "status")
        kind = _MAPPED[item.kind]
        if status == "Lead" or (item.kind == "candidateStageChange" and status == "Hired"):
            return []
        if item.kind == "candidateStageChange" and status == "Archived":
            kind = "ats.candidate.rejected"
        return [await occurrence_of(api, application, kind, at)]

    async def write_note(self, api: AtsApi, target: NoteTarget, text: str) -> None:
        """A plain-text note on the candidate, without notifying Ashby users."""
        note = {"type": "text/plain", "value": text}
        await rpc(
            api, "candidate.createNote", {"candidateId": target.candidate_id, "note": note, "sendNotifications": False}
        )

    async def note_texts(self, api: AtsApi, target: NoteTarget) -> list[str]:
        """The contents of the candidate's notes."""
        return await note_texts(api, target.candidate_id)


async def _schedule(schedule: Mapping[str, Any], api: AtsApi, at: datetime) -> list[Occurrence]:
    """A schedule's next interview, as scheduled, rescheduled or cancelled; nothing in other statuses."""
    status = text(schedule, "status")
    if status not in ("Scheduled", "Cancelled"):
        return []  # still being arranged, or done: nothing to tell the candidate yet
    found = next_interview(schedule, at)
    if found is None:
        return []  # no event ahead (a cancellation without events cannot name a time)
    interview, moved = found
    kind = "ats.interview.cancelled" if status == "Cancelled" else "ats.interview.scheduled"
    if status == "Scheduled" and moved:
        kind = "ats.interview.rescheduled"
    application = await rpc(api, "application.info", {"applicationId": text(schedule, "applicationId")})
    occurrence = await occurrence_of(api, application, kind, at)
    return [replace(occurrence, interview=interview)]


ADAPTER = register(Ashby())
