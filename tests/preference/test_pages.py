"""The self-service page and one-click unsubscribe, in-process with the fake store (no Kafka)."""

from __future__ import annotations

import base64
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from html.parser import HTMLParser
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from prometheus_client import CollectorRegistry
from pydantic import SecretStr

from schemas.ats import ATS_EVENT_ADAPTER
from schemas.common import ChangeSource, Channel, ConsentState, PurposeClass, Stage
from services.common.links import sign
from services.preference.metrics import PreferenceMetrics
from services.preference.pages import TEXTS, page_routes
from services.preference.selfservice import PAGE_VERSION, UNSUBSCRIBE_EVIDENCE
from services.preference.service import PreferenceService
from services.preference.settings import PreferenceSettings
from tests.fakes import FakePreferenceStore, FakeSnapshotPublisher
from tests.support import ats_event

NOW = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
SECRET = b"page-test-link-secret"


@dataclass
class Page:
    client: httpx.AsyncClient
    service: PreferenceService
    published: list[Any]

    async def version(self, candidate_id: str = "c1") -> int:
        return (await self.service.get(candidate_id)).version


@pytest.fixture
async def page() -> AsyncIterator[Page]:
    settings = PreferenceSettings(link_secret=SecretStr(SECRET.decode()))
    publisher = FakeSnapshotPublisher()
    service = PreferenceService(
        FakePreferenceStore(), publisher, PreferenceMetrics(CollectorRegistry()), lambda: NOW, b"k"
    )
    app = FastAPI()
    app.include_router(page_routes(service, settings))
    for cid, locale in (("c1", "nl-NL"), ("c2", "en-GB")):
        event = ats_event("ats.application.received", cid, phone="+31612345678", locale=locale, time_=NOW)
        await service.import_from_ats([ATS_EVENT_ADAPTER.validate_python(event)])
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://page") as client:
        yield Page(client, service, publisher.published)


def token(candidate_id: str = "c1", secret: bytes = SECRET, expires: datetime = NOW + timedelta(days=30)) -> str:
    return sign(secret, candidate_id, expires)


