"""The candidate's self-service page and RFC 8058 one-click unsubscribe, reached through signed links.

No API key and no id in the URL: the token names the candidate. A GET never changes anything (mail
scanners prefetch links); the form carries a CSRF token bound to the link; one-click unsubscribe POSTs
are authenticated by the token alone, as mail clients send them without a page.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Request, Response
from fastapi.responses import HTMLResponse

from schemas.common import Channel, Stage
from schemas.preferences import PreferenceSnapshot
from services.preference.channel_notes import channel_notes, contact_lines
from services.preference.code_sender import CodeSender, ProviderCodeSender
from services.preference.contact_pages import contact_routes
from services.preference.erasure_notices import ErasureNotices
from services.preference.mydata_pages import mydata_routes
from services.preference.page_common import (
    CSS,
    CSS_PATH,
    SECURITY_HEADERS,
    TEXTS,
    Links,
    PageError,
    csrf_token,
    see_other,
)
from services.preference.page_common import error_page as _error
from services.preference.page_common import html as _html
from services.preference.page_common import page_lang as _lang
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
)
from services.preference.service import ConcurrentChangesError, PreferenceService, UnknownCandidateError
from services.preference.settings import PreferenceSettings
from services.preference.verification_store import VerificationStore

__all__ = ["TEXTS", "PageError", "csrf_token", "page_routes"]
CAP_CHOICES = ("", "1", "2", "3", "5", "10")


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
    done: str | None = None,
    status: int = 200,
) -> HTMLResponse:
    t = TEXTS[lang]
    paused = (
        s.paused_until.astimezone(ZoneInfo(s.timezone)) if values.get("pause") == "keep" and s.paused_until else None
    )
    caps = [*CAP_CHOICES, *([values["cap_per_week"]] if values.get("cap_per_week") not in CAP_CHOICES else [])]
    return _html(
        "selfservice.html",
        status,
        t=t,
        lang=lang,
        action=f"/s/{token}" + (f"?lang={lang}" if override else ""),
        base=f"/s/{token}",
        values=values,
        notes=channel_notes(s, approved, t),
        contacts=contact_lines(s, t),
        choices=[c.value for c in _choices(s)],
        stages=[s_.value for s_ in Stage],
        caps=caps,
        pauses=[*(["keep"] if paused else []), "none", *PAUSES],
        paused_until=f"{paused:%d-%m-%Y %H:%M}" if paused else None,
        csrf=csrf,
        page_version=PAGE_VERSION,
        error=error,
        saved=saved,
        done=t["done"].get(done or "") if done else None,
    )


def page_routes(
    service: PreferenceService,
    settings: PreferenceSettings,
    verifications: VerificationStore | None = None,
    sender: CodeSender | None = None,
    notices: ErasureNotices | None = None,
) -> APIRouter:
    """Routes /s/{token} (self-service form and its pages) and /u/{token} (one-click unsubscribe)."""
    router = APIRouter(include_in_schema=False)
    links = Links(service, settings.link_secret.get_secret_value().encode())
    clock = service.clock
    approved = settings.channels.whatsapp_templates
    authorise = links.authorise

    @router.get(CSS_PATH)
    async def stylesheet() -> Response:
        """The page's style sheet (served from here so the CSP needs no inline styles)."""
        return Response(CSS, media_type="text/css", headers=SECURITY_HEADERS)

    @router.get("/s/{token}")
    async def show_form(
        token: str, lang: str | None = None, saved: str | None = None, done: str | None = None
    ) -> HTMLResponse:
        """The form with the candidate's current choices; changes nothing."""
        try:
            _, snapshot = await authorise(token)
        except PageError as e:
            return _error(e, _lang(lang, None))
        version = saved if saved and saved.isdigit() else None
        values = form_values(snapshot, clock())
        language = _lang(lang, snapshot)
        return _form_page(
            token,
            snapshot,
            values,
            language,
            approved=approved,
            csrf=links.csrf(token),
            saved=version,
            done=done,
            override=lang in TEXTS,
        )

    @router.post("/s/{token}")
    async def save_form(token: str, request: Request, lang: str | None = None) -> Response:
        """Store everything the candidate changed as one new version, then show it (303 to the form)."""
        try:
            candidate_id, current, form = await links.posted(token, request)
        except PageError as e:
            return _error(e, _lang(lang, None))
        language, submitted = _lang(lang, current), None
        try:
            submitted = read_form(form.multi_items())
            result = await service.change(candidate_id, lambda cur: propose_from_form(cur, submitted, clock()))
        except FormError as e:
            values = {**form_values(current, clock()), **(submitted or {})}
            error = TEXTS[language][e.key]
            csrf = links.csrf(token)
            return _form_page(token, current, values, language, approved=approved, csrf=csrf, error=error, status=400)
        except (UnknownCandidateError, ConcurrentChangesError) as e:
            return _error(_refusal(e), language)
        snapshot = result.snapshot if result else current
        keep = lang in TEXTS and snapshot.language == current.language
        return see_other(f"/s/{token}?saved={snapshot.version}" + (f"&lang={lang}" if keep else ""))

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

    router.include_router(contact_routes(links, settings, verifications, sender or ProviderCodeSender(settings)))
    router.include_router(mydata_routes(links, verifications, notices))
    return router


def _refusal(e: Exception) -> PageError:
    """Erased while the page was open (404), or too many writers at once (409: try again)."""
    return PageError(404, "err_unknown") if isinstance(e, UnknownCandidateError) else PageError(409, "err_busy")


def _channel_param(value: str | None) -> Channel:
    try:
        return Channel(value or "")
    except ValueError:
        raise PageError(400, "err_channel") from None
