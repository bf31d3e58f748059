"""The template catalogue: every template x language renders its facts, in its language, or fails clearly."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta, timezone
from typing import Any, get_args

import pytest

from schemas.dispatch import DeliverMessage, MessageContext, TemplateName
from services.notifier import preview
from services.notifier.channels.sms_encoding import is_gsm7
from services.notifier.rendering import CATALOGUE, REQUIRED, TEMPLATE_DIR, Rendered, Renderer, RenderError, format_when

LINK = "https://candidates.example.org/p/tok-123"
JOB = "Data engineer"
PLACE = "Stationsplein 12, Utrecht"
VIDEO = "https://meet.example.org/abc-def"
START = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)  # 10:00 in Amsterdam, 04:00 in New York
OPTIONS = (START, START + timedelta(days=1, hours=4), START + timedelta(days=3))
DEADLINE = datetime(2026, 12, 8, 17, 0, tzinfo=UTC)
FREE = {
    "nl": ("Je portfolio", "Hoi Sanne,\n\nWil je je portfolio nog sturen? Dan kan het team zich voorbereiden."),
    "en": ("Your portfolio", "Hi Sanne,\n\nCould you send us your portfolio? It helps the team prepare."),
}
LANGUAGES = ("nl", "en")
CASES = [(t, lang) for t in CATALOGUE for lang in LANGUAGES]
INTERVIEWS = ("interview_invite", "interview_rescheduled", "interview_cancelled", "interview_reminder")
GREETING = {"nl": "Hoi Sanne,", "en": "Hi Sanne,"}
# Words that give away the other language; matched as whole words after the context's values are removed.
FOREIGN = {
    "nl": {"the", "you", "your", "hi", "hello", "thank", "thanks", "interview", "application", "please", "reply", "at"},
    "en": {"je", "jij", "jouw", "het", "de", "een", "en", "hoi", "hallo", "bedankt", "gesprek", "sollicitatie", "om"},
}
# Characters before the link in an SMS: 160 fits one GSM-7 segment; a date (32) and a place cost more.
SHORT_BUDGET = {"interview_slot_options": 240, "offer_extended": 175, **dict.fromkeys(INTERVIEWS, 175)}


def context(lang: str = "nl", **overrides: Any) -> MessageContext:
    values: dict[str, Any] = {
        "candidate_name": "Sanne de Vries", "job_title": JOB, "timezone": "Europe/Amsterdam",
        "interview_id": "iv-1", "interview_start": START, "interview_end": START + timedelta(hours=1),
        "interview_location": PLACE, "slot_options": OPTIONS, "offer_deadline": DEADLINE,
        "subject": FREE[lang][0], "body": FREE[lang][1], "talent_pool_invite": True,
    }  # fmt: skip
    return MessageContext.model_validate(values | overrides)


def message(template: str, lang: str, ctx: MessageContext | None = None) -> DeliverMessage:
    now = datetime(2026, 11, 20, 9, 0, tzinfo=UTC)
    return DeliverMessage.model_validate({
        "notification_id": "n-1", "ats_event_id": "e-1", "candidate_id": "cand-1", "channel": "email",
        "stage": "application", "template": template, "language": lang, "context": ctx or context(lang),
        "event_time": now, "decided_at": now, "preference_version": 1,
    })  # fmt: skip


@pytest.fixture(scope="module")
def renderer() -> Renderer:
    return Renderer()


def render(renderer: Renderer, template: str, lang: str, **overrides: Any) -> Rendered:
    return renderer.render(message(template, lang, context(lang, **overrides)), LINK)


def parts(r: Rendered) -> dict[str, str]:
    return {"subject": r.subject, "body": r.body, "short": r.short, "speech": r.speech}


def assert_clean(r: Rendered) -> None:
    for name, text in parts(r).items():
        assert text, name
        for leftover in ("{{", "}}", "{%", "%}", "{#", "None", "  ", " .", " ,", "..", ":."):
            assert leftover not in text, (name, leftover, text)
    assert "\n\n\n" not in r.body
    assert all(line == line.rstrip() for line in r.body.splitlines())


def when(moment: datetime, lang: str, tz: str = "Europe/Amsterdam") -> str:
    return format_when(moment, tz, lang)


@pytest.mark.parametrize(("template", "lang"), CASES)
def test_renders_cleanly_with_a_complete_context(renderer: Renderer, template: str, lang: str) -> None:
    r = render(renderer, template, lang)
    assert_clean(r)
    assert (r.template, r.language, r.version) == (template, lang, CATALOGUE[template])
    assert r.body.endswith(LINK)
    assert r.short.endswith(LINK)
    assert "http" not in r.speech
    assert "www." not in r.speech


@pytest.mark.parametrize(("template", "lang"), CASES)
def test_renders_cleanly_with_only_the_required_fields(renderer: Renderer, template: str, lang: str) -> None:
    empty: dict[str, Any] = {
        "candidate_name": None, "job_title": None, "interview_start": None, "interview_end": None,
        "interview_location": None, "slot_options": (), "offer_deadline": None, "subject": None, "body": None,
        "talent_pool_invite": False,
    }  # fmt: skip
    full = context(lang)
    kept = {field: getattr(full, field) for field in REQUIRED.get(template, ())}
    r = renderer.render(message(template, lang, context(lang, **(empty | kept))), LINK)
    assert_clean(r)
    assert not re.search(r"^(Waar|Where|Online):", r.body, re.MULTILINE)
    assert r.body.endswith(LINK)


@pytest.mark.parametrize(("template", "lang"), CASES)
def test_job_title_and_greeting(renderer: Renderer, template: str, lang: str) -> None:
    r = render(renderer, template, lang)
    assert JOB in r.speech
    assert r.speech.startswith(GREETING[lang].replace("Hoi", "Hallo").replace("Hi", "Hello").rstrip(","))
    if template != "free_message":  # the recruiter's words, verbatim
        assert JOB in r.subject
        assert JOB in r.body
        assert JOB in r.short
        assert r.body.startswith(GREETING[lang])
        assert r.short.startswith(GREETING[lang])


@pytest.mark.parametrize(("template", "lang"), CASES)
def test_each_language_stays_in_its_own_language(renderer: Renderer, template: str, lang: str) -> None:
    text = " ".join(parts(render(renderer, template, lang)).values())
    for value in (LINK, JOB, PLACE, *FREE[lang]):
        text = text.replace(value, " ")
    words = set(re.findall(r"[a-z']+", text.lower()))
    assert not words & FOREIGN[lang]


@pytest.mark.parametrize(("template", "lang"), CASES)
def test_short_text_is_gsm7_and_within_budget(renderer: Renderer, template: str, lang: str) -> None:
    r = render(renderer, template, lang)
    assert is_gsm7(r.short), r.short  # one character outside GSM-7 halves what an SMS segment holds
    if template != "free_message":
        before_link = r.short.split(LINK)[0].rstrip()
        assert len(before_link) <= SHORT_BUDGET.get(template, 160), before_link


@pytest.mark.parametrize("lang", LANGUAGES)
@pytest.mark.parametrize("template", INTERVIEWS)
def test_interview_time_is_in_the_candidates_zone(renderer: Renderer, template: str, lang: str) -> None:
    r = render(renderer, template, lang, timezone="America/New_York")
    expected = when(START, lang, "America/New_York")
    assert expected.endswith("04:00")
    for text in (r.body, r.short, r.speech):
        assert expected in text
        assert "10:00" not in text
        assert "09:00" not in text
    if template != "interview_cancelled":
        assert "America/New_York" in r.body
        assert "05:00" in r.body  # the end
        assert PLACE in r.body
        assert PLACE in r.short


@pytest.mark.parametrize("lang", LANGUAGES)
@pytest.mark.parametrize("template", ["interview_invite", "interview_rescheduled", "interview_reminder"])
def test_online_interview_shows_the_video_link_but_never_speaks_it(
    renderer: Renderer, template: str, lang: str
) -> None:
    r = render(renderer, template, lang, interview_location=None, interview_video_link=VIDEO)
    assert_clean(r)
    assert f"Online: {VIDEO}" in r.body
    assert VIDEO in r.short
    assert f"{VIDEO}." not in r.short  # a full stop glued to a URL breaks it in some SMS apps
    assert "online" in r.speech
    assert "http" not in r.speech


@pytest.mark.parametrize("lang", LANGUAGES)
def test_offer_states_its_deadline_if_any(renderer: Renderer, lang: str) -> None:
    r = render(renderer, "offer_extended", lang)
    deadline = when(DEADLINE, lang)
    assert deadline.endswith("18:00")
    assert deadline in r.body
    assert deadline in r.short
    assert deadline in r.speech
    without = render(renderer, "offer_extended", lang, offer_deadline=None)
    assert_clean(without)
    assert "2026" not in without.body


@pytest.mark.parametrize("lang", LANGUAGES)
def test_slot_options_are_numbered_with_an_example_reply(renderer: Renderer, lang: str) -> None:
    r = render(renderer, "interview_slot_options", lang)
    for number, option in enumerate(OPTIONS, start=1):
        assert f"{number}. {when(option, lang)}" in r.body
        assert f"{number}) {when(option, lang)}" in r.short
        assert f"{'optie' if lang == 'nl' else 'option'} {number}, {when(option, lang)}" in r.speech
    assert ("bijvoorbeeld 2" if lang == "nl" else "for example 2") in r.body
    assert ("bijv. 2" if lang == "nl" else "e.g. 2") in r.short
    single = render(renderer, "interview_slot_options", lang, slot_options=OPTIONS[:1])
    assert ("bijvoorbeeld 1" if lang == "nl" else "for example 1") in single.body
    assert "2." not in single.body.replace("2026", "")


@pytest.mark.parametrize("lang", LANGUAGES)
def test_rejection_asks_about_the_talent_pool_only_when_invited(renderer: Renderer, lang: str) -> None:
    marker = {"nl": "andere functie", "en": "other role"}[lang]
    page = {"nl": "voorkeurenpagina", "en": "preferences page"}[lang]
    invited = render(renderer, "rejection", lang, talent_pool_invite=True)
    assert page in invited.body
    assert marker in invited.short
    plain = render(renderer, "rejection", lang, talent_pool_invite=False)
    assert page not in plain.body
    assert marker not in plain.short + plain.speech


@pytest.mark.parametrize("lang", LANGUAGES)
def test_free_message_is_verbatim_and_speech_drops_urls(renderer: Renderer, lang: str) -> None:
    body = "Upload je cv hier: https://ats.example.org/upload/77 graag voor vrijdag."
    r = render(renderer, "free_message", lang, body=body, subject="Je cv")
    assert r.subject == "Je cv"
    assert r.body.startswith(body)
    assert r.short.startswith(body)
    assert "Upload je cv hier: graag voor vrijdag." in r.speech


@pytest.mark.parametrize(("template", "field"), [(t, f) for t, fields in REQUIRED.items() for f in fields])
def test_missing_required_field_is_named(renderer: Renderer, template: str, field: str) -> None:
    missing = () if field == "slot_options" else None
    with pytest.raises(RenderError, match=field):
        render(renderer, template, "nl", **{field: missing})


def test_unknown_template_is_refused(renderer: Renderer) -> None:
    msg = message("hired", "nl").model_copy(update={"template": "welcome_gift"})
    with pytest.raises(RenderError, match="unknown template welcome_gift"):
        renderer.render(msg, LINK)


def test_undefined_variable_in_a_template_is_named(tmp_path: Any) -> None:
    macros = "".join(f"{{% macro {p}() %}}{{{{ salary }}}}{{% endmacro %}}" for p in ("subject", "body", "short"))
    macros += "{% macro speech() %}{% endmacro %}"
    (tmp_path / "hired.nl.j2").write_text(macros)
    with pytest.raises(RenderError, match="salary"):
        Renderer(tmp_path).render(message("hired", "nl"), LINK)
    with pytest.raises(RenderError, match="no en version of template hired"):
        Renderer(tmp_path).render(message("hired", "en"), LINK)


def test_catalogue_matches_the_contract_and_the_files() -> None:
    assert set(CATALOGUE) == set(get_args(TemplateName))
    assert set(REQUIRED) <= set(CATALOGUE)
    assert {p.name for p in TEMPLATE_DIR.glob("*.j2")} == {f"{t}.{lang}.j2" for t, lang in CASES}


@pytest.mark.parametrize(
    ("moment", "tz", "lang", "expected"),
    [
        # Europe/Amsterdam, spring forward on Sunday 29 March 2026 at 01:00 UTC (02:00 -> 03:00)
        (datetime(2026, 3, 28, 9, 0, tzinfo=UTC), "Europe/Amsterdam", "nl", "zaterdag 28 maart 2026 om 10:00"),
        (datetime(2026, 3, 29, 0, 59, tzinfo=UTC), "Europe/Amsterdam", "nl", "zondag 29 maart 2026 om 01:59"),
        (datetime(2026, 3, 29, 1, 0, tzinfo=UTC), "Europe/Amsterdam", "nl", "zondag 29 maart 2026 om 03:00"),
        (datetime(2026, 3, 30, 9, 0, tzinfo=UTC), "Europe/Amsterdam", "en", "Monday 30 March 2026 at 11:00"),
        # fall back on Sunday 25 October 2026 at 01:00 UTC (03:00 -> 02:00): 02:30 happens twice
        (datetime(2026, 10, 24, 9, 0, tzinfo=UTC), "Europe/Amsterdam", "nl", "zaterdag 24 oktober 2026 om 11:00"),
        (datetime(2026, 10, 25, 0, 30, tzinfo=UTC), "Europe/Amsterdam", "nl", "zondag 25 oktober 2026 om 02:30"),
        (datetime(2026, 10, 25, 1, 30, tzinfo=UTC), "Europe/Amsterdam", "nl", "zondag 25 oktober 2026 om 02:30"),
        (datetime(2026, 10, 26, 9, 0, tzinfo=UTC), "Europe/Amsterdam", "en", "Monday 26 October 2026 at 10:00"),
        # America/New_York: its own DST dates, and a UTC morning that is the previous evening there
        (datetime(2026, 3, 8, 6, 59, tzinfo=UTC), "America/New_York", "en", "Sunday 8 March 2026 at 01:59"),
        (datetime(2026, 3, 8, 7, 0, tzinfo=UTC), "America/New_York", "en", "Sunday 8 March 2026 at 03:00"),
        (datetime(2026, 7, 1, 14, 0, tzinfo=UTC), "America/New_York", "en", "Wednesday 1 July 2026 at 10:00"),
        (datetime(2026, 12, 1, 3, 0, tzinfo=UTC), "America/New_York", "nl", "maandag 30 november 2026 om 22:00"),
        # a half-hour zone, and an input that is not in UTC
        (datetime(2026, 12, 1, 9, 0, tzinfo=UTC), "Asia/Kolkata", "en", "Tuesday 1 December 2026 at 14:30"),
        (datetime(2026, 5, 1, 12, 0, tzinfo=timezone(timedelta(hours=2))), "UTC", "nl", "vrijdag 1 mei 2026 om 10:00"),
    ],
)
def test_format_when(moment: datetime, tz: str, lang: str, expected: str) -> None:
    assert format_when(moment, tz, lang) == expected


def test_preview_prints_every_template_in_both_languages(capsys: pytest.CaptureFixture[str]) -> None:
    assert preview.main(["--all", "--channel", "sms"]) == 0
    out = capsys.readouterr().out
    for template, lang in CASES:
        assert f"=== {template} v{CATALOGUE[template]} ({lang}) - sms ===" in out
    assert "GSM-7" in out
    assert "{{" not in out


@pytest.mark.parametrize(
    ("channel", "shown", "hidden"), [("email", "Subject:", "Speech:"), ("voice", "Speech:", "Short:")]
)
def test_preview_shows_what_the_channel_uses(
    capsys: pytest.CaptureFixture[str], channel: str, shown: str, hidden: str
) -> None:
    assert preview.main(["interview_invite", "--lang", "en", "--channel", channel]) == 0
    out = capsys.readouterr().out
    assert shown in out
    assert hidden not in out


def test_preview_rejects_an_unknown_template(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        preview.main(["welcome_gift"])
    assert exit_info.value.code == 2
    assert "unknown template 'welcome_gift'" in capsys.readouterr().err