class _Form(HTMLParser):
    """The fields a browser would submit for the page's form, as it stands."""

    def __init__(self) -> None:
        super().__init__()
        self.fields: list[tuple[str, str]] = []
        self._select: str | None = None
        self._options: list[tuple[str, bool]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        if tag == "input" and a.get("name") and "disabled" not in a:
            if a.get("type") not in ("checkbox", "radio") or "checked" in a:
                self.fields.append((a["name"] or "", a.get("value") or ""))
        elif tag == "select":
            self._select, self._options = a.get("name"), []
        elif tag == "option" and self._select:
            self._options.append((a.get("value") or "", "selected" in a))

    def handle_endtag(self, tag: str) -> None:
        if tag == "select" and self._select:
            chosen = [v for v, selected in self._options if selected] or [self._options[0][0]]
            self.fields.append((self._select, chosen[0]))
            self._select = None


Form = dict[str, list[str]]


async def form_of(page: Page, tok: str) -> Form:
    """What the browser would submit for the page as rendered (every value of a repeated field)."""
    response = await page.client.get(f"/s/{tok}")
    assert response.status_code == 200
    parser = _Form()
    parser.feed(response.text)
    form: Form = {}
    for name, value in parser.fields:
        form.setdefault(name, []).append(value)
    return form


def edit(form: Form, **changes: str | list[str]) -> Form:
    """The form with some fields replaced (a list replaces every value of a repeated field such as consent)."""
    return {**form, **{k: v if isinstance(v, list) else [v] for k, v in changes.items()}}


async def test_form_shows_current_choices_in_the_candidates_language_and_on_request(page: Page) -> None:
    nl = await page.client.get(f"/s/{token('c1')}")
    assert nl.status_code == 200 and '<html lang="nl">' in nl.text
    for label in ("Hoe wil je dat we contact opnemen?", "Eerste keuze", "Gesprek inplannen", "Rustige uren", "Opslaan"):
        assert label in nl.text
    fields = await form_of(page, token("c1"))
    assert fields["order_1"] == ["email"] and fields["language"] == ["nl"] and fields["quiet_start"] == ["21:00"]
    assert fields["pause"] == ["none"] and fields["voicemail"] == ["yes"] and fields["csrf"][0]
    assert fields["consent"] == ["email"] and "talent_pool" not in fields
    assert 'id="consent-portal" name="consent" value="portal" disabled' in nl.text  # no portal account
    assert "niet beschikbaar" in nl.text
    assert 'value="sms" checked' not in nl.text  # SMS needs a grant; e-mail may be used while unknown
    assert 'id="consent-email" name="consent" value="email" checked' in nl.text

    en = await page.client.get(f"/s/{token('c2')}")
    assert '<html lang="en">' in en.text and "First choice" in en.text and "Save" in en.text
    override = await page.client.get(f"/s/{token('c1')}?lang=en")
    assert '<html lang="en">' in override.text and "First choice" in override.text
    assert f'action="/s/{token("c1")}?lang=en"' in override.text


async def test_get_changes_nothing(page: Page) -> None:
    for url in (f"/s/{token()}", f"/s/{token()}?lang=en&saved=9", f"/u/{token()}?channel=email"):
        assert (await page.client.get(url)).status_code == 200
    assert await page.version() == 1 and len(page.published) == 2  # the two seeded profiles only


@pytest.mark.parametrize(
    ("tok", "status"),
    [
        (token(secret=b"someone-elses-secret"), 403),
        ("not-a-token", 403),
        (token()[:-3] + "AAA", 403),
        (token(expires=NOW - timedelta(seconds=1)), 410),
        (token("nobody"), 404),
    ],
    ids=["forged", "malformed", "bad-signature", "expired", "unknown-candidate"],
)
async def test_bad_tokens_are_refused_and_change_nothing(page: Page, tok: str, status: int) -> None:
    good = await form_of(page, token())
    for response in (
        await page.client.get(f"/s/{tok}"),
        await page.client.post(f"/s/{tok}", data=edit(good, order_1="sms")),
        await page.client.get(f"/u/{tok}?channel=email"),
        await page.client.post(f"/u/{tok}?channel=email", data={"List-Unsubscribe": "One-Click"}),
    ):
        assert response.status_code == status
        assert response.headers["content-type"].startswith("text/html")
        assert "Opslaan" not in response.text
    assert await page.version() == 1 and len(page.published) == 2


async def test_a_token_names_its_candidate_and_cannot_be_pointed_at_another(page: Page) -> None:
    tok_a = token("c1")
    _, expiry, signature = tok_a.split(".")
    other = base64.urlsafe_b64encode(b"c2").rstrip(b"=").decode()
    tampered = f"{other}.{expiry}.{signature}"
    form = await form_of(page, tok_a)
    response = await page.client.post(f"/s/{tampered}", data=edit(form, order_1="sms"))
    assert response.status_code == 403
    assert (await page.client.post(f"/u/{tampered}?channel=email")).status_code == 403
    assert await page.version("c2") == 1 and await page.version("c1") == 1


async def test_csrf_token_must_match_the_link(page: Page) -> None:
    form = edit(await form_of(page, token("c1")), order_1="sms")
    other_csrf = (await form_of(page, token("c2")))["csrf"]
    missing = {k: v for k, v in form.items() if k != "csrf"}
    for data in (edit(form, csrf="0" * 64), edit(form, csrf=other_csrf), missing):
        response = await page.client.post(f"/s/{token('c1')}", data=data)
        assert response.status_code == 403
    assert await page.version() == 1 and len(page.published) == 2


async def test_a_submit_stores_one_version_with_the_choices_and_their_provenance(page: Page) -> None:
    form = edit(
        await form_of(page, token()),
        order_1="whatsapp",
        order_2="email",
        consent=["email", "whatsapp"],
        stage_interview_scheduling="sms",
        interview_scheduling_mode="sms_options",
        documents_mode="direct_to_recruiter",
        voicemail="no",
        call_times="na 17:00",
        quiet_start="22:00",
        cap_per_week="3",
        pause="2w",
        talent_pool="yes",
    )
    response = await page.client.post(f"/s/{token()}", data=form)
    assert response.status_code == 303
    assert response.headers["location"] == f"/s/{token()}?saved=2"
    snap = await page.service.get("c1")
    assert snap.version == 2 and page.published[-1] == snap and len(page.published) == 3
    assert snap.channel_order == (Channel.WHATSAPP, Channel.EMAIL)
    assert snap.stage_overrides == {Stage.INTERVIEW_SCHEDULING: (Channel.SMS,)}
    assert snap.interview_scheduling_mode == "sms_options" and snap.documents_mode == "direct_to_recruiter"
    assert snap.voicemail is False and snap.preferred_call_times == "na 17:00"
    assert snap.quiet_hours.start.hour == 22 and snap.frequency_cap.per_week == 3
    assert snap.paused_until == NOW + timedelta(days=14)
    assert snap.last_change_source is ChangeSource.SELF_SERVICE
    for channel in (Channel.WHATSAPP, Channel.SMS):  # ticked, and chosen for a stage
        record = snap.consent_for(channel, PurposeClass.APPLICATION)
        assert (record.state, record.source, record.evidence) == (
            ConsentState.GRANTED,
            ChangeSource.SELF_SERVICE,
            PAGE_VERSION,
        )
    assert snap.consent_for(Channel.EMAIL, PurposeClass.TALENT_POOL).state is ConsentState.GRANTED
    assert snap.provenance["channel_order"].evidence == PAGE_VERSION
    assert snap.provenance["pause"].source is ChangeSource.SELF_SERVICE
    history = await page.service.history("c1")
    assert [h.version for h in history] == [1, 2] and history[-1].source is ChangeSource.SELF_SERVICE

    shown = await page.client.get(response.headers["location"])
    assert "Opgeslagen (versie 2)" in shown.text
    assert (await form_of(page, token()))["pause"] == ["keep"]


async def test_submitting_the_form_untouched_makes_no_version(page: Page) -> None:
    response = await page.client.post(f"/s/{token()}", data=await form_of(page, token()))
    assert response.status_code == 303 and response.headers["location"].endswith("?saved=1")
    assert await page.version() == 1 and len(page.published) == 2


async def test_unticking_and_resuming_revoke_and_clear(page: Page) -> None:
    await page.client.post(f"/s/{token()}", data=edit(await form_of(page, token()), pause="1w", talent_pool="yes"))
    form = edit(await form_of(page, token()), consent=[], pause="none", talent_pool="")
    assert (await page.client.post(f"/s/{token()}", data=form)).status_code == 303
    snap = await page.service.get("c1")
    assert snap.version == 3 and snap.paused_until is None
    assert snap.consent_for(Channel.EMAIL, PurposeClass.APPLICATION).state is ConsentState.REVOKED
    assert snap.consent_for(Channel.EMAIL, PurposeClass.TALENT_POOL).state is ConsentState.REVOKED


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"order_1": "fax"}, "err_channel"),
        ({"order_1": "email", "order_2": "email"}, "err_order_twice"),
        ({"order_1": ""}, "err_order_first"),
        ({"order_1": "portal"}, "err_unavailable"),
        ({"stage_coffee": "email"}, "err_stage"),
        ({"stage_offer": "pigeon"}, "err_channel"),
        ({"consent": ["email", "fax"]}, "err_channel"),
        ({"quiet_start": "25:00"}, "err_time"),
        ({"quiet_end": "soon"}, "err_time"),
        ({"timezone": "Mars/Olympus_Mons"}, "err_timezone"),
        ({"pause": "forever"}, "err_value"),
        ({"cap_per_week": "0"}, "err_value"),
        ({"language": "de"}, "err_value"),
        ({"is_admin": "1"}, "err_field"),
    ],
)
async def test_invalid_values_are_refused_with_the_form_and_nothing_stored(
    page: Page, changes: dict[str, Any], message: str
) -> None:
    form = edit(await form_of(page, token()), **{"pause": "1w", **changes})  # valid edits are not stored either
    response = await page.client.post(f"/s/{token()}", data=form)
    assert response.status_code == 400
    assert TEXTS["nl"][message] in response.text and "Er is niets opgeslagen." in response.text
    assert 'name="csrf"' in response.text  # the form again, to correct and resubmit
    assert await page.version() == 1 and len(page.published) == 2


