"""Write-back: the state changes on notifications.status become notes on the candidate in their ATS.

Per batch: the states worth a note (settings.note_states) of candidates a webhook linked to an ATS, minus
those already written (key: notification id and state); one note per candidate; notes of different
connections go out concurrently, each connection paced by its ATS's documented limit (AtsClient). An ATS
that keeps failing is retried in rounds with a growing pause (the partition waits: nothing is skipped);
after settings.writeback_rounds the note is kept as an error record (connector_errors, writeback_failed).

Exactly once, crashes included. Every note ends with a marker of its keys (notes.note_marker: a hash, no
personal data). Before the ATS is called, the keys are recorded as attempted with that marker; once the ATS
accepted the note they are marked written. A key with an attempt but no "written" mark was sent before
(a crash, or a timeout that hid an accepted note): its candidate's notes are listed through the ATS's list
endpoint (Adapter.note_texts) and the keys whose marker is there are marked written, not sent again
(outcome "recovered"); the rest go out in a new note with a new marker. A list the ATS will not show is
retried like a failed note and then kept as an error record: never a blind second write. What stays open: an
ATS whose list lags behind its writes by longer than our restart, or a note deleted in the ATS (then it is
written again).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import TypeVar

from schemas.status import NotificationStatusEvent, StatusChange
from services.common.failpoints import CrashPoints
from services.common.kafka import Record
from services.connectors.adapters import Adapter, AtsApi, FetchFailed
from services.connectors.notes import note_key, note_marker, note_text, with_marker
from services.connectors.parts import Parts, UsesParts
from services.connectors.store import ErrorRecord, Link

log = logging.getLogger(__name__)
MAX_ROUND_PAUSE_S = 60.0


T = TypeVar("T")


class NoteWriter(UsesParts):
    """Notes on candidates in their ATS, for any kind of item (status changes, preference versions).

    Keeps items of linked candidates not written yet (by key), writes one note per candidate (connections
    concurrently, each paced by its AtsClient), marks the keys written once the ATS accepted the note.
    """

    def __init__(self, parts: Parts, sleep: Callable[[float], Awaitable[None]] = asyncio.sleep) -> None:
        super().__init__(parts)
        self._sleep = sleep
        self._crash = CrashPoints(parts.settings.crash_at)

    async def write(
        self, items: Mapping[str, T], candidate_of: Callable[[T], str], text_of: Callable[[list[T]], str]
    ) -> None:
        """Write the notes these items (by idempotency key) ask for."""
        if not items:
            return
        links = await self._store.links({candidate_of(i) for i in items.values()})
        wanted = {k: i for k, i in items.items() if candidate_of(i) in links}
        done = await self._store.written(list(wanted))
        for key in done:
            self._metrics.notes.labels(links[candidate_of(wanted[key])].connection, "duplicate").inc()
        by_candidate: dict[str, dict[str, T]] = {}
        for key, item in wanted.items():
            if key not in done:
                by_candidate.setdefault(candidate_of(item), {})[key] = item
        by_connection: dict[str, list[tuple[Link, dict[str, T]]]] = {}
        for cid, group in by_candidate.items():
            by_connection.setdefault(links[cid].connection, []).append((links[cid], group))
        await asyncio.gather(*(self._write_all(conn, notes, text_of) for conn, notes in by_connection.items()))

    async def _write_all(
        self, connection: str, notes: Sequence[tuple[Link, dict[str, T]]], text_of: Callable[[list[T]], str]
    ) -> None:
        for link, group in notes:
            await self._write(connection, link, group, text_of)

    async def _write(self, connection: str, link: Link, group: dict[str, T], text_of: Callable[[list[T]], str]) -> None:
        """One note, retried in rounds; marked written once the ATS took it, else an error record."""
        if self._settings.connection(connection) is None:  # removed from the configuration: no notes
            return
        adapter = self._adapters[self._settings.ats_of(connection)]
        api = self._apis[connection.lower()]
        reason = ""
        for round_ in range(1, self._settings.writeback_rounds + 1):
            try:
                await self._send(connection, adapter, api, link, group, text_of)
            except FetchFailed as exc:
                reason = exc.reason
                if not exc.retryable:
                    break
                pause = min(MAX_ROUND_PAUSE_S, self._settings.api_backoff_s * 4**round_)
                log.warning("note not written; retrying", extra={"connection": connection, "round": round_})
                await self._sleep(pause)
                continue
            return
        self._metrics.errors.labels(connection, "writeback_failed").inc()
        log.error("note not written; kept as an error record", extra={"connection": connection, "reason": reason})
        await self._store.error(ErrorRecord("writeback_failed", connection, reason, ",".join(group), self._clock()))

    async def _send(
        self,
        connection: str,
        adapter: Adapter,
        api: AtsApi,
        link: Link,
        group: dict[str, T],
        text_of: Callable[[list[T]], str],
    ) -> None:
        """The keys not in the ATS yet, as one note with their marker: attempted, sent, marked written."""
        keys = await self._not_in_ats(connection, adapter, api, link, list(group))
        if not keys:
            return
        marker = note_marker(keys)
        await self._store.attempt(keys, marker, self._clock())
        self._crash.reached("after_attempt")
        await adapter.write_note(api, link.target, with_marker(text_of([group[k] for k in keys]), marker))
        self._crash.reached("after_note")  # the window the attempt closes: the ATS has it, our mark is not written
        await self._store.mark_written(keys, self._clock())
        self._metrics.notes.labels(connection, "written").inc()

    async def _not_in_ats(
        self, connection: str, adapter: Adapter, api: AtsApi, link: Link, keys: list[str]
    ) -> list[str]:
        """The keys to send: those attempted before whose note the ATS lists are marked written instead."""
        attempted = await self._store.attempts(keys)
        if not attempted:
            return keys
        texts = await adapter.note_texts(api, link.target)
        there = [k for k, markers in attempted.items() if any(m in t for m in markers for t in texts)]
        if there:
            await self._store.mark_written(there, self._clock())
            self._metrics.notes.labels(connection, "recovered").inc()
            log.warning("a note sent before a restart is in the ATS: not sent again", extra={"connection": connection})
        return [k for k in keys if k not in there]


class WriteBack:
    """The consumer side of the connector service: notes from notifications.status."""

    def __init__(self, notes: NoteWriter, note_states: Sequence[str]) -> None:
        self._notes = notes
        self._states = frozenset(note_states)

    async def on_statuses(self, batch: list[tuple[Record, NotificationStatusEvent]]) -> None:
        """Write the notes one batch of notifications.status asks for."""
        changes = {note_key(e.data): e.data for _, e in batch if e.data.status.value in self._states}
        await self._notes.write(changes, _candidate, note_text)


def _candidate(change: StatusChange) -> str:
    return change.candidate_id
