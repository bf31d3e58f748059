"""The recruiter's JSON API: a candidate's timeline and the worklist across candidates (API key or OIDC token).

The timeline is the notifier's projection of notifications.status plus what it rendered and sent;
preferences and consent come from the notifier's in-memory preference view, so the page shows what
the last-mile check sees. For the full preference history, the preference service's API has it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any

from fastapi import APIRouter, Depends, HTTPException, Query
from pydantic import BaseModel, Field

from services.common.auth import require_recruiter
from services.common.oidc import oidc_verifier
from services.notifier.reach import Reach
from services.notifier.recruiter_views import (
    KIND_CHANNELS,
    KINDS,
    notification_view,
    preferences_view,
    with_channel,
    work_item_view,
    worklist_view,
)
from services.notifier.settings import NotifierSettings
from services.notifier.store import NotifierStore

ReachOf = Callable[[str], Reach | None]
Clock = Callable[[], datetime]
KIND_PATTERN = "^(" + "|".join(KINDS) + ")$"


class HandledBy(BaseModel):
    """Who handled a worklist item."""

    by: str = Field(min_length=1, max_length=100, description="Name or id of the recruiter.", examples=["Femke"])


async def candidate_timeline(
    store: NotifierStore, reach_of: ReachOf, candidate_id: str, application_id: str | None
) -> dict[str, Any] | None:
    """Every notification of a candidate (oldest first) with their preferences; None when unknown."""
    docs = await store.timeline(candidate_id, application_id)
    reach = reach_of(candidate_id)
    if not docs and reach is None:
        return None
    return {
        "candidate_id": candidate_id,
        "application_id": application_id,
        "preferences": preferences_view(reach),
        "notifications": [notification_view(d) for d in docs],
    }


async def worklist_items(store: NotifierStore, include_handled: bool = False) -> list[Mapping[str, Any]]:
    """The worklist, every item with its channel (older items lack it: their notification's timeline has it)."""
    items = await store.worklist(include_handled=include_handled)
    unknown = sorted(
        {
            str(i["candidate_id"])
            for i in items
            if "channel" not in i
            and i.get("kind") not in KIND_CHANNELS
            and i.get("notification_id")
            and i.get("candidate_id")
        }
    )
    channel_of: dict[str, str | None] = {}
    for rows in await asyncio.gather(*(store.timeline(cid) for cid in unknown)):
        channel_of.update({str(r["_id"]): r.get("channel") for r in rows})
    return [with_channel(i, channel_of) for i in items]


async def mark_item_handled(store: NotifierStore, item_id: str, by: str, now: datetime) -> dict[str, Any] | None:
    """Close a worklist item (idempotent: an item handled before stays as it was); None when unknown."""
    if await store.mark_handled(item_id, by, now):
        return {"id": item_id, "changed": True, "handled_at": now, "handled_by": by}
    known = next((i for i in await store.worklist(include_handled=True) if i["_id"] == item_id), None)
    if known is None:
        return None
    view = work_item_view(known)
    return {"id": item_id, "changed": False, "handled_at": view["handled_at"], "handled_by": view["handled_by"]}


def recruiter_api(s: NotifierSettings, store: NotifierStore, reach_of: ReachOf, clock: Clock) -> APIRouter:
    """Routes under /v1 for recruiters and their tools."""
    allowed = require_recruiter(s.api_keys, oidc_verifier(s))
    router = APIRouter(prefix="/v1", tags=["recruiter"], dependencies=[Depends(allowed)])

    @router.get("/candidates/{candidate_id}/timeline")
    async def get_timeline(
        candidate_id: str,
        application_id: str | None = Query(None, max_length=128, description="Only this application."),
    ) -> dict[str, Any]:
        """Every notification of the candidate with content, reasons and status history; their preferences."""
        found = await candidate_timeline(store, reach_of, candidate_id, application_id)
        if found is None:
            raise HTTPException(404, "no notifications and no preferences for this candidate")
        return found

    @router.get("/worklist")
    async def get_worklist(
        kind: str | None = Query(None, pattern=KIND_PATTERN, description="needs_recruiter, silence, ..."),
        include_handled: bool = Query(False, description="Also items already handled."),
    ) -> dict[str, Any]:
        """What needs a human, oldest first, with open counts per kind and silence per stage."""
        return worklist_view(await worklist_items(store, include_handled), kind)

    @router.post("/worklist/{item_id}/handled")
    async def post_handled(item_id: str, body: HandledBy) -> dict[str, Any]:
        """Mark an item handled (again: no change, 200)."""
        result = await mark_item_handled(store, item_id, body.by, clock())
        if result is None:
            raise HTTPException(404, "no such worklist item")
        return result

    return router
