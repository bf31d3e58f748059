"""Preview the message templates with a realistic sample context.

Examples: `python -m services.notifier.preview interview_invite --lang en --channel sms`,
`python -m services.notifier.preview --all --channel email`.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

from schemas.common import Channel, Stage
from schemas.dispatch import DeliverMessage, MessageContext
from services.notifier.channels.sms_encoding import sms_size
from services.notifier.rendering import CATALOGUE, Rendered, Renderer

LANGUAGES = ("nl", "en")
SAMPLE_LINK = "https://candidates.example.org/p/9f2c1e7a4b"
_START = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)  # 10:00 in Amsterdam
_FREE_MESSAGE = {
    "nl": (
        "Je portfolio",
        "Hoi Sanne,\n\nWil je je portfolio nog even sturen voor het gesprek? Dan kan het team zich goed voorbereiden."
        "\n\nGroet,\nMarieke",
    ),
    "en": (
        "Your portfolio",
        "Hi Sanne,\n\nCould you send us your portfolio before the interview? It helps the team prepare.\n\n"
        "Best wishes,\nMarieke",
    ),
}


def sample_context(language: str) -> MessageContext:
    """A complete, realistic context in one language (every template finds what it needs)."""
    subject, body = _FREE_MESSAGE[language]
    return MessageContext(
        candidate_name="Sanne de Vries",
        job_title="Data engineer",
        timezone="Europe/Amsterdam",
        interview_id="iv-77",
        interview_start=_START,
        interview_end=_START + timedelta(hours=1),
        interview_location="Stationsplein 12, Utrecht",
        slot_options=tuple(_START + timedelta(days=d) for d in (0, 1, 3)),
        offer_deadline=_START + timedelta(days=7, hours=8),
        subject=subject,
        body=body,
        talent_pool_invite=True,
    )


def sample_message(template: str, language: str, channel: Channel = Channel.EMAIL) -> DeliverMessage:
    """A dispatch command for the template with the sample context."""
    now = datetime(2026, 11, 20, 9, 0, tzinfo=UTC)
    return DeliverMessage.model_validate(
        {
            "notification_id": f"preview-{template}-{language}-{channel}",
            "ats_event_id": "preview",
            "candidate_id": "cand-1042",
            "channel": channel,
            "stage": Stage.APPLICATION,
            "template": template,
            "language": language,
            "context": sample_context(language),
            "event_time": now,
            "decided_at": now,
            "preference_version": 1,
        }
    )


def describe(rendered: Rendered, channel: str | None, link: str = SAMPLE_LINK) -> str:
    """The parts of a rendered message that a channel uses (all parts when channel is None)."""
    sections: list[str] = []
    if channel in (None, "email", "portal"):
        sections.append(f"Subject: {rendered.subject}\n\n{rendered.body}")
    if channel in (None, "sms", "whatsapp"):
        size = sms_size(rendered.short)
        before = sms_size(rendered.short.split(link)[0].rstrip()).units
        stats = f"[{size.units} characters, {before} before the link; {size.encoding}, {size.segments} SMS segment(s)]"
        sections.append(f"Short: {rendered.short}\n{stats}")
    if channel in (None, "voice"):
        sections.append(f"Speech: {rendered.speech}")
    return "\n\n".join(sections)


def preview(template: str, language: str, channel: str | None, renderer: Renderer) -> str:
    """A header and the channel's parts of one template in one language."""
    msg = sample_message(template, language, Channel(channel or "email"))
    rendered = renderer.render(msg, SAMPLE_LINK)
    header = f"=== {template} v{rendered.version} ({language}){f' - {channel}' if channel else ''} ==="
    return f"{header}\n{describe(rendered, channel)}\n"


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m services.notifier.preview", description=__doc__.splitlines()[0])
    parser.add_argument("template", nargs="?", help=f"one of: {', '.join(CATALOGUE)}")
    parser.add_argument("--lang", choices=LANGUAGES, default="nl", help="language (default nl)")
    parser.add_argument("--channel", choices=[c.value for c in Channel], help="show only what this channel uses")
    parser.add_argument("--all", action="store_true", help="every template in both languages")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Print the preview the arguments ask for."""
    parser = _parser()
    args = parser.parse_args(argv)
    if args.all:
        jobs = [(t, lang) for t in CATALOGUE for lang in LANGUAGES]
    elif args.template is None:
        parser.error("name a template or pass --all")
    elif args.template not in CATALOGUE:
        parser.error(f"unknown template {args.template!r}; known templates: {', '.join(CATALOGUE)}")
    else:
        jobs = [(args.template, args.lang)]
    renderer = Renderer()
    sys.stdout.write("\n".join(preview(t, lang, args.channel, renderer) for t, lang in jobs))
    return 0


if __name__ == "__main__":
    sys.exit(main())
