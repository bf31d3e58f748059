"""The committed JSON Schemas and AsyncAPI document match the models (regenerate with `make schemas`)."""

from __future__ import annotations

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
