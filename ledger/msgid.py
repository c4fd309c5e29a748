"""Message-ID normalisation, discovery and generation.

The ledger hashes the *normalised* ID so that a bounce quoting a re-folded,
re-cased or commented copy of the header still matches: only what is inside
the angle brackets counts, without whitespace, lower-cased.
"""

from __future__ import annotations

import re
import secrets
import time

_COMMENT = re.compile(r"\([^()]*\)")
_WHITESPACE = re.compile(r"\s+")
_BRACKETED = re.compile(r"<([^<>]{1,998})>")
# An ID in free text: <local@domain> with at most light whitespace/folding inside.
_TEXT_ID = re.compile(r"<\s*([^<>\s@]{1,500}@[^<>\s@]{1,300})\s*>")
MAX_ID_LENGTH = 998


def _strip_comments(value: str) -> str:
    # Comments may nest; strip innermost first, a bounded number of times.
    for _ in range(5):
        stripped = _COMMENT.sub(" ", value)
        if stripped == value:
            break
        value = stripped
    return value


def normalise(value: str | bytes | None) -> str | None:
    """Return the canonical form of one Message-ID header value, or None.

    ``" <Abc.123@Example.COM> (comment)"`` and the same ID folded over two lines
    both give ``"abc.123@example.com"``. A value with no usable ID gives None.
    """
    if value is None:
        return None
    if isinstance(value, bytes):
        value = value.decode("utf-8", "replace")
    value = _strip_comments(value.replace("\r", " ").replace("\n", " "))
    match = _BRACKETED.search(value)
    candidate = match.group(1) if match else value
    candidate = _WHITESPACE.sub("", candidate).strip("<>").lower()
    if not candidate or len(candidate) > MAX_ID_LENGTH or "<" in candidate or ">" in candidate:
        return None
    return candidate


def all_in_header(value: str | bytes | None) -> list[str]:
    """All IDs of an ``In-Reply-To``/``References``-style header, in order, unique."""
    if value is None:
        return []
    if isinstance(value, bytes):
        value = value.decode("utf-8", "replace")
    value = _strip_comments(value.replace("\r", " ").replace("\n", " "))
    found: list[str] = []
    for match in _BRACKETED.finditer(value):
        normalised = normalise("<" + match.group(1) + ">")
        if normalised and "@" in normalised and normalised not in found:
            found.append(normalised)
    return found


def in_text(text: str) -> list[str]:
    """IDs of the form ``<local@domain>`` anywhere in free text, in order, unique."""
    found: list[str] = []
    for match in _TEXT_ID.finditer(text):
        normalised = match.group(1).lower()
        if normalised not in found:
            found.append(normalised)
    return found


def generate(domain: str) -> str:
    """A new ``<...@domain>`` Message-ID with 128 random bits (unguessable)."""
    stamp = format(int(time.time()), "x")
    return f"<{stamp}.{secrets.token_hex(16)}@{domain}>"
