"""What a candidate's reply means, in Dutch and English: table-driven, and never a guess.

Carrier keywords (STOP, START, ...) count only as the whole message, the way SMS carriers treat them:
"stop met bellen, sms mag wel" is about calls, not a global opt-out. Longer replies are split into
clauses and each clause is matched against phrase tables. Anything no rule recognises is UNPARSED and
goes to a recruiter.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from zoneinfo import ZoneInfo

from schemas.common import Channel


class Kind(StrEnum):
    """The intents we act on."""

    STOP = "stop"  # revoke the channel the reply came on
    START = "start"  # grant it again
    PREFER = "prefer"  # move a channel to the front (only=True: that channel and no intrusive other)
    AVOID = "avoid"  # do not use a channel
    NO_VOICEMAIL = "no_voicemail"
    SLOT = "slot"  # picked an offered interview slot (1-based)
    UNPARSED = "unparsed"


@dataclass(frozen=True)
class Intent:
    """One recognised intent."""

    kind: Kind
    channel: Channel | None = None
    option: int | None = None
    only: bool = False


STOP_WORDS = frozenset(
    {
        "stop",
        "stoppen",
        "stop all",
        "stopall",
        "unsubscribe",
        "afmelden",
        "cancel",
        "end",
        "quit",
        "uitschrijven",
        "opzeggen",
        "stop alles",
        "stop alle berichten",
        "stop berichten",
        "stop sturen",
        "please stop",
        "afmelden graag",
        "graag afmelden",
        "unsubscribe me",
        "remove me",
        "geen berichten meer",
        "stop maar",
        "uitschrijven graag",
        "stop texting me",
        "stop messaging me",
        "no more messages",
        "afmelden aub",
        "stop aub",
        "stop please",
    }
)
START_WORDS = frozenset(
    {
        "start",
        "unstop",
        "aanmelden",
        "start again",
        "weer aanmelden",
        "opnieuw aanmelden",
        "resume",
        "subscribe",
        "start graag",
        "ik wil weer berichten",
        "yes start",
        "ja start",
        "weer starten",
        "opnieuw starten",
        "restart",
    }
)

_CHANNEL_WORDS: tuple[tuple[Channel, str], ...] = (
    (Channel.EMAIL, r"e-?mail(?:en|tje)?|mail(?:en|tje|s)?"),
    (Channel.WHATSAPP, r"whats ?app(?:je|jes|en)?|wa|appen|app"),
    (Channel.SMS, r"sms(?:'?je|'?jes|-je|-jes|en)?|texts?|texting|tekstbericht(?:en|je)?"),
    (Channel.VOICE, r"bel(?:len)?|call(?:s|ing)?|phone calls?|ring|telefoon(?:tje|tjes)?|opbellen"),
    (Channel.PORTAL, r"portaal|portal"),
)
_CH = "|".join(f"(?:{pattern})" for _, pattern in _CHANNEL_WORDS)
_FIND_CHANNEL = tuple((channel, re.compile(rf"\b(?:{pattern})\b")) for channel, pattern in _CHANNEL_WORDS)

_ME = r"(?:\s+(?:me|mij))?"
_TAIL = r"(?:\s+(?:me|mij|meer|maar|gerust|wel|anytime|svp))*"
# Clause rules, first match wins per clause; {ch} is any channel word. Clauses lose filler words first.
_RULES: tuple[tuple[Kind, str, bool], ...] = (
    (
        Kind.NO_VOICEMAIL,
        r"(?:geen|no|nooit|don'?t leave(?: any)?|niet)\s+voice ?mails?(?:\s+(?:achter|inspreken))?"
        r"|spreek\s+(?:niets|geen\s+\w+)\s+in|(?:ik\s+)?(?:luister|check)\s+(?:nooit\s+|geen\s+)?"
        r"(?:mijn\s+)?voice ?mail(?:\s+niet)?|skip\s+voice ?mail|niet inspreken(?:\s+voice ?mail)?",
        False,
    ),
    (
        Kind.AVOID,
        r"(?:niet|nooit|geen|no|stop met|liever niet|liever geen|don'?t|do not|never|niet meer|not)"
        + _ME
        + r"(?:\s+(?:die|deze|those))?\s+(?:{ch})"
        + _TAIL,
        False,
    ),
    (Kind.AVOID, r"(?:{ch})" + _ME + r"\s+(?:niet|liever niet|not|nee)(?:\s+meer)?", False),
    (
        Kind.PREFER,
        r"(?:alleen|only|uitsluitend|just)(?:\s+(?:via|by|per))?\s+(?:{ch})" + _TAIL + r"|(?:{ch})\s+only",
        True,
    ),
    (
        Kind.PREFER,
        r"(?:liever|prefer|voorkeur voor|via|by|per|stuur(?:\s+me)?(?:\s+(?:maar|liever))?|"
        r"(?:you can|kun je|je mag|mag je)(?:\s+me)?(?:\s+maar)?)(?:\s+(?:me|via|by))?\s+(?:{ch})" + _TAIL,
        False,
    ),
    (
        Kind.PREFER,
        r"(?:{ch})" + _ME + r"\s+(?:mag(?:\s+wel)?|is|zijn|are|works?|werkt)"
        r"(?:\s+(?:prima|goed|fine|ok|beter|best|better|preferred))?" + _TAIL,
        False,
    ),
    (Kind.PREFER, r"(?:{ch})" + _ME + _TAIL, False),
)
_FILLER = frozenset(
    {
        "please",
        "pls",
        "graag",
        "aub",
        "alsjeblieft",
        "alstublieft",
        "gewoon",
        "het",
        "de",
        "een",
        "a",
        "the",
        "even",
        "ok",
        "oké",
    }
)
_COMPILED = tuple((kind, re.compile(rf"^(?:{pattern.format(ch=_CH)})$"), only) for kind, pattern, only in _RULES)
_SOFT_MAAR = re.compile(r"\b(stuur|bel)( me| mij)? maar\b")
_SPLIT = re.compile(r"[,;.!?\n]+|\s+(?:maar|but|en|and|of|or)\s+")
_OPTION = re.compile(r"^(?:optie|option|nr\.?|nummer|number|keuze|choice|#)?\s*([1-9])\s*(?:graag|please|aub)?$")
_WEEKDAYS = {
    **dict.fromkeys(("maandag", "ma", "monday", "mon"), 0),
    **dict.fromkeys(("dinsdag", "di", "tuesday", "tue"), 1),
    **dict.fromkeys(("woensdag", "wo", "wednesday", "wed"), 2),
    **dict.fromkeys(("donderdag", "do", "thursday", "thu"), 3),
    **dict.fromkeys(("vrijdag", "vr", "friday", "fri"), 4),
    **dict.fromkeys(("zaterdag", "za", "saturday", "sat"), 5),
    **dict.fromkeys(("zondag", "zo", "sunday", "sun"), 6),
}
_DAY_TIME = re.compile(
    r"^(?:op\s+|on\s+)?(?P<day>[a-z]+)\s*(?:om\s+|at\s+)?(?P<h>\d{1,2})(?:[:.](?P<m>\d{2}))?\s*(?:u|uur|h)?$"
)


_EDGES = re.compile(r"^[\s.!?,;:*\"'()\-\U0001f300-\U0001faff]+|[\s.!?,;:*\"'()\-\U0001f300-\U0001faff]+$")


def normalise(text: str) -> str:
    """Lower case, single spaces, no surrounding punctuation or emoji."""
    text = text.lower().replace("’", "'").strip()
    text = re.sub(r"\s+", " ", text)
    return _EDGES.sub("", text)


def _channel(clause: str) -> Channel:
    found = [(m.start(), channel) for channel, rx in _FIND_CHANNEL if (m := rx.search(clause))]
    if not found:
        raise AssertionError("a channel rule matched without a channel word")
    return min(found)[1]


def _slot(text: str, slots: tuple[datetime, ...], timezone: str) -> int | None:
    if m := _OPTION.match(text):
        n = int(m.group(1))
        return n if not slots or n <= len(slots) else None
    if (m := _DAY_TIME.match(text)) and m.group("day") in _WEEKDAYS and slots:
        wanted = (_WEEKDAYS[m.group("day")], int(m.group("h")), int(m.group("m") or 0))
        tz = ZoneInfo(timezone)
        for i, slot in enumerate(slots, 1):
            local = slot.astimezone(tz)
            if (local.weekday(), local.hour, local.minute) == wanted:
                return i
    return None


def _without_filler(clause: str) -> str:
    return " ".join(w for w in clause.split(" ") if w not in _FILLER)


def parse(text: str, slots: tuple[datetime, ...] = (), timezone: str = "Europe/Amsterdam") -> list[Intent]:
    """All intents in a reply; [UNPARSED] when nothing is recognised with confidence."""
    whole = normalise(text)
    if whole in STOP_WORDS:
        return [Intent(Kind.STOP)]
    if whole in START_WORDS:
        return [Intent(Kind.START)]
    option = _slot(whole, slots, timezone)
    if option is not None:
        return [Intent(Kind.SLOT, option=option)]
    intents: list[Intent] = []
    # "stuur maar een mail": this "maar" softens the verb, it does not join two clauses.
    softened = _SOFT_MAAR.sub(r"\1\2", whole)
    for clause in (_without_filler(normalise(c)) for c in _SPLIT.split(softened)):
        if not clause:
            continue
        for kind, pattern, only in _COMPILED:
            if pattern.match(clause):
                channel = _channel(clause) if kind in (Kind.AVOID, Kind.PREFER) else None
                intents.append(Intent(kind, channel, only=only))
                break
        else:
            return [Intent(Kind.UNPARSED)]  # one unknown clause: a human reads it all, nothing is half-applied
    return intents or [Intent(Kind.UNPARSED)]
