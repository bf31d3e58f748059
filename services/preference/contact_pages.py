"""Add or correct a contact point from the self-service page: ask for a code, enter it (double opt-in).

/s/{token}/contact         GET the forms (a mobile number, an e-mail address); POST sends a code
/s/{token}/contact/verify  GET the code form; POST checks the code and stores the verified point

Limits: codes per link per hour and per address per day, tries per code, a short life. The code is
never logged and never stored (a keyed hash is); a page error names the field it is about.
"""

from __future__ import annotations

import logging
import uuid
from datetime import datetime, timedelta
from typing import Any

from fastapi import APIRouter, Request, Response
from starlette.datastructures import FormData

from services.preference.code_sender import CodeNotSent, CodeSender
from services.preference.page_common import TEXTS, Links, PageError, error_page, html, page_lang, see_other
from services.preference.selfservice import FormError
from services.preference.service import ConcurrentChangesError, UnknownCandidateError
from services.preference.settings import PreferenceSettings
from services.preference.verification import (
    KIND_CHANNELS,
    Challenge,
    code_hash,
    code_matches,
    masked,
    new_code,
    read_contact_request,
    verified,
)
from services.preference.verification_store import VerificationStore, slot_keys

log = logging.getLogger(__name__)
_ADDRESS_ERRORS = {
    "err_phone",
    "err_email",
    "err_use_none",
    "err_first",
    "err_rate_address",
    "err_rate_link",
    "err_code_not_sent",
}


def _suffix(lang: str | None) -> str:
    return f"?lang={lang}" if lang in TEXTS else ""


def _contact_page(
    token: str, lang: str, csrf: str, *, kind: str = "", error: str | None = None, form: Any = None, status: int = 200
) -> Response:
    t = TEXTS[lang]
    values = {"address": str(form.get("address", "")) if form else "", "use": form.getlist("use") if form else []}
    values["first"] = str(form.get("first", "")) if form else ""
    return html(
        "contact.html",
        status,
        t=t,
        lang=lang,
        base=f"/s/{token}",
        suffix=_suffix(lang),
        csrf=csrf,
        phone_channels=[c.value for c in KIND_CHANNELS["phone"]],
        kind=kind,
        field_error=t[error] if error in _ADDRESS_ERRORS else None,
        page_error=t[error] if error and error not in _ADDRESS_ERRORS else None,
        values=values,
        posted=form is not None,
    )


