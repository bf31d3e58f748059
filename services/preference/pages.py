"""The candidate's self-service page and RFC 8058 one-click unsubscribe, reached through signed links.

No API key and no id in the URL: the token names the candidate. A GET never changes anything (mail
scanners prefetch links); the form carries a CSRF token bound to the link; one-click unsubscribe POSTs
are authenticated by the token alone, as mail clients send them without a page.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Request, Response
from fastapi.responses import HTMLResponse, RedirectResponse
from jinja2 import Environment, FileSystemLoader, StrictUndefined
from starlette.datastructures import FormData
from starlette.exceptions import HTTPException

from schemas.common import Channel, Stage
from schemas.preferences import PreferenceSnapshot
from services.common.links import InvalidToken, verify
from services.preference.selfservice import (
    PAGE_VERSION,
    PAUSES,
    FormError,
    FormValues,
    available,
    form_values,
    propose_from_form,
    read_form,
    unsubscribe,
    whatsapp_limits,
)
from services.preference.service import ConcurrentChangesError, PreferenceService, UnknownCandidateError
from services.preference.settings import PreferenceSettings

TEMPLATES = Path(__file__).with_name("templates")
TEXTS: dict[str, dict[str, Any]] = json.loads((TEMPLATES / "texts.json").read_text(encoding="utf-8"))
CSS_PATH = "/s-assets/selfservice.css"
CSS = (TEMPLATES / "selfservice.css").read_text(encoding="utf-8")
CAP_CHOICES = ("", "1", "2", "3", "5", "10")
SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; script-src 'none'; object-src 'none'; base-uri 'none'; "
        "form-action 'self'; frame-ancestors 'none'"
    ),
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",  # the token is in the URL
    "Cache-Control": "no-store",
}
_ENV = Environment(loader=FileSystemLoader(TEMPLATES), autoescape=True, undefined=StrictUndefined)


class PageError(Exception):
    """A request the page refuses: an HTTP status and the key of the message shown."""

    def __init__(self, status: int, key: str) -> None:
        super().__init__(key)
        self.status, self.key = status, key


def csrf_token(secret: bytes, token: str) -> str:
    """The form's CSRF token: bound to the self-service link, unknowable without the link secret."""
    return hmac.new(secret, f"selfservice-csrf:{token}".encode(), hashlib.sha256).hexdigest()


def _lang(override: str | None, snapshot: PreferenceSnapshot | None) -> str:
    if override in TEXTS:
        return override
    return snapshot.language if snapshot is not None else "nl"


def _html(template: str, status: int = 200, **context: Any) -> HTMLResponse:
    body = _ENV.get_template(template).render(css=CSS_PATH, **context)
    return HTMLResponse(body, status_code=status, headers=SECURITY_HEADERS)


def _error(e: PageError, lang: str) -> HTMLResponse:
    return _html("message.html", e.status, t=TEXTS[lang], lang=lang, title=TEXTS[lang][e.key])


def _choices(s: PreferenceSnapshot) -> list[Channel]:
    chosen = {*s.channel_order, *(c for order in s.stage_overrides.values() for c in order)}
    return [c for c in Channel if available(s, c) or c in chosen]


def _form_page(
    token: str,
    s: PreferenceSnapshot,
    values: FormValues,
    lang: str,
    *,
    approved: Mapping[str, Iterable[str]],
    csrf: str,
    override: bool = False,
    error: str | None = None,
    saved: str | None = None,
    status: int = 200,
) -> HTMLResponse:
    paused = (
        s.paused_until.astimezone(ZoneInfo(s.timezone)) if values.get("pause") == "keep" and s.paused_until else None
    )
    caps = [*CAP_CHOICES, *([values["cap_per_week"]] if values.get("cap_per_week") not in CAP_CHOICES else [])]
    return _html(
        "selfservice.html",
        status,
        t=TEXTS[lang],
        lang=lang,
        action=f"/s/{token}" + (f"?lang={lang}" if override else ""),
        values=values,
        channels=[(c.value, available(s, c)) for c in Channel],
        whatsapp_note=whatsapp_limits(s, approved, TEXTS[lang]),
        choices=[c.value for c in _choices(s)],
        stages=[s_.value for s_ in Stage],
        caps=caps,
        pauses=[*(["keep"] if paused else []), "none", *PAUSES],
        paused_until=f"{paused:%d-%m-%Y %H:%M}" if paused else None,
        csrf=csrf,
        page_version=PAGE_VERSION,
        error=error,
        saved=saved,
    )


