"""Rate limits on public endpoints: the token buckets, and the middleware as the services install it."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx
import pytest
from fastapi import FastAPI
from prometheus_client import CollectorRegistry
from starlette.responses import PlainTextResponse
from starlette.routing import Route

from services.common.ratelimit import RateLimit, Rule, TokenBuckets
from services.notifier.app import create_app as notifier_app
from services.notifier.channels.twilio_api import STATUS_PATH
from services.notifier.settings import NotifierSettings
from services.preference.app import create_app as preference_app
from services.preference.settings import PreferenceSettings


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_a_bucket_allows_a_burst_then_one_request_per_interval() -> None:
    clock = Clock()
    buckets = TokenBuckets(per_minute=6, clock=clock)
    assert [buckets.take("a") for _ in range(6)] == [0.0] * 6
    assert buckets.take("a") == pytest.approx(10.0)  # 6 a minute: one every 10 s
    assert buckets.take("b") == 0.0, "another key has its own bucket"
    clock.now += 10
    assert buckets.take("a") == 0.0
    assert buckets.take("a") > 0
    clock.now += 3600
    assert [buckets.take("a") for _ in range(7)].count(0.0) == 6, "a bucket never fills beyond its burst"


def test_buckets_stay_bounded_and_forget_the_least_recently_used() -> None:
    clock = Clock()
    buckets = TokenBuckets(per_minute=1, clock=clock, max_keys=3)
    for key in ("a", "b", "c"):
        buckets.take(key)
    buckets.take("a")  # a is used again; b is now the oldest
    buckets.take("d")
    assert buckets.take("b") == 0.0, "b was forgotten (starts full again)"
    assert buckets.take("a") > 0, "a is still remembered as empty"


@asynccontextmanager
async def limited(rules: list[Rule], address: str = "203.0.113.7") -> AsyncIterator[httpx.AsyncClient]:
    async def ok(_: object) -> PlainTextResponse:
        return PlainTextResponse("ok")

    app = FastAPI(routes=[Route("/{path:path}", ok, methods=["GET", "POST"])])
    app.add_middleware(RateLimit, rules=rules, registry=CollectorRegistry())
    transport = httpx.ASGITransport(app=app, client=(address, 40000))
    async with httpx.AsyncClient(transport=transport, base_url="http://app") as client:
        yield client


async def test_429_with_retry_after_once_an_address_has_used_its_budget() -> None:
    async with limited([Rule("pages", "/s/", per_address_per_minute=3)]) as client:
        assert [(await client.get(f"/s/token-{n}")).status_code for n in range(3)] == [200, 200, 200]
        refused = await client.post("/s/token-9")
        assert refused.status_code == 429
        assert refused.headers["retry-after"] == "20"
        assert (await client.get("/s-assets/selfservice.css")).status_code == 200, "other paths are not limited"
        assert (await client.get("/health")).status_code == 200
    async with limited([Rule("pages", "/s/", per_address_per_minute=3)], address="198.51.100.1") as other:
        assert (await other.get("/s/token-1")).status_code == 200


async def test_one_link_is_limited_from_every_address() -> None:
    rule = Rule("pages", "/u/", per_address_per_minute=100, per_token_per_minute=2)
    async with limited([rule]) as client:
        assert [(await client.post(f"/u/abc?channel=sms&n={n}")).status_code for n in range(3)] == [200, 200, 429]
        assert (await client.post("/u/another-token")).status_code == 200


async def test_a_zero_rate_turns_a_limit_off() -> None:
    async with limited([Rule("callbacks", "/callbacks/", per_address_per_minute=0)]) as client:
        assert {(await client.post("/callbacks/twilio/status")).status_code for _ in range(50)} == {200}


async def test_the_preference_service_limits_its_pages() -> None:
    """The real app: invalid links get 403 until the address's budget is gone, then 429 (no database read)."""
    app = preference_app(PreferenceSettings(page_rate_per_minute=4, link_rate_per_minute=2))
    transport = httpx.ASGITransport(app=app, client=("203.0.113.8", 40000))
    async with httpx.AsyncClient(transport=transport, base_url="http://pref") as client:
        same_link = [(await client.get("/s/forged-token")).status_code for _ in range(3)]
        assert same_link == [403, 403, 429]
        assert (await client.post("/u/other-token?channel=sms")).status_code == 403
        assert [(await client.get(f"/s/t{n}")).status_code for n in range(3)] == [403, 429, 429]
        metrics = (await client.get("/metrics")).text
    assert 'http_rate_limited_requests_total{by="token",endpoint="self-service"} 1.0' in metrics
    assert 'http_rate_limited_requests_total{by="address",endpoint="self-service"} 2.0' in metrics


async def test_the_notifier_limits_provider_callbacks() -> None:
    app = notifier_app(NotifierSettings(callback_rate_per_minute=2))
    transport = httpx.ASGITransport(app=app, client=("203.0.113.9", 40000))
    async with httpx.AsyncClient(transport=transport, base_url="http://notifier") as client:
        statuses = [(await client.post(STATUS_PATH, data={"MessageSid": "SM1"})).status_code for _ in range(3)]
        assert statuses == [403, 403, 429], "unsigned callbacks are refused, and then limited"
        assert (await client.get("/v1/worklist")).status_code == 401, "the recruiter API is not a callback"
