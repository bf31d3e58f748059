"""The committed JSON Schemas and AsyncAPI document match the models (regenerate with `make schemas`)."""

from __future__ import annotations

import json

from schemas.generate import documents


def test_generated_documents_are_up_to_date() -> None:
    stale = [str(path) for path, text in documents().items() if not path.exists() or path.read_text() != text]
    assert not stale, f"stale generated files, run `make schemas`: {stale}"


def test_asyncapi_names_every_topic_with_its_readers_and_writers() -> None:
    from schemas.generate import asyncapi
    from schemas.topics import TOPICS

    doc = asyncapi()
    addresses = {ch["address"] for ch in doc["channels"].values()}
    assert addresses == {t.name for t in TOPICS}
    titles = set(doc["operations"])
    assert "preference receives ats.events" in titles and "router receives ats.accepted" in titles
    assert "router receives ats.events" not in titles
    assert "notifier sends notifications.status" in titles
    assert "preference sends preferences.changed" in titles


UNDESCRIBED_ELSEWHERE: set[str] = set()


def test_every_field_of_every_topic_is_described() -> None:
    from schemas.generate import OUT

    missing = []
    for path in sorted((OUT / "jsonschema").glob("*.json")):
        if path.name in UNDESCRIBED_ELSEWHERE:
            continue
        schema = json.loads(path.read_text())
        for model, node in [("(payload)", schema), *schema.get("$defs", {}).items()]:
            missing += [
                f"{path.name}: {model}.{p}" for p, s in node.get("properties", {}).items() if "description" not in s
            ]
    assert not missing, missing
