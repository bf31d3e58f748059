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
  event ``ats.interview.scheduled``, else it is ``ats.stage.changed``. Interviews scheduled or moved later
  are found by the poller (interview_poller.py).
- ``interview_deleted`` ("fires when a scheduled interview is cancelled or the interview is deleted
  directly") carries ``interview.id`` only: one we told the candidate about becomes
  ``ats.interview.cancelled`` (the intake fills in what we remember of it), anything else produces nothing.
- ``offer_created`` and ``offer_updated`` carry the offer (``id``, ``application_id``, ``version``,
  ``sent_on``, ``offer_status``: Created, Accepted, Rejected or Deprecated). An offer is *extended* to the
  candidate once it is sent and still open: then ``ats.offer.extended`` (stage: the application's current
  stage, else our offer stage), once per offer id (a new version is a new offer); a draft, an offer
  waiting for approval or a resolved one produces nothing. The candidate is fetched from Harvest.
- Notes: Harvest POST /v1/candidates/{id}/activity_feed/notes with an ``On-Behalf-Of`` user (the connection's
  ``options.on_behalf_of``), basic auth with the API key as user name. Harvest allows 50 requests per 10 s.
  They are listed by GET /v1/candidates/{id}/activity_feed (https://developers.greenhouse.io/harvest.html
  #get-retrieve-activity-feed: ``{"notes": [{"body", ...}], "emails", "activities"}``, one answer).
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

from services.connectors.adapters import (
    AtsApi,
    FetchFailed,
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
    texts_of,
)
from services.connectors.greenhouse_harvest import (
    fetch_application,
    interview_event_key,
    interview_id,
    next_interview,
    occurrence_of,
)
from services.connectors.webhook_json import load_object, obj, text, timestamp

_MAPPED = {
    "new_candidate_application": "ats.application.received",
    "candidate_stage_change": "ats.stage.changed",
    "hire_candidate": "ats.candidate.hired",
    "reject_candidate": "ats.candidate.rejected",
}
_NOTHING = frozenset({"new_prospect_application"})
_OFFERS = frozenset({"offer_created", "offer_updated"})
_OPEN_OFFER = frozenset({"created", "unresolved"})  # the webhook's offer_status, and Harvest's status
_KNOWN = frozenset(_MAPPED) | _NOTHING | _OFFERS | {"interview_deleted"}


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
        if action not in _KNOWN:
            raise Rejected("unknown_event_type", action[:64])
        payload = obj(doc, "payload")
        # The header is documented on every delivery; a body hash keeps identical redeliveries apart otherwise.
        event = headers.get("greenhouse-event-id") or hashlib.sha256(body).hexdigest()
        if action == "interview_deleted":
            ref = interview_id(text(obj(payload, "interview"), "id"))
            return [WebhookItem(event_id=event, kind=action, payload=payload, interview_ref=ref)]
        if action in _OFFERS and _extended(payload):
            # Keyed by the offer, not the delivery: created and updated of one sent offer tell the candidate once.
            return [WebhookItem(event_id=f"offer/{text(payload, 'id')}", kind=action, payload=payload)]
        application = payload.get("application")
        when = timestamp(application.get("last_activity_at")) if isinstance(application, dict) else None
        return [WebhookItem(event_id=event, kind=action, payload=payload, occurred_at=when)]

    async def complete(self, item: WebhookItem, api: AtsApi) -> list[Occurrence]:
        """Map the application; a stage change looks for a scheduled interview through Harvest."""
        at = item.occurred_at or datetime.now(UTC)
        if item.kind == "interview_deleted":
            return await _cancellation(item, api, at)
        if item.kind in _OFFERS:
            return await _offer(item, api, at)
        if item.kind in _NOTHING or item.payload.get("application", {}).get("prospect") is True:
            return []
        application = obj(item.payload, "application")
        occurrence = occurrence_of(
            application, _MAPPED[item.kind], at, "Hired" if item.kind == "hire_candidate" else ""
        )
        if item.kind != "candidate_stage_change":
            return [occurrence]
        interview = await next_interview(api, occurrence.application_id, occurrence.time)
        if interview is None:
            return [occurrence]
        told = "ats.interview.scheduled"
        key = interview_event_key(told, interview)  # the poller may find the same version: one event
        return [replace(occurrence, type=told, interview=interview, part="iv", event_key=key)]

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


def _extended(offer: Mapping[str, Any]) -> bool:
    """Sent to the candidate and still open (not accepted, rejected or replaced by a new version)."""
    status = offer.get("offer_status")
    return isinstance(status, str) and status.lower() in _OPEN_OFFER and bool(offer.get("sent_on"))


async def _offer(item: WebhookItem, api: AtsApi, at: datetime) -> list[Occurrence]:
    """ats.offer.extended for an offer in the candidate's hands (parse keyed it by the offer); else nothing."""
    if not _extended(item.payload):
        return []
    application = await fetch_application(api, text(item.payload, "application_id"))
    if application.get("prospect") is True:
        return []
    return [occurrence_of(application, "ats.offer.extended", at, "Offer")]


async def _cancellation(item: WebhookItem, api: AtsApi, at: datetime) -> list[Occurrence]:
    """ats.interview.cancelled for an interview we told the candidate about that is still ahead; else nothing."""
    known = item.known_interview
    if known is None or known.cancelled or known.interview.end <= at:
        return []
    application = await fetch_application(api, known.application_id)
    # Greenhouse keeps no change counter: the cancellation comes after every version we sent.
    sequence = max(known.interview.sequence + 1, int((at + timedelta(seconds=1)).timestamp()))
    interview = replace(known.interview, sequence=sequence)
    return [replace(occurrence_of(application, "ats.interview.cancelled", at), interview=interview)]


ADAPTER = register(Greenhouse())
