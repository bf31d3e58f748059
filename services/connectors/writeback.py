"""Write-back: the state changes on notifications.status become notes on the candidate in their ATS.

Per batch: the states worth a note (settings.note_states) of candidates a webhook linked to an ATS, minus
those already written (key: notification id and state); one note per candidate; notes of different
connections go out concurrently, each connection paced by its ATS's documented limit (AtsClient). A note
is marked written only after the ATS accepted it. An ATS that keeps failing is retried in rounds with a
growing pause (the partition waits: nothing is skipped); after settings.writeback_rounds the note is kept
as an error record (connector_errors, writeback_failed) and the batch moves on. The window that cannot be
closed: the ATS accepted a note and we crashed before marking it, so the redelivery writes it again.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Mapping, Sequence
from datetime import datetime
from typing import TypeVar

from schemas.status import NotificationStatusEvent, StatusChange
from services.common.kafka import Record
from services.connectors.adapters import Adapter, AtsApi, FetchFailed
from services.connectors.metrics import ConnectorMetrics
from services.connectors.notes import note_key, note_text
from services.connectors.settings import ConnectorSettings
from services.connectors.store import ConnectorStore, ErrorRecord, Link

log = logging.getLogger(__name__)
MAX_ROUND_PAUSE_S = 60.0


T = TypeVar("T")


class NoteWriter:
    """Notes on candidates in their ATS, for any kind of item (status changes, preference versions).

    Keeps items of linked candidates not written yet (by key), writes one note per candidate (connections
    concurrently, each paced by its AtsClient), marks the keys written once the ATS accepted the note.
    """

    def __init__(
        self,
        settings: ConnectorSettings,
        adapters: Mapping[str, Adapter],
        apis: Mapping[str, AtsApi],
        store: ConnectorStore,
        metrics: ConnectorMetrics,
        clock: Callable[[], datetime],
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self._settings = settings
        self._adapters = adapters
        self._apis = apis
        self._store = store
        self._metrics = metrics
        self._clock = clock
        self._sleep = sleep

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
            await self._write(connection, link, list(group), text_of(list(group.values())))

    async def _write(self, connection: str, link: Link, keys: list[str], text: str) -> None:
        """One note, retried in rounds; marked written once the ATS took it, else an error record."""
        if self._settings.connection(connection) is None:  # removed from the configuration: no notes
            return
        adapter = self._adapters[self._settings.ats_of(connection)]
        reason = ""
        for round_ in range(1, self._settings.writeback_rounds + 1):
            try:
                await adapter.write_note(self._apis[connection.lower()], link.target, text)
            except FetchFailed as exc:
                reason = exc.reason
                if not exc.retryable:
                    break
                pause = min(MAX_ROUND_PAUSE_S, self._settings.api_backoff_s * 4**round_)
                log.warning("note not written; retrying", extra={"connection": connection, "round": round_})
                await self._sleep(pause)
                continue
            await self._store.mark_written(keys, self._clock())
            self._metrics.notes.labels(connection, "written").inc()
            return
        self._metrics.errors.labels(connection, "writeback_failed").inc()
        log.error("note not written; kept as an error record", extra={"connection": connection, "reason": reason})
        await self._store.error(ErrorRecord("writeback_failed", connection, reason, ",".join(keys), self._clock()))


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
