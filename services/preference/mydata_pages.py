"""Talk to a person, download my data, erase my data: the self-service pages beside the preference form.

/s/{token}/talk         GET a short message form; POST puts it on candidate.events for the recruiter's worklist
/s/{token}/data         GET the download and erase buttons
/s/{token}/data/export  POST: the API's export (same JSON) as a file
/s/{token}/data/erase   POST: first a confirmation page, then (confirm=yes) the API's erasure, the ATS told
                        (the notice is stored before the erasure and relayed until produced: erasure_notices)
"""

from __future__ import annotations

import json
import re
import uuid
from typing import Any

from fastapi import APIRouter, Request, Response

from schemas.candidate_events import DataErased, DataErasedEvent, PersonRequested, PersonRequestedEvent
from services.preference.api import export_document
from services.preference.contacts import SOURCE
from services.preference.erasure_notices import ErasureNotices
from services.preference.page_common import (
    SECURITY_HEADERS,
    TEXTS,
    Links,
    PageError,
    error_page,
    html,
    page_lang,
    see_other,
)
from services.preference.verification_store import VerificationStore

_IDS = uuid.UUID("0b7f5a8e-2c51-4f3e-9d1a-5e6c7b8a9f10")  # namespace of event ids made from a form's nonce
_NONCE = re.compile(r"^[0-9a-f]{32}$")
MAX_MESSAGE = 1000


def mydata_routes(
    links: Links, verifications: VerificationStore | None, notices: ErasureNotices | None = None
) -> APIRouter:
    """The talk and my-data pages under /s/{token}."""
    router = APIRouter(include_in_schema=False)
    service, clock = links.service, links.clock

    def common(token: str, lang: str | None, language: str) -> dict[str, Any]:
        suffix = f"?lang={lang}" if lang in TEXTS else ""
        return {
            "t": TEXTS[language],
            "lang": language,
            "base": f"/s/{token}",
            "suffix": suffix,
            "csrf": links.csrf(token),
        }

    @router.get("/s/{token}/talk")
    async def talk_form(token: str, lang: str | None = None, sent: str | None = None) -> Response:
        """A short message to the recruiter; changes nothing."""
        try:
            _, snapshot = await links.authorise(token)
        except PageError as e:
            return error_page(e, page_lang(lang, None))
        ctx = common(token, lang, page_lang(lang, snapshot))
        first = snapshot.channel_order[0].value if snapshot.channel_order else "email"
        reply = ctx["t"]["talk_reply"].format(channel=ctx["t"]["channel"][first])
        return html("talk.html", **ctx, nonce=uuid.uuid4().hex, sent=sent == "1", reply=reply, error=None, text="")

    @router.post("/s/{token}/talk")
    async def talk(token: str, request: Request, lang: str | None = None) -> Response:
        """Send the message to the recruiter's worklist; a replayed form is the same request, not a second one."""
        try:
            candidate_id, snapshot, form = await links.posted(token, request)
        except PageError as e:
            return error_page(e, page_lang(lang, None))
        language = page_lang(lang, snapshot)
        ctx = common(token, lang, language)
        text, nonce = str(form.get("message", "")).strip(), str(form.get("nonce", ""))
        error = "err_talk_empty" if not text else "err_talk_long" if len(text) > MAX_MESSAGE else None
        if error or not _NONCE.match(nonce):
            key = error or "err_field"
            page = html(
                "talk.html", 400, **ctx, nonce=uuid.uuid4().hex, sent=False, reply="", error=ctx["t"][key], text=text
            )
            return page
        now = clock()
        data = PersonRequested(
            candidate_id=candidate_id,
            message=text,
            language=language,
            preference_version=snapshot.version,
            requested_at=now,
        )
        event_id = str(uuid.uuid5(_IDS, f"{candidate_id}:talk:{nonce}"))
        await service.announce(
            PersonRequestedEvent(id=event_id, source=SOURCE, time=now, subject=candidate_id, data=data)
        )
        return see_other(f"/s/{token}/talk?sent=1" + (f"&lang={lang}" if lang in TEXTS else ""))

    @router.get("/s/{token}/data")
    async def data_page(token: str, lang: str | None = None) -> Response:
        """Download or erase: two buttons, each a form; changes nothing."""
        try:
            _, snapshot = await links.authorise(token)
        except PageError as e:
            return error_page(e, page_lang(lang, None))
        return html("data.html", **common(token, lang, page_lang(lang, snapshot)))

    @router.post("/s/{token}/data/export")
    async def download(token: str, request: Request, lang: str | None = None) -> Response:
        """The API's export as a JSON file (a POST with the form's token: no prefetch, no other site)."""
        try:
            candidate_id, _, _ = await links.posted(token, request)
        except PageError as e:
            return error_page(e, page_lang(lang, None))
        document = await export_document(service, candidate_id)
        name = f"my-data-{clock():%Y-%m-%d}.json"
        headers = {**SECURITY_HEADERS, "Content-Disposition": f'attachment; filename="{name}"'}
        return Response(json.dumps(document, indent=2), media_type="application/json", headers=headers)

    @router.post("/s/{token}/data/erase")
    async def erase(token: str, request: Request, lang: str | None = None) -> Response:
        """Without confirm=yes: what would be deleted and kept, and a button to confirm. With it: erase."""
        try:
            candidate_id, snapshot, form = await links.posted(token, request)
        except PageError as e:
            return error_page(e, page_lang(lang, None))
        ctx = common(token, lang, page_lang(lang, snapshot))
        if form.get("confirm") != "yes":
            return html("erase_confirm.html", **ctx)
        if notices is None:
            return error_page(PageError(503, "err_no_erasure"), ctx["lang"])
        now = clock()
        kept = ("a keyed hash of the candidate id, so events about them that arrive later create nothing",)
        data = DataErased(
            candidate_id=candidate_id, requested_by="candidate", erased_at=now, last_version=snapshot.version, kept=kept
        )
        event_id = str(uuid.uuid5(_IDS, f"{candidate_id}:erased:{snapshot.version}"))
        # The API's erasure (versions, history, tombstone, suppression key, pending codes), the ATS told.
        await notices.erase(DataErasedEvent(id=event_id, source=SOURCE, time=now, subject=candidate_id, data=data))
        if verifications is not None:
            await verifications.erase(candidate_id)
        return html("erased.html", **{**ctx, "base": ""})

    return router