def _verify_page(
    token: str, lang: str, csrf: str, challenge: Challenge, now: datetime, error: str | None = None, status: int = 200
) -> Response:
    t = TEXTS[lang]
    minutes = max(1, int((challenge.expires_at - now).total_seconds() // 60))
    return html(
        "verify.html",
        status,
        t=t,
        lang=lang,
        base=f"/s/{token}",
        suffix=_suffix(lang),
        csrf=csrf,
        challenge=challenge.id,
        intro=t["verify_intro"][challenge.request.kind].format(
            where=masked(challenge.request.address), minutes=minutes
        ),
        error=t[error] if error else None,
    )


def contact_routes(
    links: Links, settings: PreferenceSettings, store: VerificationStore | None, sender: CodeSender
) -> APIRouter:
    """The contact and verification pages under /s/{token}/contact."""
    router = APIRouter(include_in_schema=False)
    service, clock = links.service, links.clock
    code_key = links.keyed("verification-code-key", "v1").encode()  # derived: codes never share the link's key
    ttl = timedelta(seconds=settings.code_ttl_s)

    def pending_store() -> VerificationStore:
        if store is None:
            raise PageError(503, "err_no_verification")
        return store

    @router.get("/s/{token}/contact")
    async def contact_form(token: str, lang: str | None = None, kind: str = "") -> Response:
        """The forms to add or correct a mobile number or an e-mail address; changes nothing."""
        try:
            _, snapshot = await links.authorise(token)
        except PageError as e:
            return error_page(e, page_lang(lang, None))
        return _contact_page(token, page_lang(lang, snapshot), links.csrf(token), kind=kind)

    @router.post("/s/{token}/contact")
    async def send_code(token: str, request: Request, lang: str | None = None) -> Response:
        """Check the address, take a rate-limit slot, send a one-time code to it; on to the code form."""
        form: FormData | None = None
        try:
            candidate_id, snapshot, form = await links.posted(token, request)
            verifications = pending_store()
        except PageError as e:
            return error_page(e, page_lang(lang, None))
        language, now = page_lang(lang, snapshot), clock()
        t, kind = TEXTS[language], str(form.get("kind", ""))
        try:
            address, use, first = str(form.get("address", "")), form.getlist("use"), str(form.get("first", ""))
            wanted = read_contact_request(kind, address, [str(u) for u in use], first)
            for limit, key in slot_keys(links.keyed("link", token), links.keyed("address", wanted.address), now):
                allowed = settings.codes_per_link_per_hour if limit == "link" else settings.codes_per_address_per_day
                span = timedelta(hours=1) if limit == "link" else timedelta(days=1)
                if not await verifications.take_slot(key, candidate_id, allowed, now + span):
                    raise FormError(f"err_rate_{limit}")
            code, challenge_id = new_code(), uuid.uuid4().hex
            challenge = Challenge(
                challenge_id, candidate_id, wanted, code_hash(code_key, challenge_id, code), now, now + ttl
            )
            await verifications.save_challenge(challenge)
            text = t["code_text"].format(code=code, minutes=settings.code_ttl_s // 60)
            try:
                await sender.send(wanted.kind, wanted.address, t["code_subject"], text)
            except CodeNotSent as e:
                await verifications.drop_challenge(candidate_id, challenge_id)
                log.warning("verification code not sent", extra={"kind": wanted.kind, "reason": str(e)})
                raise FormError("err_code_not_sent") from None
        except FormError as e:
            status = 429 if e.key.startswith("err_rate") else 400
            return _contact_page(token, language, links.csrf(token), kind=kind, error=e.key, form=form, status=status)
        return see_other(f"/s/{token}/contact/verify{_suffix(lang)}")

    @router.get("/s/{token}/contact/verify")
    async def code_form(token: str, lang: str | None = None) -> Response:
        """The form to enter the code just sent; back to the contact form when none is pending."""
        try:
            candidate_id, snapshot = await links.authorise(token)
            challenge = await pending_store().challenge(candidate_id, clock())
        except PageError as e:
            return error_page(e, page_lang(lang, None))
        if challenge is None:
            return see_other(f"/s/{token}/contact{_suffix(lang)}")
        return _verify_page(token, page_lang(lang, snapshot), links.csrf(token), challenge, clock())

    @router.post("/s/{token}/contact/verify")
    async def check_code(token: str, request: Request, lang: str | None = None) -> Response:
        """Check the code (within its life and tries); a correct one stores the verified contact point."""
        try:
            candidate_id, snapshot, form = await links.posted(token, request)
            verifications = pending_store()
        except PageError as e:
            return error_page(e, page_lang(lang, None))
        language, now, csrf = page_lang(lang, snapshot), clock(), links.csrf(token)
        challenge = await verifications.challenge(candidate_id, now)
        if challenge is None or challenge.id != str(form.get("challenge", "")):
            return _contact_page(token, language, csrf, error="err_code_replaced", status=409)
        if now >= challenge.expires_at:
            await verifications.drop_challenge(candidate_id, challenge.id)
            return _contact_page(token, language, csrf, error="err_code_expired", status=410)
        tries = settings.code_max_tries
        if not await verifications.take_slot(f"try:{challenge.id}", candidate_id, tries, challenge.expires_at):
            await verifications.drop_challenge(candidate_id, challenge.id)
            return _contact_page(token, language, csrf, error="err_code_tries", status=429)
        if not code_matches(code_key, challenge, str(form.get("code", ""))):
            return _verify_page(token, language, csrf, challenge, now, error="err_code_wrong", status=400)
        try:
            result = await service.change(candidate_id, lambda cur: verified(cur, challenge.request, now))
        except (UnknownCandidateError, ConcurrentChangesError) as e:
            key = "err_unknown" if isinstance(e, UnknownCandidateError) else "err_busy"
            return error_page(PageError(409, key), language)
        await verifications.drop_challenge(candidate_id, challenge.id)  # after storing: a crash leaves it usable
        version = result.snapshot.version if result else snapshot.version
        query = f"saved={version}&done=verified_{challenge.request.kind}" + (f"&lang={lang}" if lang in TEXTS else "")
        return see_other(f"/s/{token}?{query}")

    return router
