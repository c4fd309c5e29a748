"""Find the ``Message-ID:`` of an original whose headers are quoted as text.

Bounces quote the original's header block in a ``text/rfc822-headers`` part
or inline in a text part, and real MTAs do that untidily: indented, ``> ``
quoted, folded over two lines, with HTML-escaped brackets. Only the
``Message-ID`` header line counts; ``In-Reply-To`` and ``References`` of the
quoted original name *other* messages and are ignored.
"""

from __future__ import annotations

import html
import re

from ledger import msgid

# A Message-ID header line, possibly quoted ("> ", "| ") or indented; the value
# may continue on the next line (folding).
_MESSAGE_ID_LINE = re.compile(
    r"^[ \t>|]*(?:resent-)?message-id[ \t]*:[ \t]*(?P<value>[^\n]*)"
    r"(?P<cont>(?:\n[ \t>|]*[ \t]+[^\n:]*)?)",
    re.IGNORECASE | re.MULTILINE,
)


def unescape(text: str) -> str:
    """Undo HTML escaping, twice if need be (``&amp;lt;`` occurs in real NDRs)."""
    for _ in range(2):
        if "&" not in text:
            break
        text = html.unescape(text)
    return text


def header_block_ids(text: str) -> list[str]:
    """Message-IDs from ``Message-ID:`` lines of quoted header text, in order."""
    text = unescape(text.replace("\r\n", "\n").replace("\r", "\n"))
    found: list[str] = []
    for match in _MESSAGE_ID_LINE.finditer(text):
        if match.group(0).lstrip(" \t>|").lower().startswith("resent-"):
            continue
        value = match.group("value")
        if ">" not in value:
            value += re.sub(r"^[ \t>|]*", "", match.group("cont"))
        normalised = msgid.normalise(value)
        if normalised and "@" in normalised and normalised not in found:
            found.append(normalised)
    return found
