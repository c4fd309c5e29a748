"""Lenient fall-backs for returned originals that real software damages.

Each runs only when the strict path (``extract``) found no reference, and
each is a small function of a parsed message part or a text: a later
one-pass strict parser keeps them as they are. They look for the returned
original's header section where real bounces put it:

- a returned part's header section read leniently, up to its first empty
  line, where a line that is no ``Name:`` field continues the field before
  it (Office 365 / Exchange write unindented continuation lines);
- a returned part whose content starts with empty lines, or was sent with a
  content-transfer-encoding (the parser leaves it encoded), or is a
  ``message/partial`` (its first fragment carries the original's headers);
- a returned part whose *own* header carries the original's fields (some
  gateways write the returned headers there);
- the header section after a "copy of the message follows" marker line,
  read leniently;
- a multipart whose declared boundary is not the one it uses (another
  delimiter, the parameter run into the next header's text): re-read with
  the delimiter actually present; with no delimiter line at all, the
  section after a returned part's ``Content-Type`` line in the body.

Invariants: only a returned header section is ever read, never anything
after its first empty line (the returned body); a section must still look
like a whole message header (``HeaderBlock.is_message_header``), and a
bounce's section gives no ID unless it was sent from one of ``ours`` (the
same rule as the strict path). Costs: linear in the part's text, which the
parse caps already bound; a re-delimited multipart is parsed once more
(within the same byte cap).
"""

from __future__ import annotations

import itertools
import re
from collections import Counter
from collections.abc import Iterable

from ledger import msgid
from ledger.check.message import decoded_text
from ledger.check.mime import Part
from ledger.check.patterns import COPY_MARKER, COPY_MARKER_LINE
from ledger.check.quoted import HeaderBlock, lines_of, unescape

MAX_SECTION_LINES = 500
# Places tried per text (marker lines, returned-part lines): real bounces have one or two, a
# forgery repeating them thousands of times would make the reading quadratic.
MAX_TRIES = 8
MAX_LEADING_BLANKS = 20
# Parts that hold a returned message or its header section.
RETURNED_TYPES = frozenset({"message/rfc822", "message/global", "message/partial", "text/rfc822-headers",
                            "message/rfc822-headers", "message/global-headers"})
_HEADER = re.compile(r"(?P<name>[A-Za-z][A-Za-z0-9_-]{0,60})[ \t]*:[ \t]*(?P<value>.*)")
_DELIMITER = re.compile(r"(?m)^--([^\s\r\n]{1,70}?)(--)?[ \t]*\r?$")
_RETURNED_PART_LINE = re.compile(
    r"(?im)^content-type[ \t]*:[ \t]*(?:message/(?:rfc822|global|partial)|text/rfc822-headers)\b[^\n]*\n")


def section(text: str) -> HeaderBlock | None:
    """The header section at the start of ``text`` (after leading empty lines), read leniently.

    It ends at the first empty line; a line that is not a ``Name: value``
    field continues the field before it. None when the text does not start
    with a header field.
    """
    lines = lines_of(text, MAX_LEADING_BLANKS + MAX_SECTION_LINES)
    start = 0
    while start < min(len(lines), MAX_LEADING_BLANKS) and not lines[start].strip():
        start += 1
    block = HeaderBlock(start=start, end=start)
    for number in range(start, min(len(lines), start + MAX_SECTION_LINES)):
        line = lines[number]
        if not line.strip():
            break
        match = _HEADER.fullmatch(line) if line[:1] not in " \t" else None
        if match:
            block.fields.append((match.group("name").lower(), match.group("value").strip()))
        elif block.fields:
            name, value = block.fields[-1]
            block.fields[-1] = (name, (value + " " + line.strip()).strip())
        else:
            return None
        block.end = number + 1
    return block if block.fields else None


