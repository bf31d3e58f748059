"""The preference API's OpenAPI document states what the API enforces (security schemes, patterns, formats,
uniqueness), and OPTIONS or an unserved method answers with the path's real methods in Allow."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from prometheus_client import CollectorRegistry

from schemas.ats import CandidateContact
from services.preference.api import api_routes
from services.preference.domain import first_version
from services.preference.metrics import PreferenceMetrics
from services.preference.service import PreferenceService
from services.preference.settings import PreferenceSettings
from tests.fakes import FakePreferenceStore, FakeSnapshotPublisher

NOW = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
SETTINGS = PreferenceSettings()
KEY = {"X-API-Key": SETTINGS.api_keys[0].get_secret_value()}


async def client() -> httpx.AsyncClient:
    store = FakePreferenceStore()
    await store.insert_new(first_version(CandidateContact(id="cand-1", name="Sanne", email="s@example.org"), NOW))
    service = PreferenceService(
        store, FakeSnapshotPublisher(), PreferenceMetrics(CollectorRegistry()), lambda: NOW, b"k"
    )
    app = FastAPI()
    app.include_router(api_routes(service, SETTINGS))
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://api")


def _schema(doc: dict[str, Any], name: str) -> dict[str, Any]:
    return doc["components"]["schemas"][name]  # type: ignore[no-any-return]


async def test_the_document_declares_how_to_authenticate_and_every_operation_requires_it() -> None:
    async with await client() as api:
        doc = (await api.get("/openapi.json")).json()
    schemes = doc["components"]["securitySchemes"]
    assert schemes["APIKeyHeader"] == {
        "type": "apiKey",
        "in": "header",
        "name": "X-API-Key",
        "description": "A recruiter or integration API key.",
    }
    assert schemes["HTTPBearer"]["scheme"] == "bearer"
    for path, operations in doc["paths"].items():
        for method, operation in operations.items():
            assert {"APIKeyHeader": []} in operation["security"], (method, path)
            assert {"HTTPBearer": []} in operation["security"], (method, path)
            assert "401" in operation["responses"] and "403" in operation["responses"]


async def test_the_document_states_patterns_formats_and_uniqueness() -> None:
    async with await client() as api:
        doc = (await api.get("/openapi.json")).json()
    (param,) = (p for p in doc["paths"]["/v1/candidates/{candidate_id}/preferences"]["get"]["parameters"])
    assert param["schema"]["pattern"] == "^[A-Za-z0-9][A-Za-z0-9._:@-]{0,127}$"
    update = _schema(doc, "PreferenceUpdate")["properties"]
    assert update["channel_order"]["anyOf"][0]["uniqueItems"] is True
    assert update["channel_order"]["anyOf"][0]["minItems"] == 1
    assert update["stage_overrides"]["anyOf"][0]["additionalProperties"]["uniqueItems"] is True
    assert "Europe/Amsterdam" in update["timezone"]["anyOf"][0]["enum"]
    contacts = _schema(doc, "ContactUpdate")["properties"]
    assert contacts["email"]["anyOf"][0]["format"] == "idn-email"
    assert contacts["email"]["anyOf"][0]["x-deliverable-email"] is True
    assert contacts["phone"]["anyOf"][0]["pattern"] == r"^\+[1-9][0-9]{1,14}$"
    assert contacts["phone"]["anyOf"][0]["x-assigned-number"] is True
    snapshot = _schema(doc, "PreferenceSnapshot")["properties"]
    assert snapshot["channel_order"]["uniqueItems"] is True
    assert snapshot["version"]["format"] == "int64"  # FastAPI renders the maximum itself as a float


@pytest.mark.parametrize(
    ("path", "allow"),
    [
        ("/v1/candidates/cand-1/preferences", "GET, PUT, PATCH, OPTIONS"),
        ("/v1/candidates/cand-1/consent", "POST, OPTIONS"),
        ("/v1/candidates/cand-1/preferences/history", "GET, OPTIONS"),
        ("/v1/candidates/cand-1", "DELETE, OPTIONS"),
    ],
)
async def test_options_and_unserved_methods_name_the_real_methods(path: str, allow: str) -> None:
    async with await client() as api:
        options = await api.options(path)
        assert options.status_code == 204 and options.headers["allow"] == allow
        unserved = next(m for m in ("DELETE", "POST", "PUT") if m not in allow)
        refused = await api.request(unserved, path, headers=KEY)
        assert refused.status_code == 405 and refused.headers["allow"] == allow
        served = allow.split(", ")[0]
        answered = await api.request(served, path)  # a real method still needs the key
        assert answered.status_code == 401


async def test_a_bearer_key_and_a_header_key_both_work_and_a_wrong_one_does_not() -> None:
    async with await client() as api:
        path = "/v1/candidates/cand-1/preferences"
        assert (await api.get(path, headers=KEY)).status_code == 200
        bearer = {"Authorization": f"Bearer {KEY['X-API-Key']}"}
        assert (await api.get(path, headers=bearer)).status_code == 200
        assert (await api.get(path, headers={"X-API-Key": "wrong"})).status_code == 403
        assert (await api.get("/v1/candidates/-not-an-id/preferences", headers=KEY)).status_code == 422
