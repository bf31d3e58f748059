"""E-mail addresses as SMTP carries them: the domain in IDNA A-labels, the local part as written.

An internationalised domain (bücher.example) always has an ASCII form (xn--bcher-kva.example) that
every relay accepts, in the envelope and in headers. A non-ASCII local part (jörg@...) has none: it
needs SMTPUTF8 (RFC 6531) on the whole path, so the adapter asks the relay before it sends. Anything
that cannot be written either way is refused here, with a reason, instead of failing inside the
SMTP client on every retry.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from functools import lru_cache
from urllib.parse import quote

import idna

_ATEXT = "A-Za-z0-9!#$%&'*+/=?^_`{|}~-"
_ASCII_LABEL = r"[A-Za-z0-9_](?:[A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?"
_ASCII_DOMAIN = re.compile(rf"{_ASCII_LABEL}(?:\.{_ASCII_LABEL})*", re.ASCII)
_DOMAIN_LITERAL = re.compile(r"\[[A-Za-z0-9:.]{2,60}\]", re.ASCII)
_URI_SAFE = "!$'*+-._~"  # unreserved and harmless sub-delims; '&', '=', '?', '#', '/', '%' get encoded
MAX_LOCAL_OCTETS = 64  # RFC 5321 section 4.5.3.1.1
MAX_DOMAIN_OCTETS = 253


class AddressError(ValueError):
    """The address cannot be written on an SMTP command line; the reason names no address."""


@dataclass(frozen=True, slots=True)
class MailAddress:
    """An addr-spec ready for SMTP: NFC local part, A-label lower-case domain."""

    local: str
    domain: str

    @property
    def needs_smtputf8(self) -> bool:
        """A non-ASCII local part can only travel where every hop speaks SMTPUTF8."""
        return not self.local.isascii()

    def __str__(self) -> str:
        return f"{self.local}@{self.domain}"

    def uri_form(self) -> str:
        """For mailto: URIs (RFC 6068 section 2): non-ASCII and URI delimiters percent-encoded (UTF-8)."""
        return f"{quote(self.local, safe=_URI_SAFE)}@{self.domain}"


def _atom_char(ch: str) -> bool:
    if ch.isascii():
        return ch.isalnum() or ch in _ATEXT
    return ch.isprintable() and not ch.isspace()  # RFC 6531 UTF8-non-ascii, minus controls and spaces


def _local_part(local: str) -> str:
    local = unicodedata.normalize("NFC", local)
    atoms = local.split(".")
    if not all(atoms) or not all(_atom_char(ch) for atom in atoms for ch in atom):
        raise AddressError("the local part of the e-mail address is not a plain dot-atom")
    if len(local.encode("utf-8")) > MAX_LOCAL_OCTETS:
        raise AddressError(f"the local part of the e-mail address is longer than {MAX_LOCAL_OCTETS} octets")
    return local


def a_label_domain(domain: str) -> str:
    """The domain in ASCII: A-labels for internationalised labels (UTS #46 mapping), lower case."""
    if _DOMAIN_LITERAL.fullmatch(domain):
        return domain
    if domain.isascii():
        ascii_domain = domain.lower()
    else:
        try:
            ascii_domain = idna.encode(domain, uts46=True, transitional=False).decode("ascii")
        except (idna.IDNAError, UnicodeError):
            raise AddressError("the e-mail domain has no IDNA (A-label) form") from None
    if not _ASCII_DOMAIN.fullmatch(ascii_domain) or len(ascii_domain) > MAX_DOMAIN_OCTETS:
        raise AddressError("the e-mail domain is not a valid host name")
    return ascii_domain


@lru_cache(maxsize=65_536)  # the same candidates come back: convert each address once
def mail_address(text: str) -> MailAddress:
    """Parse local@domain into its SMTP form; AddressError when it cannot be sent at all."""
    local, at, domain = text.rpartition("@")
    if not at or not local or not domain:
        raise AddressError("not an e-mail address (local@domain)")
    return MailAddress(_local_part(local), a_label_domain(domain))


def same_mailbox(a: str, b: str) -> bool:
    """Whether two spellings name one mailbox (case, NFC and U-label versus A-label aside)."""
    try:
        x, y = mail_address(a.strip()), mail_address(b.strip())
    except AddressError:
        return a.strip().lower() == b.strip().lower()
    return x.local.lower() == y.local.lower() and x.domain == y.domain