def page_routes(service: PreferenceService, settings: PreferenceSettings) -> APIRouter:
    """Routes /s/{token} (self-service form) and /u/{token} (one-click unsubscribe)."""
    router = APIRouter(include_in_schema=False)
    secret = settings.link_secret.get_secret_value().encode()
    clock = service.clock
    approved = settings.channels.whatsapp_templates

    async def authorise(token: str) -> tuple[str, PreferenceSnapshot]:
        try:
            candidate_id = verify(secret, token, clock())
        except InvalidToken as e:
            raise PageError(410, "err_expired") if str(e) == "expired" else PageError(403, "err_token") from None
        try:
            return candidate_id, await service.get(candidate_id)
        except UnknownCandidateError:
            raise PageError(404, "err_unknown") from None

    @router.get(CSS_PATH)
    async def stylesheet() -> Response:
        """The page's style sheet (served from here so the CSP needs no inline styles)."""
        return Response(CSS, media_type="text/css", headers=SECURITY_HEADERS)

    @router.get("/s/{token}")
    async def show_form(token: str, lang: str | None = None, saved: str | None = None) -> HTMLResponse:
        """The form with the candidate's current choices; changes nothing."""
        try:
            _, snapshot = await authorise(token)
        except PageError as e:
            return _error(e, _lang(lang, None))
        version = saved if saved and saved.isdigit() else None
        values = form_values(snapshot, clock())
        language = _lang(lang, snapshot)
        csrf = csrf_token(secret, token)
        return _form_page(
            token, snapshot, values, language, approved=approved, csrf=csrf, saved=version, override=lang in TEXTS
        )

    @router.post("/s/{token}")
    async def save_form(token: str, request: Request, lang: str | None = None) -> Response:
        """Store everything the candidate changed as one new version, then show it (303 to the form)."""
        try:
            candidate_id, current = await authorise(token)
            form = await _form(request)
            if not hmac.compare_digest(str(form.get("csrf", "")), csrf_token(secret, token)):
                raise PageError(403, "err_csrf")
        except PageError as e:
            return _error(e, _lang(lang, None))
        language, submitted = _lang(lang, current), None
        try:
            submitted = read_form(form.multi_items())
            result = await service.change(candidate_id, lambda cur: propose_from_form(cur, submitted, clock()))
        except FormError as e:
            values = {**form_values(current, clock()), **(submitted or {})}
            csrf = csrf_token(secret, token)
            error = TEXTS[language][e.key]
            return _form_page(token, current, values, language, approved=approved, csrf=csrf, error=error, status=400)
        except (UnknownCandidateError, ConcurrentChangesError) as e:
            return _error(_refusal(e), language)
        snapshot = result.snapshot if result else current
        keep = lang in TEXTS and snapshot.language == current.language
        url = f"/s/{token}?saved={snapshot.version}" + (f"&lang={lang}" if keep else "")
        return RedirectResponse(url, status_code=303, headers=SECURITY_HEADERS)

    @router.get("/u/{token}")
    async def confirm_unsubscribe(token: str, channel: str | None = None, lang: str | None = None) -> HTMLResponse:
        """A button to stop messages on one channel; the GET itself changes nothing."""
        try:
            _, snapshot = await authorise(token)
            target = _channel_param(channel)
        except PageError as e:
            return _error(e, _lang(lang, None))
        language = _lang(lang, snapshot)
        t = TEXTS[language]
        return _html(
            "unsubscribe.html",
            t=t,
            lang=language,
            channel=t["channel"][target],
            token=token,
            action=f"/u/{token}?channel={target.value}",
            done=False,
        )

    @router.post("/u/{token}")
    async def one_click_unsubscribe(token: str, channel: str | None = None, lang: str | None = None) -> HTMLResponse:
        """RFC 8058 one-click unsubscribe: revoke consent for that channel (token alone authenticates)."""
        try:
            candidate_id, snapshot = await authorise(token)
            target = _channel_param(channel)
            await service.change(candidate_id, lambda cur: unsubscribe(cur, target, clock()))
        except PageError as e:
            return _error(e, _lang(lang, None))
        except (UnknownCandidateError, ConcurrentChangesError) as e:
            return _error(_refusal(e), _lang(lang, None))
        language = _lang(lang, snapshot)
        t = TEXTS[language]
        return _html(
            "unsubscribe.html", t=t, lang=language, channel=t["channel"][target], token=token, action="", done=True
        )

    return router


async def _form(request: Request) -> FormData:
    try:
        return await request.form(max_files=0, max_fields=100)
    except HTTPException:  # a malformed body or an uploaded file
        raise PageError(400, "err_field") from None


def _refusal(e: Exception) -> PageError:
    """Erased while the page was open (404), or too many writers at once (409: try again)."""
    return PageError(404, "err_unknown") if isinstance(e, UnknownCandidateError) else PageError(409, "err_busy")


def _channel_param(value: str | None) -> Channel:
    try:
        return Channel(value or "")
    except ValueError:
        raise PageError(400, "err_channel") from None
