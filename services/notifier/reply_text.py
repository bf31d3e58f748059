"""What a candidate wrote in an e-mail reply, without the quoted message, the signature or the HTML.

Mail clients quote differently: Gmail and Apple Mail write an attribution line ("On ... wrote:",
"Op ... schreef ...:", "Op ... heeft ... het volgende geschreven:", often wrapped) above a "> "
quote; Outlook puts a separator and a From:/Van: header block above the original without any "> ".
Everything from the first such marker on is the old message. The preference service treats carrier
words like STOP only as the whole message, so a closing ("Met vriendelijke groet, Sanne") and phone
footers are cut as well.
"""

from __future__ import annotations

import re
from html.parser import HTMLParser

_ATTRIBUTION = (
    re.compile(r"^\s*on\b.{0,300}\bwrote:\s*$", re.IGNORECASE | re.DOTALL),
    re.compile(r"^\s*op\b.{0,300}\bschreef\b.{0,300}:\s*$", re.IGNORECASE | re.DOTALL),
    re.compile(r"^\s*op\b.{0,300}\bhet volgende geschreven:\s*$", re.IGNORECASE | re.DOTALL),  # Apple Mail
)
_SEPARATOR = re.compile(
    r"^\s*(-{2,}\s*(original message|oorspronkelijk bericht|origineel bericht|forwarded message|"
    r"doorgestuurd bericht)\s*-{2,}|_{10,})\s*$",
    re.IGNORECASE,
)
_HEADER_START = re.compile(r"^\s*\*?(from|van):\*?\s", re.IGNORECASE)
_HEADER_NEXT = re.compile(r"^\s*\*?(sent|date|to|subject|verzonden|datum|aan|onderwerp):\*?\s", re.IGNORECASE)
_FOOTER = re.compile(
    r"^\s*(sent from my|sent from outlook|get outlook for|verstuurd vanaf mijn|verzonden vanaf mijn|"
    r"verzonden vanuit|verzonden met|outlook voor (ios|android))\b",
    re.IGNORECASE,
)
_CLOSING = re.compile(
    r"^\s*((met )?(vriendelijke |hartelijke )?groet(en|jes)?|mvg|(kind|best|warm) regards|regards|"
    r"best wishes|cheers|thanks|thank you|bedankt|dank je( wel)?|alvast bedankt)\s*[,.!]?\s*$",
    re.IGNORECASE,
)
_SIGNATURE_LINES = 4  # a closing is followed by at most this many short lines (name, phone, title)


def _quote_start(lines: list[str]) -> int:
    """Index of the first line of the quoted message (len(lines) when nothing is quoted)."""
    for i, line in enumerate(lines):
        if _SEPARATOR.match(line) or line.strip() == "--" or line == "-- " or _FOOTER.match(line):
            return i
        if _HEADER_START.match(line) and any(_HEADER_NEXT.match(n) for n in lines[i + 1 : i + 3]):
            return i
        if re.match(r"^\s*(on|op)\b", line, re.IGNORECASE):
            for span in (1, 2, 3):  # clients wrap a long attribution line
                joined = " ".join(s.strip() for s in lines[i : i + span])
                if any(p.match(joined) for p in _ATTRIBUTION):
                    return i
    return len(lines)


def _closing_start(lines: list[str]) -> int:
    """Index of a closing salutation that ends the message (len(lines) when there is none)."""
    for i, line in enumerate(lines):
        if i == 0 or not _CLOSING.match(line):
            continue
        rest = [r for r in lines[i + 1 :] if r.strip()]
        if len(rest) <= _SIGNATURE_LINES and all(len(r.strip()) <= 60 for r in rest):
            return i
    return len(lines)


def strip_quoted(text: str) -> str:
    """The new part of a reply: quotes, attribution lines, closings, signatures and footers removed."""
    lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    lines = lines[: _quote_start(lines)]
    lines = [line.rstrip() for line in lines if not line.lstrip().startswith(">")]
    while lines and not lines[-1].strip():
        lines.pop()
    lines = lines[: _closing_start(lines)]
    cleaned = "\n".join(lines).strip()
    return re.sub(r"\n{3,}", "\n\n", cleaned)


class _TextOfHtml(HTMLParser):
    """Collects visible text; skips quoted blocks, styles and scripts."""

    _SKIP = frozenset({"blockquote", "style", "script", "head", "title"})
    _BREAK = frozenset({"br", "p", "div", "tr", "li", "h1", "h2", "h3"})
    _VOID = frozenset({"br", "img", "hr", "meta", "input", "link", "wbr", "col", "area", "base", "source"})

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self._skipping = 0  # depth inside a skipped element

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in self._VOID:
            if tag == "br" and not self._skipping:
                self.parts.append("\n")
            return
        quoted = any(k == "class" and v and "quote" in v for k, v in attrs)  # gmail_quote, yahoo_quoted
        if self._skipping or tag in self._SKIP or quoted:
            self._skipping += 1
        elif tag in self._BREAK:
            self.parts.append("\n")

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in self._VOID:
            self.handle_starttag(tag, attrs)

    def handle_endtag(self, tag: str) -> None:
        if tag in self._VOID:
            return
        if self._skipping:
            self._skipping -= 1
        elif tag in self._BREAK:
            self.parts.append("\n")

    def handle_data(self, data: str) -> None:
        if not self._skipping:
            self.parts.append(data)


def html_text(html: str) -> str:
    """Plain text of an HTML-only reply, without its quoted blocks."""
    parser = _TextOfHtml()
    parser.feed(html)
    parser.close()
    text = "".join(parser.parts).replace("\xa0", " ")
    return "\n".join(line.strip() for line in text.split("\n"))
