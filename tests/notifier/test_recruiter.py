"""Recruiter API and pages on an in-memory store: keys, sessions, CSRF, timeline and worklist shapes."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from datetime import datetime, timedelta
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from pydantic import SecretStr

from schemas.common import ChangeSource, Channel, ConsentState
from schemas.preferences import ChannelConsent, ConsentRecord, ContactPoint, Contacts, PreferenceSnapshot
from services.notifier.reach import Reach, reach_of
from services.notifier.recruiter import recruiter_api
from services.notifier.recruiter_pages import page_routes
from services.notifier.settings import NotifierSettings
from tests.notifier.provider_doubles import NOW

KEY = {"X-API-Key": "dev-only-api-key"}


class WorkStore:
    """The timeline and worklist part of NotifierStore, in memory."""

    def __init__(self) -> None:
        self.entries: list[dict[str, Any]] = []
        self.work: dict[str, dict[str, Any]] = {}
        self.timeline_reads: list[str] = []

    async def timeline(self, candidate_id: str, application_id: str | None = None) -> list[dict[str, Any]]:
        self.timeline_reads.append(candidate_id)
        return [
            e
            for e in self.entries
            if e["candidate_id"] == candidate_id and application_id in (None, e.get("application_id"))
        ]

    async def worklist(self, include_handled: bool = False) -> list[dict[str, Any]]:
        return [w for w in self.work.values() if include_handled or w["handled_at"] is None]

    async def mark_handled(self, item_id: str, by: str, now: datetime) -> bool:
        item = self.work.get(item_id)
        if item is None or item["handled_at"] is not None:
            return False
        item.update(handled_at=now, handled_by=by)
        return True


def item(item_id: str, kind: str, stage: str, reason: str, **extra: Any) -> dict[str, Any]:
    return {
        "_id": item_id,
        "kind": kind,
        "candidate_id": "cand-1",
        "application_id": "app-1",
        "notification_id": "n-9",
        "stage": stage,
        "reason": reason,
        "created_at": NOW,
        "handled_at": None,
        **extra,
    }


def filled() -> WorkStore:
    store = WorkStore()
    store.entries.append(
        {
            "_id": "n-1",
            "candidate_id": "cand-1",
            "application_id": "app-1",
            "ats_event_id": "ats-1",
            "channel": "email",
            "stage": "interview_scheduling",
            "attempt": 1,
            "template": "interview_invite",
            "template_version": 2,
            "language": "nl",
            "reasons": ["e-mail: number 1 in the candidate's order"],
            "subject": "Je gesprek",
            "body": "Hoi Sanne <script>alert(1)</script>",
            "status": "delivered",
            "history": [
                {"status": "queued", "at": NOW, "reason": "routed", "provider": None},
                {"status": "sent", "at": NOW, "reason": "", "provider": "smtp"},
                {"status": "delivered", "at": NOW, "reason": "", "provider": "smtp"},
            ],
            "created_at": NOW,
        }
    )
    for w in (
        item("needs_recruiter:n-9", "needs_recruiter", "screening", "no channel left: e-mail bounced"),
        item("needs_recruiter:n-8", "needs_recruiter", "interview_scheduling", "no reply within 24 h, also after..."),
        item("needs_recruiter:n-7", "needs_recruiter", "interview_scheduling", "no reply within 48 h, also after..."),
        item("unparsed_reply:e-1", "unparsed_reply", None, "reply not understood", channel="sms"),
        item("call_task:n-6", "call_task", "offer", "call the candidate", details={"who": "Sanne", "phone": "+316"}),
    ):
        store.work[w["_id"]] = w
    return store


def snapshot() -> PreferenceSnapshot:
    granted = ConsentRecord(state=ConsentState.GRANTED, source=ChangeSource.SELF_SERVICE, at=NOW)
    revoked = ConsentRecord(state=ConsentState.REVOKED, source=ChangeSource.REPLY, at=NOW, evidence="STOP")
    return PreferenceSnapshot(
        candidate_id="cand-1",
        version=4,
        updated_at=NOW,
        contacts=Contacts(
            email=ContactPoint(address="sanne@example.org", valid=False), phone=ContactPoint(address="+31612345678")
        ),
        consent={
            Channel.WHATSAPP: ChannelConsent(application=granted),
            Channel.SMS: ChannelConsent(application=revoked),
        },
        channel_order=(Channel.WHATSAPP, Channel.EMAIL),
        language="en",
    )


def app_for(store: WorkStore, reach: Reach | None = None, **overrides: Any) -> FastAPI:
    s = NotifierSettings(**overrides)
    app = FastAPI()
    known = {"cand-1": reach} if reach else {}
    app.include_router(recruiter_api(s, store, known.get, lambda: NOW))  # type: ignore[arg-type]
    app.include_router(page_routes(s, store, known.get, lambda: NOW))  # type: ignore[arg-type]
    return app


@pytest.fixture
async def client() -> AsyncIterator[httpx.AsyncClient]:
    app = app_for(filled(), reach_of(snapshot()))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://app") as c:
        yield c


async def test_the_api_wants_a_key(client: httpx.AsyncClient) -> None:
    assert (await client.get("/v1/worklist")).status_code == 401
    assert (await client.get("/v1/worklist", headers={"X-API-Key": "wrong"})).status_code == 403
    bearer = {"Authorization": "Bearer dev-only-api-key"}
    assert (await client.get("/v1/candidates/cand-1/timeline", headers=bearer)).status_code == 200


async def test_timeline_json(client: httpx.AsyncClient) -> None:
    body = (await client.get("/v1/candidates/cand-1/timeline", headers=KEY)).json()
    [n] = body["notifications"]
    assert n["template"] == {"name": "interview_invite", "version": 2, "language": "nl"}
    assert [h["status"] for h in n["history"]] == ["queued", "sent", "delivered"]
    assert n["reasons"] == ["e-mail: number 1 in the candidate's order"] and n["ats_event_id"] == "ats-1"
    prefs = body["preferences"]
    assert prefs["channel_order"] == ["whatsapp", "email"] and prefs["version"] == 4 and prefs["language"] == "en"
    assert prefs["channels"]["email"] == {
        "address_known": True,
        "address_valid": False,
        "consent": {
            "application": {"state": "unknown", "source": None},
            "talent_pool": {"state": "unknown", "source": None},
        },
    }
    assert prefs["channels"]["whatsapp"]["consent"]["application"] == {"state": "granted", "source": "self_service"}
    assert prefs["channels"]["sms"]["consent"]["application"] == {"state": "revoked", "source": "reply"}
    other = await client.get("/v1/candidates/cand-1/timeline", params={"application_id": "app-2"}, headers=KEY)
    assert other.json()["notifications"] == []
    assert (await client.get("/v1/candidates/cand-404/timeline", headers=KEY)).status_code == 404


async def test_worklist_json_counts_and_filters(client: httpx.AsyncClient) -> None:
    body = (await client.get("/v1/worklist", headers=KEY)).json()
    assert body["counts"] == {
        "person_requested": 0,
        "needs_recruiter": 3,
        "silence": 2,
        "unparsed_reply": 1,
        "unattributed_reply": 0,
        "call_task": 1,
        "choice_not_honoured": 0,
    }
    assert body["silence_by_stage"] == {"interview_scheduling": 2}
    silent = (await client.get("/v1/worklist", params={"kind": "silence"}, headers=KEY)).json()["items"]
    assert {i["id"] for i in silent} == {"needs_recruiter:n-8", "needs_recruiter:n-7"} and all(
        i["silence"] for i in silent
    )
    calls = (await client.get("/v1/worklist", params={"kind": "call_task"}, headers=KEY)).json()["items"]
    assert calls[0]["details"]["who"] == "Sanne"
    assert (await client.get("/v1/worklist", params={"kind": "everything"}, headers=KEY)).status_code == 422


async def test_marking_handled_is_idempotent(client: httpx.AsyncClient) -> None:
    url = "/v1/worklist/call_task:n-6/handled"
    first = await client.post(url, json={"by": "Femke"}, headers=KEY)
    assert first.status_code == 200 and first.json()["changed"] is True
    again = await client.post(url, json={"by": "Joris"}, headers=KEY)
    assert again.status_code == 200 and (again.json()["changed"], again.json()["handled_by"]) == (False, "Femke")
    assert (await client.post("/v1/worklist/nope/handled", json={"by": "F"}, headers=KEY)).status_code == 404
    assert (await client.post(url, json={}, headers=KEY)).status_code == 422
    body = (await client.get("/v1/worklist", headers=KEY)).json()
    assert body["counts"]["call_task"] == 0
    handled = (await client.get("/v1/worklist", params={"include_handled": True}, headers=KEY)).json()["items"]
    assert any(i["id"] == "call_task:n-6" and i["handled_by"] == "Femke" for i in handled)


def csrf_of(page: str) -> str:
    return re.search(r'name="csrf" value="([0-9a-f]+)"', page).group(1)  # type: ignore[union-attr]


async def test_pages_need_a_session_from_a_valid_key(client: httpx.AsyncClient) -> None:
    for path in ("/recruiter/worklist", "/recruiter/candidates/cand-1"):
        r = await client.get(path)
        assert (r.status_code, r.headers["location"]) == (303, "/recruiter/login")
    assert (await client.get("/recruiter/login", params={"key": "wrong"})).status_code == 403
    client.cookies.set("recruiter_session", "forged.0000", domain="app", path="/recruiter")
    assert (await client.get("/recruiter/worklist")).status_code == 303
    client.cookies.clear()
    login = await client.get("/recruiter/login", params={"key": "dev-only-api-key", "who": "Femke"})
    assert (login.status_code, login.headers["location"]) == (303, "/recruiter/worklist")
    cookie = login.headers["set-cookie"].lower()
    assert "httponly" in cookie and "samesite=strict" in cookie and "path=/recruiter" in cookie
    page = await client.get("/recruiter/worklist")
    assert page.status_code == 200
    assert "script-src 'none'" in page.headers["content-security-policy"]
    assert page.headers["x-frame-options"] == "DENY" and page.headers["cache-control"] == "no-store"


async def test_the_login_form_posts_the_key(client: httpx.AsyncClient) -> None:
    form = await client.get("/recruiter/login")
    assert form.status_code == 200 and 'type="password"' in form.text
    login = await client.post("/recruiter/login", data={"key": "dev-only-api-key", "who": ""})
    assert login.status_code == 303
    assert (await client.get("/recruiter/worklist")).status_code == 200


async def test_mark_handled_from_the_page_needs_the_csrf_token(client: httpx.AsyncClient) -> None:
    await client.get("/recruiter/login", params={"key": "dev-only-api-key", "who": "Femke"})
    page = (await client.get("/recruiter/worklist")).text
    assert page.count("Mark handled") == 5 and "Silence by stage" in page
    url = "/recruiter/worklist/call_task%3An-6/handled"
    assert (await client.post(url, data={"csrf": "0" * 64})).status_code == 403
    done = await client.post(url, data={"csrf": csrf_of(page)})
    assert (done.status_code, done.headers["location"]) == (303, "/recruiter/worklist?done=call_task%3An-6")
    after = (await client.get("/recruiter/worklist?include_handled=1")).text
    assert "Handled by Femke" in after and after.count("Mark handled") == 4


async def test_a_removed_key_ends_its_sessions() -> None:
    store = filled()
    old = app_for(store)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=old), base_url="http://app") as c:
        await c.get("/recruiter/login", params={"key": "dev-only-api-key"})
        cookie = c.cookies.get("recruiter_session")
    rotated = app_for(store, api_keys=[SecretStr("a-new-key")])
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=rotated), base_url="http://app") as c:
        c.cookies.set("recruiter_session", cookie or "", domain="app", path="/recruiter")
        assert (await c.get("/recruiter/worklist")).status_code == 303


async def test_sessions_expire() -> None:
    store = filled()
    later = {"now": NOW}
    s = NotifierSettings()
    app = FastAPI()
    app.include_router(page_routes(s, store, lambda _: None, lambda: later["now"]))  # type: ignore[arg-type]
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://app") as c:
        await c.get("/recruiter/login", params={"key": "dev-only-api-key"})
        assert (await c.get("/recruiter/worklist")).status_code == 200
        later["now"] = NOW + timedelta(hours=13)
        assert (await c.get("/recruiter/worklist")).status_code == 303


async def test_the_timeline_page_escapes_message_content(client: httpx.AsyncClient) -> None:
    await client.get("/recruiter/login", params={"key": "dev-only-api-key"})
    page = (await client.get("/recruiter/candidates/cand-1")).text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page and "<script>" not in page
    assert "<details>" in page and "self service" in page
    assert (await client.get("/recruiter/candidates/cand-404")).status_code == 404


async def test_every_worklist_item_carries_its_channel() -> None:
    """Items stored before they carried a channel get it from their notification (the state said sms)."""
    store = WorkStore()
    store.entries.append({"_id": "n-sms", "candidate_id": "cand-2", "channel": "sms", "status": "needs_recruiter"})
    for w in (
        item(
            "needs_recruiter:n-sms",
            "needs_recruiter",
            "interview_scheduling",
            "no reply within 24 h",
            notification_id="n-sms",
            candidate_id="cand-2",
        ),
        item("needs_recruiter:n-none", "needs_recruiter", "screening", "no channel left", channel=None),
        item("needs_recruiter:n-wa", "needs_recruiter", "offer", "template missing", channel="whatsapp"),
        item("call_task:n-6", "call_task", "offer", "call the candidate"),
        {
            **item(
                "unattributed_reply:SM1",
                "unattributed_reply",
                None,
                "a reply from a number 2 candidates share",
                channel="sms",
            ),
            "candidate_id": None,
            "details": {"phone": "+31612345678", "text": "Wie?", "candidates": ["cand-a", "cand-b"]},
        },
    ):
        store.work[w["_id"]] = w
    app = app_for(store)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://app") as c:
        body = (await c.get("/v1/worklist", headers=KEY)).json()
        await c.get("/recruiter/login", params={"key": "dev-only-api-key"})
        page = (await c.get("/recruiter/worklist")).text
    channels = {i["id"]: i["channel"] for i in body["items"]}
    assert channels == {
        "needs_recruiter:n-sms": "sms",
        "needs_recruiter:n-none": None,
        "needs_recruiter:n-wa": "whatsapp",
        "call_task:n-6": "voice",
        "unattributed_reply:SM1": "sms",
    }
    assert store.timeline_reads == ["cand-2", "cand-2"]  # only the item without a channel, once per read
    assert body["counts"]["unattributed_reply"] == 1
    assert "· sms" in page and "· voice" in page and "unknown sender" in page
    assert (
        '<a href="/recruiter/candidates/cand-a">cand-a</a>, <a href="/recruiter/candidates/cand-b">cand-b</a>' in page
    )
    assert "/recruiter/candidates/None" not in page