def section_ids(block: HeaderBlock | None, ours: Iterable[str], weak: bool) -> list[str]:
    """The IDs of one returned header section by the strict path's rules."""
    if block is None or not block.is_message_header():
        return []
    if len({msgid.normalise(v) for n, v in block.fields if n == "message-id"}) > 1:
        return []  # two different Message-IDs in one section: trust neither (as the stream scan)
    if block.is_bounce_header():
        return block.references() if block.sent_by(ours) else []
    return block.references(weak)


def _first_fragment(part: Part) -> bool:
    """A message/partial part carries the original's headers only in fragment number 1."""
    if part.get_content_type() != "message/partial":
        return True
    return str(part.get_param("number", "1") or "1").strip() == "1"


def own_header_ids(part: Part, ours: Iterable[str], weak: bool) -> list[str]:
    """A returned part whose own header carries the original's fields (some gateways do that)."""
    fields = [(name.lower(), value) for name, value in part.items()]
    fields = [(n, v) for n, v in fields if not n.startswith("content-") and n != "mime-version"]
    return section_ids(HeaderBlock(fields=fields), ours, weak) if fields else []


def returned_part_ids(part: Part, ours: Iterable[str]) -> list[str]:
    """IDs of one returned part, read leniently (damaged headers, empty lines, encoded, partial)."""
    if part.get_content_type() not in RETURNED_TYPES or not _first_fragment(part):
        return []
    text = decoded_text(part)  # its transfer encoding undone: RFC 2046 forbids one, senders use it
    return section_ids(section(text), ours, weak=True) or own_header_ids(part, ours, weak=True)


def marker_ids(text: str, ours: Iterable[str]) -> list[str]:
    """The header section after a "copy of the message follows" marker line, read leniently."""
    text = unescape(text)
    if COPY_MARKER.search(text.lower()) is None:  # the common case: no marker, no line split
        return []
    lines = lines_of(text)
    tried = 0
    for number, line in enumerate(lines):
        if len(line) <= COPY_MARKER_LINE and COPY_MARKER.search(line.strip().lower()):
            found = section_ids(section("\n".join(lines[number + 1:number + 1 + MAX_SECTION_LINES])),
                                ours, weak=False)
            tried += 1
            if found or tried >= MAX_TRIES:
                return found
    return []


def actual_boundary(body: str) -> str | None:
    """The delimiter a multipart body really uses: the most frequent ``--x`` line before a field line."""
    counts: Counter[str] = Counter()
    for match in _DELIMITER.finditer(body[: 256 * 1024]):
        after = body[match.end(): match.end() + 200].lstrip("\r\n")
        if match.group(2) or _HEADER.match(after.split("\n", 1)[0]):
            counts[match.group(1)] += 1
    if not counts:
        return None
    name, seen = counts.most_common(1)[0]
    return name if seen >= 2 else None


def redelimited(message: Part) -> Part | None:
    """A multipart the strict reading could not split (its boundary is not the one used), re-read.

    None when the message is not such a multipart or no other delimiter is present.
    """
    if message.get_content_maintype() != "multipart" or message.is_multipart():
        return None
    boundary = actual_boundary(message.content.decode("utf-8", "replace"))
    if boundary is None or boundary == message.get_boundary():
        return None
    return message.with_boundary(boundary)


def undelimited_ids(message: Part, ours: Iterable[str]) -> list[str]:
    """A multipart without any delimiter line: the section after a returned part's header in the body."""
    if message.get_content_maintype() != "multipart" or message.is_multipart():
        return []
    body = message.content[: 256 * 1024].decode("utf-8", "replace")
    for match in itertools.islice(_RETURNED_PART_LINE.finditer(body), MAX_TRIES):
        rest = body[match.end():]
        head = section(rest)  # the part's own header lines (Content-Description ...), then a blank line
        if head is not None and not head.is_message_header():
            rest = "\n".join(lines_of(rest)[head.end:])
        found = section_ids(section(rest), ours, weak=True) or section_ids(head, ours, weak=True)
        if found:
            return found
    return []
