"""HTTP API of the preference service for recruiters and integrators (API key or OIDC token required).

Every change answers only after the new snapshot is on `preferences.changed`, and says where:
version, partition and offset. Unknown candidates are 404, invalid bodies 422 with field reasons.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, HTTPException, Path, Query, Request, Response, Security
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BaseModel, Field

from schemas.common import CANDIDATE_ID_PATTERN, ChangeSource
from schemas.preferences import ConsentChange, PreferenceSnapshot, PreferenceUpdate
from services.common.auth import require_recruiter
from services.common.oidc import oidc_verifier
from services.preference.domain import apply_update, set_consent
from services.preference.service import (
    Acknowledged,
    ConcurrentChangesError,
    PreferenceService,
    UnknownCandidateError,
)
from services.preference.settings import PreferenceSettings


class ChangeAck(BaseModel):
    """The answer to a change: the snapshot now in force and where it is on the topic."""

    candidate_id: str
    version: int
    changed: bool = Field(description="False when the request changed nothing (no new version).")
    partition: int | None = Field(None, description="Partition of preferences.changed holding this version.")
    offset: int | None = Field(None, description="Offset of the snapshot in that partition.")
    preferences: PreferenceSnapshot


class HistoryItem(BaseModel):
    """One stored change."""

    version: int
    at: datetime
    source: ChangeSource
    summary: str
    changes: dict[str, Any]


async def export_document(service: PreferenceService, candidate_id: str) -> dict[str, Any]:
    """Everything stored about a candidate (the API's export and the self-service page's download)."""
    snapshot = await service.get(candidate_id)
    history = await service.history(candidate_id)
    return {
        "candidate_id": candidate_id,
        "exported_at": service.clock().isoformat(),
        "preferences": snapshot.model_dump(mode="json"),
        "history": [
            HistoryItem(version=e.version, at=e.at, source=e.source, summary=e.summary, changes=e.changes).model_dump(
                mode="json"
            )
            for e in history
        ],
    }


class ErasureAck(BaseModel):
    """An erasure: the tombstone is on the topic, a keyed hash suppresses re-creation."""

    candidate_id: str
    erased: bool


ApiSource = Literal["recruiter", "ats_import"]


class Problem(BaseModel):
    """An error answer (FastAPI's shape): what went wrong, in plain words."""

    detail: str


# Documented in the OpenAPI document so clients (and schemathesis) know every answer they can get.
_AUTH: dict[int | str, dict[str, Any]] = {
    401: {"model": Problem, "description": "No API key or bearer token, or an invalid token."},
    403: {"model": Problem, "description": "The key or token is not accepted here."},
}
_UNKNOWN: dict[int | str, dict[str, Any]] = {404: {"model": Problem, "description": "Unknown candidate."}}
_CHANGE: dict[int | str, dict[str, Any]] = {
    400: {"model": Problem, "description": "The body cannot be read as JSON (e.g. not UTF-8)."},
    **_UNKNOWN,
    409: {"model": Problem, "description": "Too many concurrent changes; try again."},
}


def _ack(candidate_id: str, result: Acknowledged | None, current: PreferenceSnapshot) -> ChangeAck:
    if result is None:
        return ChangeAck(candidate_id=candidate_id, version=current.version, changed=False, preferences=current)
    return ChangeAck(
        candidate_id=candidate_id,
        version=result.snapshot.version,
        changed=True,
        partition=result.partition,
        offset=result.offset,
        preferences=result.snapshot,
    )


# Declared security schemes (either one): the document says how to authenticate, and clients can be generated.
API_KEY = APIKeyHeader(name="X-API-Key", auto_error=False, description="A recruiter or integration API key.")
BEARER = HTTPBearer(
    auto_error=False, description="An API key as a bearer token, or an OIDC access token with a recruiter role."
)
CandidatePath = Annotated[
    str, Path(pattern=CANDIDATE_ID_PATTERN, description="The ATS's candidate id (1-128 letters, digits and . _ : @ -).")
]
# Methods a client could try; each path answers those it does not serve with 405 and its real ones in Allow.
_METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")


def _authorisation(settings: PreferenceSettings) -> Any:
    check = require_recruiter(settings.api_keys, oidc_verifier(settings))

    async def authorised(
        key: Annotated[str | None, Security(API_KEY)],
        bearer: Annotated[HTTPAuthorizationCredentials | None, Security(BEARER)],
    ) -> None:
        """An API key (X-API-Key or bearer) or an OIDC token, as services.common.auth decides."""
        await check(x_api_key=key, authorization=f"Bearer {bearer.credentials}" if bearer else None)

    return authorised


def _method_answers(routes: APIRouter) -> APIRouter:
    """OPTIONS (204) and every unserved method (405), each with the path's real methods in Allow.

    Starlette's own 405 lists only the methods of the first route that matches the path, so a path served
    by several routes (GET, PUT and PATCH on /preferences) would advertise GET alone.
    """
    served: dict[str, set[str]] = {}
    for route in routes.routes:
        served.setdefault(getattr(route, "path", ""), set()).update(getattr(route, "methods", set()))
    answers = APIRouter()
    for path, methods in served.items():
        allow = ", ".join(m for m in _METHODS if m in methods | {"OPTIONS"})
        others = [m for m in _METHODS if m not in methods]
        answers.add_api_route(path, _answer_with(allow), methods=others, include_in_schema=False)
    return answers


def _answer_with(allow: str) -> Any:
    async def answer(request: Request) -> Response:
        """OPTIONS: what this path serves; any other method it does not serve: 405 saying the same."""
        return Response(status_code=204 if request.method == "OPTIONS" else 405, headers={"Allow": allow})

    return answer


def api_routes(service: PreferenceService, settings: PreferenceSettings) -> APIRouter:
    """Routes under /v1/candidates, and their answers to OPTIONS and to methods they do not serve."""
    routes = _candidate_routes(service, settings)
    outer = APIRouter()
    outer.include_router(routes)
    outer.include_router(_method_answers(routes))  # after the real routes: they match first
    return outer


def _candidate_routes(service: PreferenceService, settings: PreferenceSettings) -> APIRouter:
    router = APIRouter(
        prefix="/v1/candidates",
        tags=["preferences"],
        dependencies=[Depends(_authorisation(settings))],
        responses=_AUTH,
    )
    clock = service.clock

    async def current(candidate_id: str) -> PreferenceSnapshot:
        try:
            return await service.get(candidate_id)
        except UnknownCandidateError:
            raise HTTPException(404, "unknown candidate") from None

    async def change(candidate_id: str, fn: Any) -> ChangeAck:
        await current(candidate_id)
        try:
            result = await service.change(candidate_id, fn)
        except UnknownCandidateError:
            raise HTTPException(404, "unknown candidate") from None
        except ConcurrentChangesError:
            raise HTTPException(409, "too many concurrent changes; try again") from None
        return _ack(candidate_id, result, await current(candidate_id) if result is None else result.snapshot)

    @router.get("/{candidate_id}/preferences", responses=_UNKNOWN)
    async def read_preferences(candidate_id: CandidatePath) -> PreferenceSnapshot:
        """The candidate's current preferences, consent with provenance and learned affinity."""
        return await current(candidate_id)

    @router.put("/{candidate_id}/preferences", responses=_CHANGE)
    async def replace_preferences(
        candidate_id: CandidatePath,
        body: PreferenceUpdate,
        source: ApiSource = "recruiter",
        evidence: str = Query("", max_length=500),
    ) -> ChangeAck:
        """Replace the explicit choices (omitted ones return to their defaults; contacts are kept)."""
        return await change(
            candidate_id, lambda cur: apply_update(cur, body, ChangeSource(source), clock(), evidence, replace_all=True)
        )

    @router.patch("/{candidate_id}/preferences", responses=_CHANGE)
    async def patch_preferences(
        candidate_id: CandidatePath,
        body: PreferenceUpdate,
        source: ApiSource = "recruiter",
        evidence: str = Query("", max_length=500),
    ) -> ChangeAck:
        """Change only the given choices."""
        return await change(candidate_id, lambda cur: apply_update(cur, body, ChangeSource(source), clock(), evidence))

    @router.post("/{candidate_id}/consent", responses=_CHANGE)
    async def record_consent(candidate_id: CandidatePath, body: ConsentChange) -> ChangeAck:
        """Grant or revoke consent for one channel and purpose class, with its provenance."""
        return await change(candidate_id, lambda cur: set_consent(cur, body, clock()))

    @router.get("/{candidate_id}/preferences/history", responses=_UNKNOWN)
    async def read_history(candidate_id: CandidatePath) -> list[HistoryItem]:
        """Every change, oldest first: how the standard order was learned."""
        await current(candidate_id)
        return [
            HistoryItem(version=e.version, at=e.at, source=e.source, summary=e.summary, changes=e.changes)
            for e in await service.history(candidate_id)
        ]

    @router.get("/{candidate_id}/export", responses=_UNKNOWN)
    async def export(candidate_id: CandidatePath) -> dict[str, Any]:
        """Everything stored about a candidate, as JSON (right of access)."""
        await current(candidate_id)  # 404 for an unknown candidate
        return await export_document(service, candidate_id)

    @router.delete("/{candidate_id}")
    async def erase(candidate_id: CandidatePath) -> ErasureAck:
        """Forget a candidate everywhere: document, history, and a tombstone for every view."""
        return ErasureAck(candidate_id=candidate_id, erased=await service.erase(candidate_id))

    return router
