"""The published schema is the validator: events generated from the COMMITTED JSON Schema of `ats.events`
(hypothesis-jsonschema) are accepted end to end, and events the schema forbids are dead-lettered.

"End to end" without a broker: the decoder the services use, the preference domain (a first version and a
repeated merge) and the router's policy planning the event on the snapshot the preference service would
publish. The schema's two custom keywords (x-equals, x-greater-than) are cross-field rules JSON Schema cannot
say; the generator honours them the way their documentation states, and the schema check below enforces them.
"""

from __future__ import annotations

import copy
import json
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis_jsonschema import from_schema
from jsonschema import Draft202012Validator, FormatChecker, ValidationError, validators

from schemas.ats import ATS_EVENT_ADAPTER, ATS_EVENT_TYPES, AtsEvent
from schemas.envelope import DecodeError, EventDecoder
from services.preference.contacts import contact_invalid_events, problem_of
from services.preference.domain import first_version, merge_ats_contact
from services.router.policy import Recent, RoutingConfig, plan_event
from services.router.prefs import compact

SCHEMA_FILE = Path(__file__).parents[2] / "schemas" / "generated" / "jsonschema" / "ats.events.json"
SCHEMA: dict[str, Any] = json.loads(SCHEMA_FILE.read_text())
DECODER = EventDecoder(ATS_EVENT_ADAPTER, ATS_EVENT_TYPES, max_bytes=1 << 20)
NOW = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
SETTINGS = settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck))
MUTANT_SETTINGS = settings(SETTINGS, max_examples=25)  # each example checks a dozen mutants

# --- the custom keywords: what they mean, for the generator and for the schema check ----------------------------


def _pointer(instance: Any, pointer: str) -> Any:
    for part in pointer.strip("/").split("/"):
        instance = instance[part]
    return instance


def _set(instance: Any, pointer: str, value: Any) -> None:
    *path, last = pointer.strip("/").split("/")
    for part in path:
        instance = instance[part]
    instance[last] = value


def _instant(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("z", "Z").replace("t", "T"))


def _x_equals(validator: Any, pointers: list[str], instance: Any, schema: Any) -> Any:
    first, second = (_pointer(instance, p) for p in pointers)
    if first != second:
        yield ValidationError(f"x-equals: {pointers[0]} differs from {pointers[1]}")


def _x_greater_than(validator: Any, pointers: list[str], instance: Any, schema: Any) -> Any:
    later, earlier = (_instant(_pointer(instance, p)) for p in pointers)
    if not later > earlier:
        yield ValidationError(f"x-greater-than: {pointers[0]} is not after {pointers[1]}")


_RFC3339 = re.compile(r"^\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})$")
FORMATS = FormatChecker()


@FORMATS.checks("date-time")
def _date_time(value: object) -> bool:
    if not isinstance(value, str) or not _RFC3339.match(value):
        return False
    try:
        _instant(value)
    except ValueError:  # 02-30 and the like
        return False
    return True


ContractValidator = validators.extend(Draft202012Validator, {"x-equals": _x_equals, "x-greater-than": _x_greater_than})
CHECK = ContractValidator(SCHEMA, format_checker=FORMATS)