async def test_one_click_unsubscribe_revokes_that_channel_with_the_token_alone(page: Page) -> None:
    confirm = await page.client.get(f"/u/{token()}?channel=email")
    assert confirm.status_code == 200 and "Afmelden voor E-mail" in confirm.text
    url = f"/u/{token()}?channel=email"
    response = await page.client.post(url, data={"List-Unsubscribe": "One-Click"})
    assert response.status_code == 200 and "Je bent afgemeld" in response.text
    snap = await page.service.get("c1")
    record = snap.consent_for(Channel.EMAIL, PurposeClass.APPLICATION)
    assert snap.version == 2 and page.published[-1] == snap
    assert (record.state, record.source, record.evidence) == (
        ConsentState.REVOKED,
        ChangeSource.SELF_SERVICE,
        UNSUBSCRIBE_EVIDENCE,
    )
    assert snap.consent_for(Channel.EMAIL, PurposeClass.TALENT_POOL).state is ConsentState.REVOKED
    assert (await page.client.post(url, data={"List-Unsubscribe": "One-Click"})).status_code == 200
    assert await page.version() == 2  # a repeated click records nothing new
    for bad in ("fax", ""):
        assert (await page.client.post(f"/u/{token()}?channel={bad}")).status_code == 400
    assert (await page.client.post(f"/u/{token()}")).status_code == 400


