"""OIDC bearer tokens on the recruiter APIs of preference and notifier, against a JWKS served over a real
socket (uvicorn on a free port) and tokens signed with generated RSA keys. API keys keep working.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from prometheus_client import CollectorRegistry

from schemas.ats import ATS_EVENT_ADAPTER
from services.common.oidc import JwksCache, OidcConfig, OidcVerifier, oidc_config, roles_of
from services.preference.api import api_routes
from services.preference.metrics import PreferenceMetrics
from services.preference.service import PreferenceService
from services.preference.settings import PreferenceSettings
from tests.fakes import FakePreferenceStore, FakeSnapshotPublisher
from tests.notifier.test_recruiter import app_for, filled
from tests.processes import free_port
from tests.security.identity_provider import AUDIENCE, JWKS_PATH, IdentityProvider, identity_provider, new_key
from tests.support import ats_event

NOW = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
KEY = {"X-API-Key": "dev-only-api-key"}
PREFERENCES = "/v1/candidates/c1/preferences"


def oidc(idp: IdentityProvider, **overrides: Any) -> dict[str, Any]:
    return {"oidc_issuer": idp.issuer, "oidc_audience": AUDIENCE, "oidc_jwks_url": idp.issuer + JWKS_PATH, **overrides}


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture(scope="module")
async def idp() -> AsyncIterator[IdentityProvider]:
    async with identity_provider() as started:
        yield started


async def preference_app(**settings: Any) -> FastAPI:
    service = PreferenceService(
        FakePreferenceStore(), FakeSnapshotPublisher(), PreferenceMetrics(CollectorRegistry()), lambda: NOW, b"k"
    )
    event = ats_event("ats.application.received", "c1", time_=NOW)
    await service.import_from_ats([ATS_EVENT_ADAPTER.validate_python(event)])
    app = FastAPI()
    app.include_router(api_routes(service, PreferenceSettings(**settings)))
    return app


@pytest.fixture
async def pref(idp: IdentityProvider) -> AsyncIterator[httpx.AsyncClient]:
    app = await preference_app(**oidc(idp))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://pref") as client:
        yield client


async def test_a_valid_token_or_an_api_key_is_accepted_by_both_services(
    idp: IdentityProvider, pref: httpx.AsyncClient
) -> None:
    assert (await pref.get(PREFERENCES, headers=bearer(idp.token()))).status_code == 200
    assert (await pref.get(PREFERENCES, headers=KEY)).status_code == 200
    assert (await pref.get(PREFERENCES, headers=bearer("dev-only-api-key"))).status_code == 200
    notifier = app_for(filled(), **oidc(idp))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=notifier), base_url="http://n") as client:
        assert (await client.get("/v1/worklist", headers=bearer(idp.token()))).status_code == 200
        assert (await client.get("/v1/worklist", headers=KEY)).status_code == 200
        assert (await client.get("/v1/worklist")).status_code == 401


FORGERIES: dict[str, tuple[Callable[[IdentityProvider], str], int, str]] = {
    "expired": (lambda i: i.token(exp=int(datetime.now(UTC).timestamp()) - 120), 401, "has expired"),
    "not yet valid": (lambda i: i.token(nbf=int(datetime.now(UTC).timestamp()) + 600), 401, "not valid yet"),
    "without exp": (lambda i: i.token(exp=None), 401, "lacks the exp claim"),
    "wrong audience": (lambda i: i.token(aud="another-app"), 401, "another audience"),
    "without audience": (lambda i: i.token(aud=None), 401, "lacks the aud claim"),
    "wrong issuer": (lambda i: i.token(iss="https://evil.example"), 401, "another issuer"),
    "bad signature": (lambda i: i.token(key=new_key()), 401, "bad signature"),
    "unknown key id": (lambda i: i.token(key=new_key(), kid="not-published"), 401, "does not publish"),
    "alg none": (lambda i: i.unsigned(), 401, "only RS256"),
    "HS256 keyed with the public key": (lambda i: i.hmac_with_public_key(), 401, "only RS256"),
    "not a JWT": (lambda i: "abc.def.ghi", 401, "not a JWT"),
    "missing role": (lambda i: i.token(roles=["candidate"]), 403, "none of the required roles"),
    "no role claim": (lambda i: i.token(roles=None), 403, "none of the required roles"),
}


@pytest.mark.parametrize("case", FORGERIES)
async def test_bad_tokens_are_refused(idp: IdentityProvider, pref: httpx.AsyncClient, case: str) -> None:
    make, status, reason = FORGERIES[case]
    token = make(idp)
    r = await pref.get(PREFERENCES, headers=bearer(token))
    assert r.status_code == status, r.text
    assert reason in r.json()["detail"]
    error = "invalid_token" if status == 401 else "insufficient_scope"
    assert r.headers["www-authenticate"] == f'Bearer error="{error}"'
    assert token not in r.text


async def test_the_key_set_is_cached_and_refetched_when_the_provider_rotates(idp: IdentityProvider) -> None:
    clock = [1000.0]
    verifier = OidcVerifier(oidc_config_of(idp), JwksCache(idp.issuer + JWKS_PATH, clock=lambda: clock[0]))
    before = idp.fetches
    for _ in range(5):
        await verifier.verify(idp.token())
    assert idp.fetches == before + 1
    idp.rotate()
    clock[0] += 31  # a new key id refetches, but not more often than every 30 s
    assert (await verifier.verify(idp.token()))["sub"] == "femke"
    assert idp.fetches == before + 2
    with pytest.raises(Exception, match="does not publish"):
        await verifier.verify(idp.token(key=new_key(), kid="random-kid"))
    assert idp.fetches == before + 2, "random key ids must not make us hammer the provider"


async def test_unusable_entries_in_the_key_set_are_skipped(idp: IdentityProvider) -> None:
    idp.extra = [
        {"kty": "EC", "crv": "P-256", "kid": "ec", "x": "AA", "y": "AA"},
        {"kty": "RSA", "use": "enc", "kid": "encryption", "n": "AQAB", "e": "AQAB"},
        {"kty": "RSA", "kid": "broken", "n": "not base64!", "e": "AQAB"},
        "not a key",
    ]
    try:
        verifier = OidcVerifier(oidc_config_of(idp))
        assert (await verifier.verify(idp.token()))["sub"] == "femke"
    finally:
        idp.extra = []


async def test_an_unreachable_provider_answers_503_not_200(idp: IdentityProvider) -> None:
    gone = f"http://127.0.0.1:{free_port()}{JWKS_PATH}"
    app = await preference_app(**oidc(idp, oidc_jwks_url=gone))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://pref") as client:
        r = await client.get(PREFERENCES, headers=bearer(idp.token()))
        assert r.status_code == 503 and r.headers["retry-after"]
        assert (await client.get(PREFERENCES, headers=KEY)).status_code == 200


async def test_roles_may_come_from_a_scope_string_or_a_nested_claim(idp: IdentityProvider) -> None:
    assert roles_of({"scope": "openid recruiter"}, "scope") == {"openid", "recruiter"}
    assert roles_of({"realm_access": {"roles": ["admin"]}}, "realm_access.roles") == {"admin"}
    assert roles_of({"roles": 7}, "roles") == set()
    app = await preference_app(**oidc(idp, oidc_role_claim="scope", oidc_roles=["preferences:write"]))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://pref") as client:
        ok = idp.token(scope="openid preferences:write")
        assert (await client.get(PREFERENCES, headers=bearer(ok))).status_code == 200
        assert (await client.get(PREFERENCES, headers=bearer(idp.token()))).status_code == 403


def test_oidc_is_off_unless_configured_and_refuses_half_a_configuration() -> None:
    assert oidc_config(PreferenceSettings()) is None
    with pytest.raises(ValueError, match="OIDC_AUDIENCE, OIDC_JWKS_URL"):
        oidc_config(PreferenceSettings(oidc_issuer="https://id.example"))
    full = {"oidc_issuer": "https://id.example", "oidc_audience": "a", "oidc_jwks_url": "https://id.example/jwks"}
    with pytest.raises(ValueError, match="at least one role"):
        oidc_config(PreferenceSettings(**full, oidc_roles=[]))


def oidc_config_of(idp: IdentityProvider) -> OidcConfig:
    config = oidc_config(PreferenceSettings(**oidc(idp)))
    assert config is not None
    return config
