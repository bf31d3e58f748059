"""HTTP API of the preference service (recruiter and integrator side)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, HTTPException

from schemas.preferences import PreferenceSnapshot
from services.preference.service import PreferenceService, UnknownCandidateError


def api_routes(service: PreferenceService) -> APIRouter:
    """Routes under /v1/candidates."""
    router = APIRouter(prefix="/v1/candidates", tags=["preferences"])

    @router.get("/{candidate_id}/preferences", response_model=PreferenceSnapshot)
    async def read_preferences(candidate_id: str) -> PreferenceSnapshot:
        """The candidate's current preferences."""
        try:
            return await service.get(candidate_id)
        except UnknownCandidateError:
            raise HTTPException(404, "unknown candidate") from None

    @router.get("/{candidate_id}/preferences/history")
    async def read_history(candidate_id: str) -> list[dict[str, Any]]:
        """Every change, oldest first: how the standard order was learned."""
        entries = await service.history(candidate_id)
        if not entries:
            raise HTTPException(404, "unknown candidate")
        return [
            {"version": e.version, "at": e.at, "source": e.source, "summary": e.summary, "changes": e.changes}
            for e in entries
        ]

    return router
