"""Greenhouse's scheduled interviews, polled: it has no "interview scheduled" web hook (grnhse/greenhouse-api-docs#219).

Every CONNECTORS_INTERVIEW_POLL_S, per Greenhouse connection: GET /v1/scheduled_interviews?updated_after=
<cursor> (https://developers.greenhouse.io/harvest.html#get-list-scheduled-interviews), every page by the
``Link: rel="next"`` header as Harvest's pagination section asks. Each listed interview version (id +
updated_at) is taken once (connector_deliveries, like a webhook's event id); one we never told about becomes
``ats.interview.scheduled``, one whose time or place moved ``ats.interview.rescheduled`` (see
greenhouse_harvest.interview_change). Cancellations come from the ``interview_deleted`` web hook: a deleted
interview is no longer listed.

Only candidates the connection already knows (a web hook linked them) are told: an interview of any other
application is taken and skipped, so a first poll never writes to people who applied before the connector
was installed. The candidate's contact data is fetched from Harvest for each message (never stored here). An
interview Harvest refuses to say more about (its application answers 404) is kept as an error record and
skipped.

The cursor (Harvest's own ``updated_at`` of the newest interview read, so our clock does not matter) is kept in
connector_cursors and moves only after a round went through: when Harvest fails (after the client's retries)
an error record is kept and the next round reads the same interviews again; those already taken are skipped.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any

from services.connectors.adapters import FetchFailed, KnownInterview, Rejected
from services.connectors.cloudevents import validate
from services.connectors.greenhouse_harvest import (
    interview_change,
    interview_event_key,
    interview_facts,
    interview_id,
    occurrence_of,
    read_application,
    with_candidate,
)
from services.connectors.intake import EventProducer, known_interview, record_error
from services.connectors.mapping import UnmappedStage, candidate_id, to_cloudevent
from services.connectors.parts import Parts, UsesParts
from services.connectors.store import ErrorRecord, Link
from services.connectors.webhook_json import timestamp

log = logging.getLogger(__name__)
PATH = "/v1/scheduled_interviews"
# A first start reads from about now: further back it would re-announce interviews the stage-change path of an
# earlier version already told about (nothing remembered them then); the margin covers clock skew with Harvest.
FIRST_LOOKBACK = timedelta(minutes=5)
PER_PAGE = "500"  # Harvest's maximum


@dataclass
class Round:
    """What one poll of one connection found: events to produce and what to remember once they are out."""

    keys: list[str] = field(default_factory=list)
    events: list[dict[str, Any]] = field(default_factory=list)
    links: list[Link] = field(default_factory=list)
    told: list[KnownInterview] = field(default_factory=list)


class InterviewPoller(UsesParts):
    """Polls each Greenhouse connection's scheduled interviews and puts what changed on ats.events."""

    def __init__(self, parts: Parts, producer: EventProducer) -> None:
        super().__init__(parts)
        self._producer = producer
        self.connections = [n for n in parts.settings.connections if parts.settings.ats_of(n) == "greenhouse"]

    async def poll_all(self) -> None:
        """One round over every Greenhouse connection (one failing does not stop the others)."""
        for name in self.connections:
            try:
                await self.poll(name)
            except Exception:  # Kafka or MongoDB: nothing was taken, the next round tries again
                log.exception("interview poll failed", extra={"connection": name})

    async def poll(self, name: str) -> int:
        """One round for one connection; the number of events produced."""
        key = f"{name}/scheduled_interviews"
        now = self._clock()
        since = await self._store.cursor(key) or (now - FIRST_LOOKBACK).isoformat()
        try:
            listed = await self._list(name, since)
            found = await self._round(name, listed, now)
        except FetchFailed as exc:
            await self._failed(name, exc.reason, "scheduled_interviews")
            return 0
        if found.events:
            await self._store.link(found.links)  # first: a note can be written as soon as a status comes back
            await self._producer.produce(found.events)
            await self._store.remember_interviews(found.told)
        await self._store.taken(name, found.keys, now)
        newest = max((str(iv["updated_at"]) for iv in listed), key=_instant, default=since)
        await self._store.move_cursor(key, newest)  # updated_after is inclusive: the newest is re-read, and skipped
        self._metrics.produced.labels("poller").inc(len(found.events))
        return len(found.events)

    async def _list(self, name: str, since: str) -> list[dict[str, Any]]:
        """Every interview updated at or after `since`, across Harvest's pages."""
        listed: list[dict[str, Any]] = []
        async for page in self._apis[name].pages(PATH, {"updated_after": since, "per_page": PER_PAGE}):
            if not isinstance(page, list):
                raise FetchFailed("scheduled_interviews: not a list", retryable=False)
            listed += [iv for iv in page if isinstance(iv, dict) and iv.get("id") is not None and iv.get("updated_at")]
        return listed

    async def _round(self, name: str, listed: list[dict[str, Any]], now: datetime) -> Round:
        """The events for the interview versions not taken yet (FetchFailed when Harvest fails)."""
        versions = {f"si/{iv['id']}/{iv['updated_at']}": iv for iv in listed}
        seen = await self._store.seen(name, list(versions))
        fresh = {k: iv for k, iv in versions.items() if k not in seen}
        known = await self._store.known_interviews(name, [interview_id(iv["id"]) for iv in fresh.values()])
        found = Round()
        for key, iv in fresh.items():
            kind = interview_change(iv, known.get(interview_id(iv["id"])), now)
            try:
                if kind is not None:
                    await self._add(name, key, iv, kind, found)
            except FetchFailed as exc:
                if exc.retryable:
                    raise  # Harvest is down: the whole round again later
                await self._failed(name, exc.reason, key)  # Harvest refuses this one (e.g. a deleted application)
            found.keys.append(key)
        return found

    async def _add(self, name: str, key: str, iv: Mapping[str, Any], kind: str, found: Round) -> None:
        """The event for one interview version, if its candidate is linked to this connection."""
        api = self._apis[name]
        application = await read_application(api, str(iv.get("application_id")))
        cid = candidate_id(name, str(application["candidate_id"]))
        link = (await self._store.links([cid])).get(cid)
        if link is None or link.connection != name or application.get("prospect") is True:
            return  # not a candidate this connection knows: nobody to tell
        conn = self._settings.connections[name]
        at = timestamp(iv["updated_at"]) or self._clock()
        try:
            facts = interview_facts(iv)
            occ = replace(
                occurrence_of(await with_candidate(api, application), kind, at),
                interview=facts,
                part="iv",
                # The stage-change web hook may find the same version at the same moment: then one event.
                event_key=interview_event_key(kind, facts) if facts is not None else None,
            )
            event = to_cloudevent(name, conn, key, occ, self._settings.source)
        except (Rejected, UnmappedStage) as exc:
            await self._failed(name, str(exc), key, kind="invalid_event")
            return
        if problems := validate([event]):
            await self._failed(name, "; ".join(f"{p.field}: {p.message}" for p in problems[:5]), key, "invalid_event")
            return
        found.events.append(event)
        found.links.append(Link(cid, name, occ.note_target))
        found.told.append(known_interview(name, occ))

    async def _failed(self, name: str, reason: str, ref: str, kind: str = "fetch_failed") -> None:
        """Keep an error record for an operator (ids and reasons only)."""
        await record_error(self._store, self._metrics, ErrorRecord(kind, name, reason, ref, self._clock()))


def _instant(value: str) -> datetime:
    """A Harvest timestamp for ordering (an unreadable one sorts first)."""
    return timestamp(value) or datetime.min.replace(tzinfo=UTC)
