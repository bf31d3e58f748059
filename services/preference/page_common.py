"""What every self-service page shares: texts, templates, security headers, the link check and CSRF.

The signed link in the URL names the candidate (no API key, no id); every form carries a CSRF token
bound to that link, so another site cannot post for the candidate and one candidate's form cannot act
on another's link.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse, RedirectResponse
from jinja2 import Environment, FileSystemLoader, StrictUndefined
from starlette.datastructures import FormData
from starlette.exceptions import HTTPException

from schemas.preferences import PreferenceSnapshot
from services.common.links import InvalidToken, verify
from services.preference.service import Clock, PreferenceService, UnknownCandidateError

TEMPLATES = Path(__file__).with_name("templates")
TEXTS: dict[str, dict[str, Any]] = json.loads((TEMPLATES / "texts.json").read_text(encoding="utf-8"))
CSS_PATH = "/s-assets/selfservice.css"
CSS = (TEMPLATES / "selfservice.css").read_text(encoding="utf-8")
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


def page_lang(override: str | None, snapshot: PreferenceSnapshot | None) -> str:
    """The page's language: ?lang= when given, else the candidate's, else Dutch."""
    if override in TEXTS:
        return override
    return snapshot.language if snapshot is not None else "nl"


def html(template: str, status: int = 200, **context: Any) -> HTMLResponse:
    """A rendered page with the security headers."""
    body = _ENV.get_template(template).render(css=CSS_PATH, **context)
    return HTMLResponse(body, status_code=status, headers=SECURITY_HEADERS)


def error_page(e: PageError, lang: str) -> HTMLResponse:
    """The page that says why a request was refused, and that nothing changed."""
    return html("message.html", e.status, t=TEXTS[lang], lang=lang, title=TEXTS[lang][e.key])


def see_other(url: str) -> RedirectResponse:
    """303 to a page (after a POST: a reload does not submit again)."""
    return RedirectResponse(url, status_code=303, headers=SECURITY_HEADERS)


async def read_form(request: Request, max_fields: int = 100) -> FormData:
    """The posted form; PageError for a malformed body or an uploaded file."""
    try:
        return await request.form(max_files=0, max_fields=max_fields)
    except HTTPException:
        raise PageError(400, "err_field") from None


@dataclass(frozen=True)
class Links:
    """Checks self-service links and their forms for every page."""

    service: PreferenceService
    secret: bytes

    @property
    def clock(self) -> Clock:
        """The service's clock."""
        return self.service.clock

    async def authorise(self, token: str) -> tuple[str, PreferenceSnapshot]:
        """The candidate the link names and their snapshot; PageError for a bad, expired or orphaned link."""
        try:
            candidate_id = verify(self.secret, token, self.clock())
        except InvalidToken as e:
            raise PageError(410, "err_expired") if str(e) == "expired" else PageError(403, "err_token") from None
        try:
            return candidate_id, await self.service.get(candidate_id)
        except UnknownCandidateError:
            raise PageError(404, "err_unknown") from None

    def csrf(self, token: str) -> str:
        """The CSRF token the link's forms carry."""
        return csrf_token(self.secret, token)

    def check_csrf(self, form: FormData, token: str) -> None:
        """PageError 403 unless the form carries this link's CSRF token."""
        if not hmac.compare_digest(str(form.get("csrf", "")), self.csrf(token)):
            raise PageError(403, "err_csrf")

    async def posted(self, token: str, request: Request) -> tuple[str, PreferenceSnapshot, FormData]:
        """A POST to a link's page: the link checked, the form read and its CSRF token checked."""
        candidate_id, snapshot = await self.authorise(token)
        form = await read_form(request)
        self.check_csrf(form, token)
        return candidate_id, snapshot, form

    def keyed(self, label: str, value: str) -> str:
        """A keyed hash of a value (a link, an address) for rate-limit keys: nothing readable is stored."""
        return hmac.new(self.secret, f"{label}:{value}".encode(), hashlib.sha256).hexdigest()[:32]
