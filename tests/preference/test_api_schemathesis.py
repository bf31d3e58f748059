"""Schemathesis against the preference API's own OpenAPI document: every operation, generated inputs,
no 5xx and every response as documented. The API runs in-process on the in-memory fakes."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Any

import schemathesis
from fastapi import FastAPI
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from prometheus_client import CollectorRegistry
from schemathesis import Case, checks
from schemathesis.generation.value import GeneratedValue

from schemas.ats import CandidateContact
from schemas.common import Channel
from services.common.http import BodyLimit
from services.preference.api import api_routes
from services.preference.domain import first_version
from services.preference.metrics import PreferenceMetrics
from services.preference.service import PreferenceService
from services.preference.settings import PreferenceSettings
from tests.fakes import FakePreferenceStore, FakeSnapshotPublisher

NOW = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
SETTINGS = PreferenceSettings()
API_KEY = SETTINGS.api_keys[0].get_secret_value()
CANDIDATES = (
    CandidateContact(id="cand-1", name="Sanne de Vries", email="sanne@example.org"),
    CandidateContact(id="cand-2", name="Piet Jansen", phone="+31612345678", opt_ins=(Channel.SMS,), locale="en"),
    CandidateContact(id="cand-3", name="Anna", email="anna@example.org", phone="+31687654321"),
)
STORE = FakePreferenceStore()


async def _reseed() -> None:
    for candidate in CANDIDATES:
        if await STORE.get(candidate.id) is None:
            await STORE.insert_new(first_version(candidate, NOW))


def seed() -> None:
    """Put back any seeded candidate a generated DELETE erased (so later cases still find them)."""
    loop = asyncio.new_event_loop()  # its own loop: asyncio.run would unset the session's current loop
    try:
        loop.run_until_complete(_reseed())
    finally:
        loop.close()


def build_app() -> FastAPI:
    """The API routes of create_app, on a service over the in-memory fakes."""
    service = PreferenceService(
        STORE, FakeSnapshotPublisher(), PreferenceMetrics(CollectorRegistry()), lambda: NOW, b"k"
    )
    app = FastAPI(title="Candidate preferences", version="1")
    app.add_middleware(BodyLimit, max_bytes=SETTINGS.max_body_bytes)
    app.include_router(api_routes(service, SETTINGS))
    return app


seed()
schema = schemathesis.openapi.from_asgi("/openapi.json", build_app())
# positive_data_acceptance: a contact update must be deliverable (x-deliverable-email) or an assigned number
#   (x-assigned-number), rules the document states as custom keywords that no generator knows: a schema-valid
#   "+10" is rightly a 422 with a field reason. Everything else a generator can read is in the document.
NOT_APPLICABLE = [checks.positive_data_acceptance]
KNOWN_OR_NOT = st.sampled_from([*(c.id for c in CANDIDATES), "nobody"])


@schema.hook
def before_generate_path_parameters(context: object, strategy: st.SearchStrategy) -> st.SearchStrategy:
    """Mostly known candidates (any string would almost always be a 404), sometimes an unknown one."""
    return st.tuples(strategy, KNOWN_OR_NOT).map(lambda pair: _with_candidate(*pair))


def _with_candidate(generated: Any, candidate_id: str) -> Any:
    def put(params: Any) -> Any:
        return {**params, "candidate_id": candidate_id} if params and "candidate_id" in params else params

    # schemathesis hands plain dicts or values wrapped with their generation metadata; a value with a mutation
    # (negative testing: an id that breaks the documented pattern) must stay as generated.
    if isinstance(generated, GeneratedValue):
        return generated if generated.meta is not None else generated.map_value(put)
    return put(generated)


@schema.parametrize()
@settings(max_examples=30, deadline=None, suppress_health_check=list(HealthCheck))
def test_every_operation_answers_as_documented(case: Case) -> None:
    seed()
    case.call_and_validate(headers={"X-API-Key": API_KEY}, excluded_checks=NOT_APPLICABLE)