def _resolve(node: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in node:
        node = SCHEMA["$defs"][node["$ref"].rsplit("/", 1)[-1]]
    return node


def honour(node: dict[str, Any], value: Any) -> Any:
    """Make a generated instance satisfy the custom keywords as documented (children first)."""
    node = _resolve(node)
    if "oneOf" in node and isinstance(value, dict):  # the discriminated union of event types
        mapping = node["discriminator"]["mapping"]
        return honour({"$ref": mapping[value[node["discriminator"]["propertyName"]]]}, value)
    if "anyOf" in node and value is not None:
        return honour(next(b for b in node["anyOf"] if b.get("type") != "null"), value)
    if not isinstance(value, dict):
        return value
    for key, sub in node.get("properties", {}).items():
        if key in value:
            value[key] = honour(sub, value[key])
    if "x-equals" in node:
        first, second = node["x-equals"]
        _set(value, first, _pointer(value, second))
    if "x-greater-than" in node:
        later, earlier = node["x-greater-than"]
        a, b = _pointer(value, later), _pointer(value, earlier)
        if _instant(a) < _instant(b):
            _set(value, later, b)
            _set(value, earlier, a)
        elif _instant(a) == _instant(b):  # a minute apart, inside the years the schema allows
            if _instant(b).year < 8999:
                _set(value, later, (_instant(b) + timedelta(minutes=1)).isoformat())
            else:
                _set(value, earlier, (_instant(b) - timedelta(minutes=1)).isoformat())
    return value


# A copy: hypothesis may hand the same drawn object to several runs while it shrinks.
EVENTS = from_schema(SCHEMA).map(lambda event: honour(SCHEMA, copy.deepcopy(event)))


def decode(event: dict[str, Any]) -> AtsEvent:
    return DECODER.decode(json.dumps(event, ensure_ascii=False).encode())


# --- properties --------------------------------------------------------------------------------------------------


def test_the_committed_schema_states_the_cross_field_rules() -> None:
    defs = SCHEMA["$defs"]
    for name in ("ApplicationReceived", "InterviewScheduled", "CandidateRejected", "MessageRequested"):
        assert defs[name]["x-equals"] == ["/subject", "/data/candidate/id"], name
        assert "subject equals data.candidate.id" in defs[name]["description"]
    assert defs["Interview"]["x-greater-than"] == ["/end", "/start"]
    assert defs["Interview"]["properties"]["sequence"]["maximum"] == 2**63 - 1


@SETTINGS
@given(event=EVENTS)
def test_every_schema_valid_event_is_accepted_end_to_end(event: dict[str, Any]) -> None:
    CHECK.validate(event)  # the generator and its keyword handling produced what the schema allows
    decoded = decode(event)
    candidate = decoded.data.candidate
    first = first_version(candidate, NOW)
    assert merge_ats_contact(first.snapshot, candidate, NOW) is None  # the same data again changes nothing
    for field, address in (("email", candidate.email), ("phone", candidate.phone)):
        point = getattr(first.snapshot.contacts, field)
        assert (point is None) == (address is None)
        if point is not None:
            assert point.valid == (problem_of(field, point.address) is None), field  # invalid, never refused
    for notice in contact_invalid_events(first.snapshot):
        text = notice.model_dump_json()
        assert all(a not in text for a in (candidate.email, candidate.phone) if a), "a notice never holds the value"
    prefs = compact(first.snapshot)
    plan = plan_event(decoded, prefs, NOW, RoutingConfig(), Recent())
    assert plan.messages
    for message in plan.messages:
        assert message.channel is None or message.channel.value == "portal" or prefs.has_contact(message.channel)


def _mutants(event: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    """Variants the schema forbids: wrong JSON types, out-of-range integers, broken patterns and rules."""
    out = []

    def variant(name: str, pointer: str, value: Any) -> None:
        doc = copy.deepcopy(event)
        _set(doc, pointer, value)
        out.append((name, doc))

    variant("time as a number", "/time", 1_790_000_000)
    variant("time before 1970", "/time", "0001-01-01T00:00:00Z")
    variant("subject breaks the id pattern", "/subject", "-" + event["subject"])
    variant("subject is not the candidate", "/subject", event["subject"] + "x")
    variant("unknown type", "/type", "ats.thing.happened")
    variant("phone without +", "/data/candidate/phone", "0612345678")
    variant("e-mail with a space", "/data/candidate/email", "sanne de vries@example.org")
    variant("time zone not in the tz database", "/data/candidate/timezone", "Mars/Olympus_Mons")
    variant("opt-in of an unknown channel", "/data/candidate/opt_ins", ["fax"])
    if "interview" in event["data"]:
        variant("sequence as a string", "/data/interview/sequence", "3")
        variant("sequence beyond int64", "/data/interview/sequence", 2**64)
        variant("negative sequence", "/data/interview/sequence", -1)
        variant("end before start", "/data/interview/end", event["data"]["interview"]["start"])
    if event["type"] == "ats.candidate.rejected":
        variant("boolean as a string", "/data/talent_pool_invite", "true")
    return out


@MUTANT_SETTINGS
@given(event=EVENTS)
def test_every_event_the_schema_forbids_is_dead_lettered(event: dict[str, Any]) -> None:
    for name, mutant in _mutants(event):
        assert not CHECK.is_valid(mutant), f"the mutant is schema-valid: {name}"
        with pytest.raises(DecodeError) as err:
            decode(mutant)
        assert err.value.kind in {"invalid_data", "invalid_envelope", "unknown_type"}, name


@pytest.mark.parametrize(
    ("email", "valid"),
    [
        ("jürgen@bücher.de", True),  # IDNA domain, ASCII-incompatible local part: SMTPUTF8
        ("用户@例子.广告", True),
        ("sanne@xn--bcher-kva.de", True),  # an A-label is the same domain
        ("sanne@example.test", False),  # reserved: no mail system delivers there
        ("sanne@xn--zz.org", False),  # not a valid A-label
        ("sanne@-bad.org", False),
    ],
)
def test_unusual_addresses_are_delivered_or_marked_invalid_never_refused(email: str, valid: bool) -> None:
    event = {
        "id": "e-1",
        "source": "urn:test",
        "type": "ats.application.received",
        "time": "2026-11-20T12:00:00Z",
        "subject": "cand-1",
        "data": {
            "candidate": {"id": "cand-1", "name": "Sanne", "email": email},
            "application": {"id": "a-1", "job_title": "Data engineer", "stage": "applied"},
        },
    }
    CHECK.validate(event)
    point = first_version(decode(event).data.candidate, NOW).snapshot.contacts.email
    assert point is not None and point.valid is valid
    if valid:
        domain = point.address.rsplit("@", 1)[1]
        assert domain == domain.lower() and not domain.startswith("xn--")  # normalised to its Unicode form