async def test_uploads_and_malformed_bodies_are_refused(page: Page) -> None:
    form = {k: v[0] for k, v in (await form_of(page, token())).items() if k != "consent"}
    upload = await page.client.post(f"/s/{token()}", data=form, files={"cv": ("cv.pdf", b"%PDF-1.7")})
    assert upload.status_code == 400 and upload.headers["x-frame-options"] == "DENY"
    assert await page.version() == 1


async def test_every_page_response_carries_the_security_headers(page: Page) -> None:
    form = await form_of(page, token())
    responses = [
        await page.client.get(f"/s/{token()}"),
        await page.client.get("/s/forged"),
        await page.client.post(f"/s/{token()}", data=edit(form, order_1="sms")),
        await page.client.post(f"/s/{token()}", data=edit(form, order_1="fax")),
        await page.client.get(f"/u/{token()}?channel=sms"),
        await page.client.post(f"/u/{token()}?channel=sms"),
    ]
    for response in responses:
        csp = response.headers["content-security-policy"]
        assert "default-src 'self'" in csp and "frame-ancestors 'none'" in csp and "script-src 'none'" in csp
        assert response.headers["x-frame-options"] == "DENY"
        assert response.headers["x-content-type-options"] == "nosniff"
        assert response.headers["referrer-policy"] == "no-referrer"
        assert response.headers["cache-control"] == "no-store"
    assert "<script" not in responses[0].text and " style=" not in responses[0].text


def test_both_languages_have_every_text() -> None:
    def keys(d: dict[str, Any], prefix: str = "") -> set[str]:
        return {f"{prefix}{k}" for k in d} | {
            x for k, v in d.items() if isinstance(v, dict) for x in keys(v, f"{prefix}{k}.")
        }

    assert keys(TEXTS["nl"]) == keys(TEXTS["en"])
    assert set(TEXTS["nl"]["channel"]) == {c.value for c in Channel}
    assert set(TEXTS["nl"]["stage"]) == {s.value for s in Stage}
