"""Stream a candidate past the parse cap for the returned message's Message-ID only.

The spammer writes the returned original, so it can push the original's
Message-ID past ``inbound.max_bytes`` (150 KB of header lines, a huge first
text part, dozens of small parts). The parser stops there; this scanner keeps
reading the raw message as a stream, line by line, and looks for one thing:
the header section of the *returned* message, i.e. the content of a
``message/rfc822`` (``message/global``) or ``text/rfc822-headers`` part of
the bounce, or the header block after a "copy of the message follows" marker
line (:data:`ledger.check.patterns.COPY_MARKER`) in a plain text part of the
bounce's own. It yields that section's Message-ID, normalised.

Invariants (the same rules as the strict path in ``extract``):

- only the bounce's own MIME structure is walked (a stack of its multipart
  boundaries); a returned message's body is skipped up to the bounce's next
  boundary, so nothing in it (IDs, part headers, marker lines) ever counts;
- a returned header section that is a bounce's own (a bounce of a bounce) is
  entered like the strict path does, up to three levels, never taken;
- a section with two different Message-IDs gives none; a returned part wins
  over a marker block; the first returned part with an ID ends the scan;
- base64/quoted-printable text parts and HTML are not scanned for markers
  (their returned ``message/rfc822`` part, which producers also attach, is).

Costs: memory is bounded whatever the input: a partial-line buffer of at most
:data:`MAX_LINE` bytes, a few header values of at most :data:`MAX_VALUE`
characters, and at most ``max_depth`` boundaries (:meth:`Scanner.held`, never
above :meth:`Scanner.bound`, under 64 KiB at the default depth).
Time is linear in the bytes read, which stop at ``cap`` (``inbound.scan_bytes``)
and as soon as the scan is :attr:`~Scanner.done`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from ledger import msgid
from ledger.check.patterns import COPY_MARKER, COPY_MARKER_LINE
from ledger.check.quoted import HeaderBlock

DEFAULT_CAP = 4 * 1024 * 1024
MAX_LINE = 8 * 1024
MAX_VALUE = 1000
MAX_NESTED_BOUNCES = 3
MAX_IDS = 2  # two different IDs in one section already mean "trust neither"
MAX_BOUNDARY = 200  # RFC 2046 allows 70 characters; longer ones are not followed

_HEADER = re.compile(r"(?P<name>[A-Za-z][A-Za-z0-9_-]{0,60})[ \t]*:[ \t]*(?P<value>.*)")
_QUOTE = re.compile(r"[ \t]*(?:[>|][ \t]?)*")
_RETURNED = frozenset({"message/rfc822", "message/global"})
_HEADERS_ONLY = frozenset({"text/rfc822-headers", "message/rfc822-headers", "message/global-headers"})
_CTYPE = re.compile(r"[ \t]*([A-Za-z0-9!#$&^_.+-]+/[A-Za-z0-9!#$&^_.+-]+)[ \t]*(?:;|$|\()")
_BOUNDARY = re.compile(r"(?i);[ \t]*boundary[ \t]*=[ \t]*(?:\"([^\"]*)\"|([^;\s\"]+))")
_IDENTITY = frozenset({"", "7bit", "8bit", "binary"})
# The fields a returned section keeps (first value of each): enough to tell an
# original's header from a bounce's and a prose list (quoted.HeaderBlock).
_KEPT = frozenset({"from", "to", "cc", "subject", "date", "sender", "reply-to", "received", "message-id",
                   "return-path", "mime-version", "dkim-signature", "x-mailer", "user-agent",
                   "auto-submitted", "content-type", "authentication-results", "content-transfer-encoding"})

# Modes: what the current line belongs to.
_HEADERS = "headers"  # a header section of the bounce itself (top or a part's)
_SKIP = "skip"  # content nothing is looked for in: only a known boundary ends it
_TEXT = "text"  # a plain text part of the bounce: looking for a marker line
_AFTER_MARKER = "after-marker"  # blank lines between a marker and its header block
_QUOTED = "quoted"  # the header block after a marker
_RETURNED_START = "returned-start"  # leading blank lines of a returned message
_RETURNED_HEADERS = "returned"  # the returned message's header section


@dataclass
class _Section:
    """The fields kept from one header section (first value of each), bounded."""

    fields: dict[str, str] = field(default_factory=dict)
    ids: list[str] = field(default_factory=list)  # every distinct Message-ID field
    prefix: str = ""  # quote prefix of a marker block's lines
    current: str = ""  # name of the kept field being read (continuation lines join it)
    value: str = ""  # its value so far

    def add(self, name: str, value: str) -> None:
        self._close()
        if name in _KEPT:
            self.current, self.value = name, value[:MAX_VALUE]

    def extend(self, text: str) -> None:
        if self.current and len(self.value) < MAX_VALUE:
            self.value = (self.value + " " + text)[:MAX_VALUE]

    def _close(self) -> None:
        if self.current == "message-id" and len(self.ids) < MAX_IDS:
            ref = msgid.normalise(self.value)
            if ref and "@" in ref and ref not in self.ids and len(self.ids) < MAX_IDS:
                self.ids.append(ref)
        if self.current:
            self.fields.setdefault(self.current, self.value)
        self.current, self.value = "", ""

    def block(self) -> HeaderBlock:
        self._close()
        return HeaderBlock(fields=list(self.fields.items()))

    def held(self) -> int:
        return sum(len(v) for v in self.fields.values()) + len(self.value) + sum(len(i) for i in self.ids)


@dataclass
class _Container:
    """A multipart of the bounce (or of a returned bounce, ``level`` > 0)."""

    boundary: bytes
    level: int
    delimiter: bytes = b""

    def __post_init__(self) -> None:
        self.delimiter = b"--" + self.boundary


def _content_type(value: str) -> tuple[str, bytes | None]:
    """(type/subtype, boundary) of a Content-Type value; text/plain when absent or broken.

    As the stdlib parser reads it: a value without a valid type/subtype is
    text/plain, the boundary is the (unquoted) ``boundary`` parameter.
    """
    match = _CTYPE.match(value)
    if match is None:
        return "text/plain", None
    ctype = match.group(1).lower()
    found = _BOUNDARY.search(value, match.end(1))
    if found is None or not ctype.startswith("multipart/"):
        return ctype, None
    boundary = (found.group(1) if found.group(1) is not None else found.group(2)).rstrip()
    encoded = boundary.encode("utf-8", "replace")
    return ctype, encoded if 0 < len(encoded) <= MAX_BOUNDARY else None


class Scanner:
    """Feed it the raw message (headers first) in chunks of any size; ask :meth:`references`."""

    def __init__(self, cap: int = DEFAULT_CAP, max_depth: int = 8) -> None:
        self.cap = cap
        self.max_depth = max_depth
        self.read = 0
        self.capped = False
        self._line = bytearray()  # the partial line: at most MAX_LINE bytes, the rest dropped
        self._stack: list[_Container] = []
        self._mode = _HEADERS
        self._level = 0  # nesting of returned bounces the current part belongs to
        self._part = _Section()  # header fields of the bounce's part being read
        self._section: _Section | None = None  # a returned section or marker block being read
        self._structured: list[str] = []
        self._quoted: list[str] = []
        self._finished = False

    # -- feeding ----------------------------------------------------------------------------

    @property
    def done(self) -> bool:
        """Nothing more can be learnt: found, structure ended, or the cap reached."""
        return self._finished or self.capped

    def feed(self, chunk: bytes) -> None:
        """Consume the next bytes of the message (stops silently once done)."""
        if self.done:
            return
        room = self.cap - self.read
        if len(chunk) >= room:
            chunk, self.capped = chunk[:room], True
        self.read += len(chunk)
        start = 0
        while not self._finished:
            if self._mode == _SKIP and not self._line:
                start = self._skip_ahead(chunk, start)
            end = chunk.find(b"\n", start)
            if end < 0:
                self._keep(chunk[start:])
                break
            self._keep(chunk[start:end])
            line = bytes(self._line)
            self._line.clear()
            self._handle(line[:-1] if line.endswith(b"\r") else line)
            start = end + 1

    @staticmethod
    def _skip_ahead(chunk: bytes, start: int) -> int:
        """The next line start in ``chunk`` that may be a delimiter (skipped content costs a find)."""
        if chunk.startswith(b"-", start) or start >= len(chunk):
            return start
        found = chunk.find(b"\n--", start)
        if found >= 0:
            return found + 1
        last = chunk.rfind(b"\n", start)
        return last + 1 if last >= 0 else start

    def close(self) -> None:
        """The message ended: handle a last line without a line break (not one the cap cut)."""
        if self.capped:
            self._line.clear()
        if self._line and not self._finished:
            line = bytes(self._line)
            self._line.clear()
            self._handle(line.rstrip(b"\r"))
        if self._section is not None and not self._finished:
            self._end_section()

    def _keep(self, piece: bytes) -> None:
        room = MAX_LINE - len(self._line)
        if room > 0:
            self._line += piece[:room]

    def bound(self) -> int:
        """The most :meth:`held` can ever be: two sections, the line buffer, the boundaries."""
        section = (len(_KEPT) + 1) * MAX_VALUE + MAX_IDS * msgid.MAX_ID_LENGTH
        return MAX_LINE + 2 * section + self.max_depth * MAX_BOUNDARY + 2 * msgid.MAX_ID_LENGTH

    def held(self) -> int:
        """Bytes (and characters) of state held now: never above :meth:`bound`."""
        sections = self._part.held() + (self._section.held() if self._section else 0)
        return (len(self._line) + sections + sum(len(c.boundary) for c in self._stack)
                + sum(len(r) for r in self._structured + self._quoted))

    # -- results ----------------------------------------------------------------------------

    def references(self) -> list[str]:
        """The returned message's Message-ID(s): a returned part's, else a marker block's."""
        return list(self._structured or self._quoted)

    # -- the state machine ------------------------------------------------------------------

    def _handle(self, line: bytes) -> None:
        if self._stack and line.startswith(b"--") and self._boundary(line):
            return
        mode = self._mode
        if mode == _SKIP:
            return
        if mode == _HEADERS:
            self._header_line(line)
        elif mode == _TEXT:
            marker = line.strip()[: COPY_MARKER_LINE + 1].decode("utf-8", "replace")
            if len(marker) <= COPY_MARKER_LINE and COPY_MARKER.search(marker.lower()):
                self._mode = _AFTER_MARKER
        elif mode == _AFTER_MARKER:
            if line.strip():
                self._start_quoted(line)
        elif mode == _QUOTED:
            self._quoted_line(line)
        elif mode == _RETURNED_START:
            if line.strip():
                self._section = _Section()
                self._mode = _RETURNED_HEADERS
                self._returned_line(line)
        elif mode == _RETURNED_HEADERS:
            self._returned_line(line)

    def _boundary(self, line: bytes) -> bool:
        """A delimiter line of a known boundary: move to the next part (or close the multipart)."""
        for index in range(len(self._stack) - 1, -1, -1):
            delimiter = self._stack[index].delimiter
            if not line.startswith(delimiter):
                continue
            rest = line[len(delimiter):]
            closing = rest.startswith(b"--")
            if (rest[2:] if closing else rest).strip(b" \t"):
                continue
            if self._section is not None:
                self._end_section()
                if self._finished:
                    return True
            container = self._stack[index]
            del self._stack[index + 1:]
            if closing:
                self._stack.pop()
                self._mode = _SKIP  # the epilogue: the parent part's content
                if not self._stack:
                    self._finished = True  # the bounce's own structure has ended
            else:
                self._level = container.level
                self._part = _Section()
                self._mode = _HEADERS
            return True
        return False

    def _header_line(self, line: bytes) -> None:
        text = line.decode("utf-8", "replace")
        if not text.strip():
            self._open_part()
            return
        if text[:1] in " \t":
            self._part.extend(text.strip())
            return
        match = _HEADER.fullmatch(text)
        if match is None:  # the parser, too, takes a non-header line for the start of the body
            self._open_part()
            self._handle(line)
            return
        self._part.add(match.group("name").lower(), match.group("value").strip())

    def _open_part(self) -> None:
        """The part's (or the top's) header section ended: decide what its content is."""
        fields = self._part.block()
        ctype, boundary = _content_type(fields.get("content-type") or "")
        encoding = (fields.get("content-transfer-encoding") or "").strip().lower()
        self._part = _Section()
        if ctype.startswith("multipart/"):
            if boundary is not None and len(self._stack) < self.max_depth:
                self._stack.append(_Container(boundary, self._level))
            self._skip()
        elif ctype in _RETURNED or (ctype in _HEADERS_ONLY and encoding in _IDENTITY):
            self._mode = _RETURNED_START
        elif ctype == "text/plain" and encoding in _IDENTITY:
            self._mode = _TEXT
        else:
            self._skip()

    def _skip(self) -> None:
        self._mode = _SKIP
        if not self._stack:
            self._finished = True  # no boundary can ever bring the scan back

    def _start_quoted(self, line: bytes) -> None:
        text = line.decode("utf-8", "replace")
        quote = _QUOTE.match(text)
        prefix = quote.group(0) if quote else ""
        match = _HEADER.fullmatch(text[len(prefix):])
        if match is None:  # prose after the marker: no header block here, and none later
            self._skip()
            return
        self._section = _Section(prefix=prefix)
        self._section.add(match.group("name").lower(), match.group("value").strip())
        self._mode = _QUOTED

    def _quoted_line(self, line: bytes) -> None:
        section = self._section
        assert section is not None
        text = line.decode("utf-8", "replace")
        rest = text[len(section.prefix):] if text.startswith(section.prefix) else None
        if rest is None or not rest.strip():
            self._end_section()
            return
        if rest[:1] in " \t":
            section.extend(rest.strip())
            return
        match = _HEADER.fullmatch(rest)
        if match is None:
            self._end_section()
            return
        section.add(match.group("name").lower(), match.group("value").strip())

    def _returned_line(self, line: bytes) -> None:
        section = self._section
        assert section is not None
        text = line.decode("utf-8", "replace")
        if not text.strip():
            self._end_section()
            return
        if text[:1] in " \t":
            section.extend(text.strip())
            return
        match = _HEADER.fullmatch(text)
        if match is None:  # the returned body has begun
            self._end_section()
            return
        section.add(match.group("name").lower(), match.group("value").strip())

    def _end_section(self) -> None:
        """A returned section or marker block is complete: take its ID, or enter a returned bounce."""
        section, quoted = self._section, self._mode == _QUOTED
        assert section is not None
        self._section = None
        block = section.block()
        single = section.ids[0] if len(section.ids) == 1 else None  # two IDs: trust neither
        if block.is_report_header() or (block.is_bounce_header() and not single):
            self._enter_returned_bounce(block)
            return
        # an Auto-Submitted notice (no report) with its ID: taken like an original, as the strict
        # path does when nothing is found inside it (the stream cannot look inside and come back)
        if quoted:
            if single and block.is_message_header() and not self._quoted:
                self._quoted.append(single)
            self._skip()  # the rest of this text part is the returned body
            return
        if single:
            self._structured.append(single)
            self._finished = True
            return
        self._skip()

    def _enter_returned_bounce(self, block: HeaderBlock) -> None:
        """A bounce returned inside the bounce: its own parts are bounce words, walk them."""
        ctype, boundary = _content_type(block.get("content-type") or "")
        encoding = (block.get("content-transfer-encoding") or "").strip().lower()
        if self._level >= MAX_NESTED_BOUNCES:
            self._skip()
        elif ctype.startswith("multipart/") and boundary is not None and len(self._stack) < self.max_depth:
            self._stack.append(_Container(boundary, self._level + 1))
            self._level += 1
            self._mode = _SKIP
        elif ctype == "text/plain" and encoding in _IDENTITY:
            self._level += 1
            self._mode = _TEXT
        else:
            self._skip()
