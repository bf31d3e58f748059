"""The recruiter's HTML pages: a candidate's timeline and the worklist, server-rendered (no script).

Recruiters log in once with an API key (GET /recruiter/login?key=... or the login form) and get a
signed session cookie (HttpOnly, SameSite=Strict, path /recruiter); every form carries the session's
CSRF token. Message content is shown as it was sent, escaped.
"""

from __future__ import annotations

import hmac
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote

from fastapi import APIRouter, Request, Response
from fastapi.responses import HTMLResponse, RedirectResponse
from jinja2 import Environment, FileSystemLoader, StrictUndefined

from services.notifier.recruiter import ReachOf, candidate_timeline, mark_item_handled, worklist_items
from services.notifier.recruiter_views import choices_summary, grouped, worklist_view
from services.notifier.sessions import (
    SESSION_COOKIE,
    SESSION_TTL,
    RecruiterSession,
    csrf_ok,
    csrf_token,
    key_id,
    open_session,
    read_session,
)
from services.notifier.settings import NotifierSettings
from services.notifier.store import NotifierStore

PAGES = Path(__file__).with_name("pages")
CSS_PATH = "/recruiter/assets/recruiter.css"
CSS = (PAGES / "recruiter.css").read_text(encoding="utf-8")
SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; script-src 'none'; object-src 'none'; base-uri 'none'; "
        "form-action 'self'; frame-ancestors 'none'"
    ),
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",  # a login URL may carry the key
    "Cache-Control": "no-store",
}


def _when(value: datetime | None) -> str:
    return f"{value:%Y-%m-%d %H:%M:%S} UTC" if isinstance(value, datetime) else ""


def _iso(value: datetime | None) -> str:
    return value.isoformat() if isinstance(value, datetime) else ""


_ENV = Environment(loader=FileSystemLoader(PAGES), autoescape=True, undefined=StrictUndefined)
_ENV.filters.update(when=_when, iso=_iso, label=lambda v: str(v or "").replace("_", " "))


def _html(template: str, status: int = 200, **context: Any) -> HTMLResponse:
    context.setdefault("session", None)
    context.setdefault("csrf", "")
    body = _ENV.get_template(template).render(css=CSS_PATH, **context)
    return HTMLResponse(body, status_code=status, headers=SECURITY_HEADERS)


def _to(url: str) -> RedirectResponse:
    return RedirectResponse(url, status_code=303, headers=SECURITY_HEADERS)


def page_routes(s: NotifierSettings, store: NotifierStore, reach_of: ReachOf, clock: Any) -> APIRouter:
    """Routes under /recruiter."""
    router = APIRouter(prefix="/recruiter", include_in_schema=False)
    secret = s.session_secret.get_secret_value().encode()
    keys = [k.get_secret_value() for k in s.api_keys if k.get_secret_value()]
    key_ids = {key_id(k) for k in keys}

    def session_of(request: Request) -> RecruiterSession | None:
        return read_session(secret, request.cookies.get(SESSION_COOKIE), key_ids, clock())

    def login(key: str, who: str) -> Response:
        if not any(hmac.compare_digest(key.encode(), k.encode()) for k in keys):
            return _html("login.html", 403, error="This key is not accepted.")
        response = _to("/recruiter/worklist")
        response.set_cookie(
            SESSION_COOKIE,
            open_session(secret, key, who, clock()),
            max_age=int(SESSION_TTL.total_seconds()),
            path="/recruiter",
            secure=s.public_url.startswith("https://"),
            httponly=True,
            samesite="strict",
        )
        return response

    @router.get("/assets/recruiter.css")
    async def stylesheet() -> Response:
        """The pages' style sheet (served here so the CSP needs no inline styles)."""
        return Response(CSS, media_type="text/css", headers=SECURITY_HEADERS)

    @router.get("/login")
    async def login_page(key: str | None = None, who: str = "") -> Response:
        """The login form; with ?key= it logs in at once (a bookmark for recruiters)."""
        return login(key, who) if key else _html("login.html", error=None)

    @router.post("/login")
    async def login_form(request: Request) -> Response:
        """Exchange the API key for a session cookie."""
        form = await request.form(max_files=0, max_fields=10)
        return login(str(form.get("key", "")), str(form.get("who", "")))

    @router.post("/logout")
    async def logout(request: Request) -> Response:
        """End the session (CSRF-checked, so another site cannot log a recruiter out)."""
        session = session_of(request)
        form = await request.form(max_files=0, max_fields=10)
        if session is not None and not csrf_ok(secret, session, str(form.get("csrf", ""))):
            return _html("message.html", 403, title="Refused", text="The form expired; reload the page.")
        response = _to("/recruiter/login")
        response.delete_cookie(SESSION_COOKIE, path="/recruiter")
        return response

    @router.get("/worklist")
    async def worklist_page(request: Request, include_handled: bool = False, done: str | None = None) -> Response:
        """Open items grouped by kind, each with a button to mark it handled."""
        session = session_of(request)
        if session is None:
            return _to("/recruiter/login")
        items = await worklist_items(store, include_handled)
        view = worklist_view(items)
        asking = {str(i["candidate_id"]) for i in items if i.get("kind") == "person_requested"}
        return _html(
            "worklist.html",
            session=session,
            csrf=csrf_token(secret, session),
            groups=grouped(items),
            silence_by_stage=view["silence_by_stage"],
            include_handled=include_handled,
            done=done,
            choices={cid: choices_summary(reach_of(cid)) for cid in asking},
        )

    @router.post("/worklist/{item_id}/handled")
    async def handled_form(item_id: str, request: Request) -> Response:
        """Mark one item handled, as the logged-in recruiter; back to the worklist."""
        session = session_of(request)
        if session is None:
            return _to("/recruiter/login")
        form = await request.form(max_files=0, max_fields=10)
        if not csrf_ok(secret, session, str(form.get("csrf", ""))):
            return _html("message.html", 403, title="Refused", text="The form expired; reload the worklist.")
        if await mark_item_handled(store, item_id, session.who, clock()) is None:
            return _html("message.html", 404, title="Not found", text="This worklist item does not exist.")
        return _to(f"/recruiter/worklist?done={quote(item_id, safe='')}")

    @router.get("/candidates")
    async def find_candidate(candidate_id: str = "") -> Response:
        """The navigation's search box: on to the candidate's timeline."""
        return _to(f"/recruiter/candidates/{quote(candidate_id.strip(), safe='')}")

    @router.get("/candidates/{candidate_id}")
    async def timeline_page(request: Request, candidate_id: str, application_id: str | None = None) -> Response:
        """Every message of the candidate: channel, status history, reasons and content."""
        session = session_of(request)
        if session is None:
            return _to("/recruiter/login")
        found = await candidate_timeline(store, reach_of, candidate_id, application_id or None)
        common: dict[str, Any] = {"session": session, "csrf": csrf_token(secret, session)}
        if found is None:
            text = "No messages and no preferences for this candidate."
            return _html("message.html", 404, title="Unknown candidate", text=text, **common)
        return _html(
            "timeline.html",
            candidate_id=candidate_id,
            application_id=application_id,
            prefs=found["preferences"],
            notifications=found["notifications"],
            **common,
        )

    return router
