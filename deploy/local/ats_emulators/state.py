"""What the ATS emulators share: API keys, seeded records, recorded notes, injected failures."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

DEV_KEYS = {
    "greenhouse": "dev-greenhouse-key",
    "recruitee": "dev-recruitee-key",
    "lever": "dev-lever-key",
    "ashby": "dev-ashby-key",
}


@dataclass
class EmulatorState:
    """The emulators' memory: every note as received (never de-duplicated), records to serve, failures to inject."""

    directory: Path | None = None
    api_keys: dict[str, str] = field(default_factory=lambda: dict(DEV_KEYS))
    notes: list[dict[str, Any]] = field(default_factory=list)
    records: dict[str, dict[str, Any]] = field(default_factory=dict)  # ats -> kind/id -> record
    failures: dict[str, list[int]] = field(default_factory=dict)  # ats -> statuses to answer next, in order
    calls: list[dict[str, str]] = field(default_factory=list)

    def key(self, ats: str) -> str:
        """The API key (or token) this emulated ATS accepts."""
        return self.api_keys.get(ats, DEV_KEYS.get(ats, ""))

    def record_note(
        self, ats: str, candidate_id: str, body: str, extra: Mapping[str, Any] | None = None
    ) -> dict[str, Any]:
        """Keep a note as the ATS would show it; appended to <dir>/notes.jsonl too."""
        note = {
            "id": len(self.notes) + 1,
            "ats": ats,
            "candidate_id": candidate_id,
            "body": body,
            "created_at": datetime.now(UTC).isoformat(),
            **(extra or {}),
        }
        self.notes.append(note)
        if self.directory is not None:
            self.directory.mkdir(parents=True, exist_ok=True)
            with (self.directory / "notes.jsonl").open("a") as out:
                out.write(json.dumps(note) + "\n")
        return note

    def notes_of(self, ats: str, candidate_id: str) -> list[dict[str, Any]]:
        """The notes one ATS keeps on one candidate (or opportunity), oldest first, as its list endpoint pages them."""
        return [n for n in self.notes if n["ats"] == ats and n["candidate_id"] == candidate_id]

    def seed(self, ats: str, name: str, value: Any) -> None:
        """Store a record an ATS API serves (e.g. a Greenhouse application's scheduled interviews)."""
        self.records.setdefault(ats, {})[name] = value

    def served(self, ats: str, name: str, default: Any = None) -> Any:
        """A seeded record."""
        return self.records.get(ats, {}).get(name, default)

    def injected(self, ats: str, request: Request) -> Response | None:
        """The next injected failure of this ATS's API, if any (every call is counted)."""
        self.calls.append({"ats": ats, "method": request.method, "path": request.url.path})
        queue = self.failures.get(ats)
        if not queue:
            return None
        status = queue.pop(0)
        headers = {"Retry-After": "0"} if status == 429 else {}
        return JSONResponse({"error": "injected failure"}, status_code=status, headers=headers)


def page(found: list[Any], start: str | None, limit: str | int | None) -> tuple[list[Any], str | None]:
    """One page of a list and the position of the next (None at the end), for the emulated list endpoints."""
    first = int(start) if start and str(start).isdigit() else 0
    size = int(limit) if limit is not None and str(limit).isdigit() and int(limit) > 0 else 100
    rest = first + size
    return found[first:rest], (str(rest) if rest < len(found) else None)
