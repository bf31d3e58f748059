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

from schemas.status import NotificationStatusEvent, StatusChange
from services.common.kafka import Record
from services.connectors.adapters import Adapter, AtsApi, FetchFailed
from services.connectors.metrics import ConnectorMetrics
from services.connectors.notes import note_key, note_text
from services.connectors.settings import ConnectorSettings
from services.connectors.store import ConnectorStore, ErrorRecord, Link

log = logging.getLogger(__name__)
MAX_ROUND_PAUSE_S = 60.0


class WriteBack:
    """The consumer side of the connector service."""

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
        self._states = frozenset(settings.note_states)

    async def on_statuses(self, batch: list[tuple[Record, NotificationStatusEvent]]) -> None:
        """Write the notes one batch of notifications.status asks for."""
        changes = {note_key(e.data): e.data for _, e in batch if e.data.status.value in self._states}
        if not changes:
            return
        links = await self._store.links({c.candidate_id for c in changes.values()})
        changes = {k: c for k, c in changes.items() if c.candidate_id in links}
        done = await self._store.written(list(changes))
        for key in done:
            self._metrics.notes.labels(links[changes[key].candidate_id].connection, "duplicate").inc()
        by_candidate: dict[str, list[StatusChange]] = {}
        for key, change in changes.items():
            if key not in done:
                by_candidate.setdefault(change.candidate_id, []).append(change)
        by_connection: dict[str, list[tuple[Link, list[StatusChange]]]] = {}
        for cid, group in by_candidate.items():
            by_connection.setdefault(links[cid].connection, []).append((links[cid], group))
        await asyncio.gather(*(self._write_all(conn, notes) for conn, notes in by_connection.items()))

    async def _write_all(self, connection: str, notes: Sequence[tuple[Link, list[StatusChange]]]) -> None:
        for link, group in notes:
            await self._write(connection, link, group)

    async def _write(self, connection: str, link: Link, group: list[StatusChange]) -> None:
        """One note, retried in rounds; marked written once the ATS took it, else an error record."""
        conn = self._settings.connection(connection)
        if conn is None:  # a connection removed from the configuration: its candidates get no notes
            return
        adapter = self._adapters[self._settings.ats_of(connection)]
        keys = [note_key(c) for c in group]
        reason = ""
        for round_ in range(1, self._settings.writeback_rounds + 1):
            try:
                await adapter.write_note(self._apis[connection.lower()], link.target, note_text(group))
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
