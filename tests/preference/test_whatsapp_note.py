"""The self-service page says which WhatsApp messages can go out, in the candidate's language."""

from __future__ import annotations

from datetime import UTC, datetime

from schemas.preferences import ContactPoint, Contacts, PreferenceSnapshot
from services.preference.pages import TEXTS
from services.preference.selfservice import whatsapp_limits

NOW = datetime(2026, 12, 1, tzinfo=UTC)


def snapshot(language: str, phone: str | None = "+31612345678") -> PreferenceSnapshot:
    contacts = Contacts(phone=ContactPoint(address=phone)) if phone else Contacts()
    return PreferenceSnapshot(candidate_id="c1", version=1, updated_at=NOW, contacts=contacts, language=language)


def test_no_template_says_whatsapp_cannot_be_used_yet() -> None:
    assert whatsapp_limits(snapshot("en"), {}, TEXTS["en"]) == TEXTS["en"]["whatsapp_none"]


def test_some_templates_name_what_can_go_by_whatsapp_in_the_candidates_language() -> None:
    approved = {"interview_invite": ["nl"], "interview_reminder": ["nl", "en"]}
    note = whatsapp_limits(snapshot("nl"), approved, TEXTS["nl"])
    assert note is not None and "uitnodigingen voor gesprekken, herinneringen aan gesprekken" in note
    assert "interview reminders" in (whatsapp_limits(snapshot("en"), approved, TEXTS["en"]) or "")


def test_nothing_to_say_when_every_message_can_go_or_there_is_no_number() -> None:
    every = {name: ["nl"] for name in TEXTS["nl"]["messages"]}
    assert whatsapp_limits(snapshot("nl"), every, TEXTS["nl"]) is None
    assert whatsapp_limits(snapshot("nl", phone=None), {}, TEXTS["nl"]) is None
