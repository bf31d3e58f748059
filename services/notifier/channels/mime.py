"""A lean MIME writer for our own e-mails (RFC 5322 / 2045-2047 / 6532).

The standard library's EmailMessage re-parses every header through its header registry; profiled
under load that was about 60% of the notifier's CPU. Our messages have a fixed shape (text, HTML,
optionally an .ics), so we write them directly: base64 bodies, RFC 2047 encoded words where an
unstructured header or a display name is not ASCII. Addresses are never encoded words (RFC 2047
section 5 forbids them in an addr-spec): they arrive ready, with A-label domains, and carry a UTF-8
local part only in a message sent with SMTPUTF8 (RFC 6532). Header values lose their line breaks and
other control characters, so no value can add a header. Any mail client (and the stdlib parser in the
tests) reads the result.
"""

from __future__ import annotations

import base64
import re
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from email.header import Header

# Line breaks of any kind (CR, LF, NEL, LS, PS) and other C0/C1 controls would end a header early.
_CONTROLS = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]+")
_PHRASE = re.compile(r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~ -]+", re.ASCII)  # atoms and spaces: no quoting needed
_LONGEST_PLAIN = 900  # RFC 5322 allows 998 octets a line; longer values are folded as encoded words


class Formatted(str):
    """A header value already in wire form (an address header): written as is, after control removal."""

    __slots__ = ()


@dataclass(frozen=True)
class Part:
    """One body part."""

    content_type: str  # with parameters, e.g. 'text/plain; charset="utf-8"'
    body: bytes
    filename: str | None = None


def _one_line(value: str) -> str:
    """Controls as spaces, runs of white space as one, and text that UTF-8 can carry (no lone surrogates)."""
    text = value.encode("utf-8", "replace").decode("utf-8")
    return " ".join(_CONTROLS.sub(" ", text).split())


def header_value(value: str) -> str:
    """One line: ASCII as is; anything else (or a very long value) as folded RFC 2047 encoded words."""
    text = _one_line(value)
    if text.isascii() and len(text) <= _LONGEST_PLAIN:
        return text
    return Header(text, "us-ascii" if text.isascii() else "utf-8").encode(linesep="\r\n")


def mailbox(display_name: str, address: str) -> Formatted:
    """An address header value: the display name (atoms, a quoted string or RFC 2047 words), then <address>."""
    name = _one_line(display_name)
    if not name:
        return Formatted(_one_line(address))
    if not name.isascii():
        phrase = Header(name, "utf-8").encode(linesep="\r\n")
    elif _PHRASE.fullmatch(name):
        phrase = name
    else:
        phrase = '"' + name.replace("\\", "\\\\").replace('"', '\\"') + '"'
    return Formatted(f"{phrase} <{_one_line(address)}>")


def _b64(data: bytes) -> bytes:
    encoded = base64.b64encode(data)
    return b"\r\n".join(encoded[i : i + 76] for i in range(0, len(encoded), 76))


def _part(p: Part) -> bytes:
    head = [f"Content-Type: {p.content_type}", "Content-Transfer-Encoding: base64"]
    if p.filename:
        head.append(f'Content-Disposition: attachment; filename="{p.filename}"')
    return ("\r\n".join(head) + "\r\n\r\n").encode() + _b64(p.body) + b"\r\n"


def _multipart(subtype: str, parts: Sequence[bytes]) -> tuple[str, bytes]:
    boundary = f"=_{uuid.uuid4().hex}"
    body = b"".join(f"--{boundary}\r\n".encode() + p for p in parts) + f"--{boundary}--\r\n".encode()
    return f'multipart/{subtype}; boundary="{boundary}"', body


def render(headers: Sequence[tuple[str, str]], text: str, html: str, attachment: Part | None = None) -> bytes:
    """The whole message: headers, then text and HTML alternatives, then the attachment if any."""
    alt_type, alt_body = _multipart(
        "alternative",
        [
            _part(Part('text/plain; charset="utf-8"', text.encode("utf-8", "replace"))),
            _part(Part('text/html; charset="utf-8"', html.encode("utf-8", "replace"))),
        ],
    )
    if attachment is None:
        content_type, body = alt_type, alt_body
    else:
        inner = f"Content-Type: {alt_type}\r\n\r\n".encode() + alt_body
        content_type, body = _multipart("mixed", [inner, _part(attachment)])
    lines = [f"{name}: {_one_line(v) if isinstance(v, Formatted) else header_value(v)}" for name, v in headers]
    lines += ["MIME-Version: 1.0", f"Content-Type: {content_type}"]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("utf-8") + body
