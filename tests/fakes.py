"""In-memory fakes that satisfy the stores' and publishers' Protocols (for unit and handler tests)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import replace
from datetime import datetime

from schemas.preferences import PreferenceSnapshot
from services.preference.domain import Proposed
from services.preference.lifecycle import ApplicationEvent
from services.preference.store import Erasure, HistoryEntry, Suppression


class FakePreferenceStore:
    """PreferenceStore in memory, with the same single-document semantics."""

    def __init__(self) -> None:
        self.docs: dict[str, dict[str, object]] = {}
        self.history_rows: dict[tuple[str, int], HistoryEntry] = {}
        self.erased: dict[str, Suppression] = {}  # suppression key -> what an erasure kept
        self.apps: dict[str, ApplicationEvent] = {}

    async def get(self, candidate_id: str) -> PreferenceSnapshot | None:
        doc = self.docs.get(candidate_id)
        return doc["snapshot"] if doc else None  # type: ignore[return-value]

    async def insert_new(self, proposed: Proposed) -> bool:
        cid = proposed.snapshot.candidate_id
        if cid in self.docs:
            return False
        self.docs[cid] = {"snapshot": proposed.snapshot, "outbox": [proposed], "published": 0}
        return True

    async def insert_new_many(self, proposals: list[Proposed]) -> set[str]:
        return {p.snapshot.candidate_id for p in proposals if await self.insert_new(p)}

    async def finish_publication_many(self, versions: dict[str, int]) -> set[str]:
        return {cid for cid, v in versions.items() if not await self.finish_publication(cid, v)}

    async def replace_if_version(self, expected_version: int, proposed: Proposed) -> bool:
        doc = self.docs.get(proposed.snapshot.candidate_id)
        if doc is None or doc["snapshot"].version != expected_version:  # type: ignore[attr-defined]
            return False
        doc["snapshot"] = proposed.snapshot
        doc["outbox"].append(proposed)  # type: ignore[attr-defined]
        return True

    async def finish_publication(self, candidate_id: str, version: int) -> bool:
        doc = self.docs.get(candidate_id)
        if doc is None:
            return True
        done = [p for p in doc["outbox"] if p.snapshot.version <= version]  # type: ignore[attr-defined]
        for p in done:
            self.history_rows.setdefault(
                (candidate_id, p.snapshot.version),
                HistoryEntry(candidate_id, p.snapshot.version, p.snapshot.updated_at, p.source, p.summary, p.changes),
            )
        doc["outbox"] = [p for p in doc["outbox"] if p not in done]  # type: ignore[attr-defined]
        if doc["published"] < version:  # type: ignore[operator]
            doc["published"] = version
            return True
        return doc["published"] == version

    def awaiting_publication(self, candidate_id: str, version: int) -> bool:
        doc = self.docs.get(candidate_id)
        return doc is not None and any(p.snapshot.version == version for p in doc["outbox"])  # type: ignore[attr-defined]

    def forget_unconfirmed(self, candidate_id: str, up_to: int) -> None:
        doc = self.docs.get(candidate_id)
        if doc is not None:
            doc["outbox"] = [p for p in doc["outbox"] if p.snapshot.version > up_to]  # type: ignore[attr-defined]

    async def pending_outbox(self, older_than: datetime, limit: int) -> list[str]:
        return [c for c, d in self.docs.items() if d["outbox"]][:limit]

    async def history(self, candidate_id: str) -> list[HistoryEntry]:
        return [h for (c, _), h in sorted(self.history_rows.items()) if c == candidate_id]

    async def erase(self, candidate_id: str, suppression_key: str, at: datetime) -> Erasure:
        self.history_rows = {k: v for k, v in self.history_rows.items() if k[0] != candidate_id}
        doc = self.docs.pop(candidate_id, None)
        latest = doc["snapshot"].version if doc else 0  # type: ignore[attr-defined]
        prior = self.erased.get(suppression_key)
        version = max(latest, prior.version if prior else 0) + 1
        self.erased[suppression_key] = Suppression(at, version)
        return Erasure(existed=doc is not None, version=version)

    async def forget_applications(self, candidate_id: str) -> None:
        self.apps = {k: e for k, e in self.apps.items() if e.candidate_id != candidate_id}

    async def suppressions(self, suppression_keys: Iterable[str], fresh: bool = False) -> dict[str, Suppression]:
        return {k: self.erased[k] for k in suppression_keys if k in self.erased}

    async def renew(self, suppression_key: str, candidate_id: str, renewed_at: datetime, base: int) -> None:
        self.erased[suppression_key] = replace(self.erased[suppression_key], renewed_at=renewed_at)

    async def record_applications(self, events: list[ApplicationEvent]) -> None:
        self.apps.update({e.event_id: e for e in events})

    async def application_events(self) -> list[ApplicationEvent]:
        return list(self.apps.values())


class FakeSnapshotPublisher:
    """Records what would go to preferences.changed."""

    def __init__(self) -> None:
        self.published: list[PreferenceSnapshot | str] = []

    async def publish(self, snapshot: PreferenceSnapshot) -> tuple[int, int]:
        self.published.append(snapshot)
        return 0, len(self.published) - 1

    async def tombstone(self, candidate_id: str, version: int) -> tuple[int, int]:
        self.published.append(candidate_id)
        return 0, len(self.published) - 1
