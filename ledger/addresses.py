"""Mail address normalisation: the form both sides of a match are hashed in."""

from __future__ import annotations

import re
from email.utils import getaddresses

NULL_SENDER = ""


def normalise(address: str | None) -> str:
    """``"<Alice@Example.COM>"`` -> ``"alice@example.com"``; the null sender -> ``""``.

    Local parts are case-sensitive in theory, never in practice; folding case
    keeps a bounce addressed to ``Alice@`` matching mail sent as ``alice@``.
    """
    if not address:
        return NULL_SENDER
    address = address.strip()
    if address.startswith("<") and address.endswith(">"):
        address = address[1:-1]
    # Strip a source route (<@relay:user@host>), which RFC 5321 says to ignore.
    if address.startswith("@") and ":" in address:
        address = address.split(":", 1)[1]
    return address.strip().lower()


# The common shapes, read without the full RFC 5322 parser: "addr@dom", "<addr@dom>" and
# "Display Name <addr@dom>" (a phrase without quotes, comments, commas or groups).
_SIMPLE = re.compile(r"[ \t]*(?:[^\"(),:;<>@\[\]\\]*<)?([^\s\"(),:;<>@\[\]\\]+@[A-Za-z0-9.-]+)>?[ \t]*")


def from_header(value: str | None) -> list[str]:
    """The normalised addresses of a ``From:`` header, without duplicates."""
    if not value:
        return []
    simple = _SIMPLE.fullmatch(value)
    if simple is not None and (value.count("<") == value.count(">") == ("<" in value)):
        norm = normalise(simple.group(1))
        return [norm] if "@" in norm else []
    found: list[str] = []
    for _, addr in getaddresses([value]):
        norm = normalise(addr)
        if norm and "@" in norm and norm not in found:
            found.append(norm)
    return found


def local_part(address: str) -> str:
    return address.rsplit("@", 1)[0] if "@" in address else address


# Postfix's default_verp_delimiters: the XVERP parameter without a value means these.
DEFAULT_VERP_DELIMITERS = "+="


def xverp_delimiters(params: tuple[str, ...] | list[str]) -> str | None:
    """The VERP delimiters a ``MAIL FROM`` asks for with Postfix's ``XVERP`` parameter, else None.

    ``XVERP`` alone means :data:`DEFAULT_VERP_DELIMITERS`; ``XVERP=xy`` names two
    characters. Anything else is no request Postfix would honour either.
    """
    for param in params:
        name, eq, value = str(param).partition("=")
        if name.strip().upper() != "XVERP":
            continue
        if not eq:
            return DEFAULT_VERP_DELIMITERS
        return value if len(value) == 2 else None
    return None


def verp(sender: str, recipient: str, delimiters: str = DEFAULT_VERP_DELIMITERS) -> str:
    """The envelope sender a VERP delivery of ``sender``'s message to ``recipient`` carries.

    The form Postfix documents for XVERP (VERP_README) and list servers write themselves:
    ``list-bounces@our.domain`` to ``user@example.org`` becomes
    ``list-bounces+user=example.org@our.domain``. Both inputs are normalised first.
    """
    sender, recipient = normalise(sender), normalise(recipient)
    local, at, domain = sender.rpartition("@") if "@" in sender else (sender, "", "")
    rcpt_local, rcpt_at, rcpt_domain = recipient.rpartition("@")
    encoded = f"{rcpt_local}{delimiters[1]}{rcpt_domain}" if rcpt_at else f"{recipient}{delimiters[1]}"
    return f"{local}{delimiters[0]}{encoded}{at}{domain}"
