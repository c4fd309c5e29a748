"""One pass over the bytes of a message: header fields once, MIME parts by their delimiters.

Why not the stdlib parser: it turns every line of every part into objects
before anyone asks, while a candidate needs a few header fields and the
parts a detector reads. Here line ends are made LF once (one C-speed pass),
a part's header section is read when the part is made, its children only
when a walk enters it, and its content is transfer-decoded only when a
detector reads it. Every part's content is a slice of the one buffer.

Invariants:

- never raises on any input, never recurses: children are made on demand,
  one level per call, and every part made counts against one
  :class:`Budget` (parts and depth), which remembers that it ran out;
- the readings the detectors rely on are the stdlib's (compat32) ones: a
  header section ends at the first line that is neither a field nor a
  continuation (that line starts the body); a multipart whose declared
  boundary is on no delimiter line is not split (its content stays text, for
  the lenient fall-backs); ``message/*`` content is a message of its own,
  except ``delivery-status``, whose content is blocks of fields;
- header values keep their folding ("\\n" + the continuation line), as
  compat32 does; bytes that are not UTF-8 become U+FFFD in header values.

Costs: linear in the bytes of the parts that are entered; a part's header
section is split and indexed once.
"""

from __future__ import annotations

import binascii
import email.header
import re
from dataclasses import dataclass
from urllib.parse import unquote

# A field: a name of printable ASCII but ":" and space, then ":" (RFC 5322 2.2; compat32 too),
# then its value and continuation lines (folding kept, as compat32 keeps it).
_NAME = r"[\x21-\x39\x3b-\x7e]+"
_FIELDS = re.compile(rf"({_NAME}):[ \t]*([^\n]*(?:\n[ \t][^\n]*)*)\n?")
_SECTION = re.compile(rf"(?:{_NAME}:[^\n]*(?:\n[ \t][^\n]*)*(?:\n|\Z))*")
_CONTINUATIONS = re.compile(r"(?:[ \t][^\n]*(?:\n|\Z))*")


# Encoded words past this many characters of a header value are not decoded: the
# stdlib decoder is quadratic in their number (a 128 KiB Subject of encoded words took
# seconds), and every marker the detectors look for sits at the start of a header.
DECODE_CHARS = 4096


def header_text(value: object) -> str:
    """A header value as text, RFC 2047 encoded words decoded (never raises; bounded time)."""
    if value is None:
        return ""
    text = str(value)
    if "=?" not in text:
        return text
    if len(text) > DECODE_CHARS:
        cut = text.rfind(" ", 0, DECODE_CHARS)
        text = text[: cut if cut > 0 else DECODE_CHARS]
    try:
        return str(email.header.make_header(email.header.decode_header(text)))
    except Exception:  # malformed encoded words: the raw text will do for matching
        return text


@dataclass
class Budget:
    """How many parts may still be made and how deep; what ran out is remembered."""

    parts_left: int
    max_depth: int
    parts_out: bool = False
    depth_out: bool = False

    def take(self) -> bool:
        if self.parts_left <= 0:
            self.parts_out = True
            return False
        self.parts_left -= 1
        return True


def _fields_of(text: str) -> tuple[list[tuple[str, str]], int, bool]:
    """Parse a header section: (fields, characters it used, ended by an empty line).

    The section ends at its first empty line (consumed) or at the first line
    that is neither a field nor a continuation (not consumed: it is body).
    Two regex passes (the section's extent, then its fields), no loop per line.
    """
    start = 0
    if text.startswith("From "):  # an mbox separator line: not a field, skipped
        start = text.find("\n") + 1 or len(text)
    lead = _CONTINUATIONS.match(text, start)  # continuation lines before any field: ignored
    start = lead.end() if lead else start
    extent = _SECTION.match(text, start)
    end = extent.end() if extent else start
    fields = _FIELDS.findall(text, start, end)
    if end >= len(text):
        return fields, len(text), False
    if text[end] == "\n":  # the empty line that ends the section
        return fields, end + 1, True
    return fields, end, False


def _clean(text: str) -> str:
    """Bytes that were not UTF-8 (kept as surrogates to count them) become U+FFFD."""
    return text.encode("utf-8", "surrogateescape").decode("utf-8", "replace")


def _unquote(value: str) -> str:
    value = value.strip()
    if value[:1] == '"':
        value = value[1:-1] if len(value) >= 2 and value[-1] == '"' else value[1:]
        return value.replace('\\"', '"').replace("\\\\", "\\") if "\\" in value else value
    return value


_PARAM = re.compile(r';[ \t\n]*([^\s=;"]+)[ \t\n]*=[ \t\n]*("(?:[^"\\]|\\.)*"?|[^;]*)')


def parameters(value: str) -> tuple[str, dict[str, str]]:
    """A structured field's first token (lower-cased) and its ``name=value`` parameters.

    Quoted strings may hold ";"; RFC 2231 continuations (``name*0=``) are joined
    and ``name*=charset''pct`` values decoded.
    """
    semi = value.find(";")
    if semi < 0:
        return value.strip().lower(), {}
    params: dict[str, str] = {}
    pieces: dict[str, list[tuple[int, str, bool]]] = {}
    for match in _PARAM.finditer(value, semi):
        name, raw = match.group(1).lower(), match.group(2)
        if "*" in name:
            base, _, index = name.partition("*")
            number = index.rstrip("*")
            order = int(number) if number.isdigit() else 0
            pieces.setdefault(base, []).append((order, _unquote(raw), index.endswith("*") or index == ""))
        else:
            params.setdefault(name, _unquote(raw))
    for base, parts in pieces.items():
        parts.sort(key=lambda piece: piece[0])
        joined = ""
        for number, text, encoded in parts:
            if encoded:
                if number == 0 and text.count("'") >= 2:
                    text = text.split("'", 2)[2]
                text = unquote(text, errors="replace")
            joined += text
        params.setdefault(base, joined)
    return value[:semi].strip().lower(), params


class Part:
    """One MIME part (or the whole message): its header fields and a slice of the buffer.

    The method names that mirror ``email.message.Message`` mean what they
    mean there, so a reader who knows the stdlib knows these.
    """

    __slots__ = (
        "_boundary",
        "_buf",
        "_children",
        "_default",
        "_end",
        "_index",
        "_params",
        "_start",
        "_type",
        "budget",
        "depth",
        "fields",
        "separated",
    )

    def __init__(self, buf: bytes, start: int, end: int, budget: Budget, depth: int = 0,
                 default_type: str = "text/plain", boundary: str | None = None) -> None:
        self._buf = buf
        self.depth = depth
        self.budget = budget
        self._default = default_type
        self._boundary = boundary
        self._type: str | None = None
        self._params: dict[str, str] | None = None
        self._children: list[Part] | None = None
        cut = buf.find(b"\n\n", start, end)
        head_end = end if cut < 0 else cut + 1
        text = buf[start:head_end].decode("utf-8", "surrogateescape")
        if cut < 0 and text.endswith("\n"):
            text = text[:-1]  # no empty line: the section runs to the end (a headers-only part)
        self.fields, used, self.separated = _fields_of(text)
        ascii_only = text.isascii()
        if used >= len(text) and cut >= 0:
            self._start = cut + 2  # the usual case: the body starts after the empty line
            self.separated = True
        elif used >= len(text):
            self._start = end
        elif ascii_only:
            self._start = start + used
        else:
            self._start = start + len(text[:used].encode("utf-8", "surrogateescape"))
        if not ascii_only:
            self.fields = [(_clean(name), _clean(value)) for name, value in self.fields]
        self._end = end
        index: dict[str, str] = {}
        for name, value in self.fields:
            index.setdefault(name.lower(), value)
        self._index = index

    # -- header fields --------------------------------------------------------------------
    def get(self, name: str, default: str | None = None) -> str | None:
        """The first field of that name (any case), folding kept; ``default`` if absent."""
        return self._index.get(name.lower(), default)

    def get_all(self, name: str) -> list[str]:
        wanted = name.lower()
        return [value for fname, value in self.fields if fname.lower() == wanted]

    def items(self) -> list[tuple[str, str]]:
        return list(self.fields)

    @property
    def names(self) -> frozenset[str]:
        """The lower-cased names of its fields."""
        return frozenset(self._index)

    def __contains__(self, name: str) -> bool:
        return name.lower() in self._index

    # -- content type ---------------------------------------------------------------------
    def _parse_type(self) -> None:
        value = self._index.get("content-type")
        if value is None:
            self._type, self._params = self._default, {}
            return
        ctype, params = parameters(value)
        self._type = ctype if ctype.count("/") == 1 else "text/plain"
        self._params = params

    def get_content_type(self) -> str:
        if self._type is None:
            self._parse_type()
        return self._type or "text/plain"

    def get_content_maintype(self) -> str:
        return self.get_content_type().partition("/")[0]

    def get_content_subtype(self) -> str:
        return self.get_content_type().partition("/")[2]

    def get_param(self, name: str, default: str = "") -> str:
        if self._params is None:
            self._parse_type()
        return (self._params or {}).get(name.lower(), default)

    def get_boundary(self) -> str | None:
        if self._boundary is not None:
            return self._boundary
        found = self.get_param("boundary", "").rstrip()
        return found or None

    def get_content_charset(self) -> str | None:
        charset = self.get_param("charset", "").strip().lower()
        return charset or None

    @property
    def transfer_encoding(self) -> str:
        return (self._index.get("content-transfer-encoding") or "").strip().lower()

    # -- content --------------------------------------------------------------------------
    @property
    def content(self) -> bytes:
        """The part's content as it was sent (after its header section), line ends LF."""
        return self._buf[self._start:self._end]

    def decoded(self) -> bytes:
        """The content with its transfer encoding undone (broken base64/qp: the raw content)."""
        data = self.content
        encoding = self.transfer_encoding
        try:
            if encoding == "base64":
                return binascii.a2b_base64(data + b"==")  # lenient about missing padding, as mailers are
            if encoding == "quoted-printable":
                return binascii.a2b_qp(data)
        except (binascii.Error, ValueError):
            return data
        return data

    def children(self) -> list[Part]:
        """The parts inside: a multipart's parts by its delimiters, a ``message/*``'s message.

        Empty when there are none, when the multipart is not split (no
        delimiter line of its boundary), or when the budget ran out (it
        remembers which limit).
        """
        if self._children is None:
            self._children = self._make_children()
        return self._children

    def is_multipart(self) -> bool:
        """True when it has parts inside (a split multipart, or a message/* with its message)."""
        return bool(self.children())

    def attached(self) -> Part | None:
        """The message inside a ``message/*`` part (not ``delivery-status``), else None."""
        if self.get_content_maintype() != "message" or self._delivery_status():
            return None
        kids = self.children()
        return kids[0] if kids else None

    def _delivery_status(self) -> bool:
        return self.get_content_type() in ("message/delivery-status", "message/global-delivery-status")

    def _make_children(self) -> list[Part]:
        maintype = self.get_content_maintype()
        if maintype not in ("multipart", "message") or (maintype == "message" and self._delivery_status()):
            return []
        if self.depth >= self.budget.max_depth:
            self.budget.depth_out = True
            return []
        if maintype == "message":
            if not self.budget.take():
                return []
            return [Part(self._buf, self._start, self._end, self.budget, self.depth + 1)]
        boundary = self.get_boundary()
        if boundary is None:
            return []
        default = "message/rfc822" if self.get_content_subtype() == "digest" else "text/plain"
        found: list[Part] = []
        for start, end in self._spans(boundary.encode("utf-8", "replace")):
            if not self.budget.take():
                break
            found.append(Part(self._buf, start, end, self.budget, self.depth + 1, default))
        return found

    def _spans(self, boundary: bytes) -> list[tuple[int, int]]:
        """(start, end) of each part between delimiter lines ``--boundary`` (RFC 2046 5.1.1).

        The line break before a delimiter belongs to it; text before the
        first delimiter (preamble) and after the close delimiter (epilogue)
        is no part. No delimiter line at all: no parts.
        """
        buf, delimiter = self._buf, b"--" + boundary
        spans: list[tuple[int, int]] = []
        pos, begin = self._start, -1
        while pos < self._end:
            at = buf.find(delimiter, pos, self._end)
            if at < 0:
                break
            after = at + len(delimiter)
            if at > self._start and buf[at - 1] != 0x0A:
                pos = after
                continue
            line_end = buf.find(b"\n", after, self._end)
            line_end = self._end if line_end < 0 else line_end
            rest = buf[after:line_end]
            closing = rest.startswith(b"--")
            if (rest[2:] if closing else rest).strip(b" \t\r"):
                pos = after  # a longer boundary that starts with ours, or text: not a delimiter
                continue
            if begin >= 0:
                spans.append((begin, max(begin, at - 1)))
            if closing:
                return spans
            begin = line_end + 1
            pos = begin
        if begin >= 0:
            spans.append((min(begin, self._end), self._end))
        return spans

    def with_boundary(self, boundary: str) -> Part:
        """The same part read with another boundary (the one its content really uses)."""
        again = Part.__new__(Part)
        for name in Part.__slots__:
            setattr(again, name, getattr(self, name))
        again._boundary = boundary
        again._children = None
        return again


def field_blocks(text: str) -> list[dict[str, str]]:
    """Blocks of ``Name: value`` fields separated by empty lines (a delivery-status part,
    RFC 3464 2.1): lower-cased names, the first value of each name, continuations unfolded."""
    blocks: list[dict[str, str]] = []
    for chunk in text.replace("\r\n", "\n").split("\n\n"):
        fields, _, _ = _fields_of(chunk.strip("\n"))
        block: dict[str, str] = {}
        for name, value in fields:
            block.setdefault(name.lower(), " ".join(value.split()))
        if block:
            blocks.append(block)
    return blocks


def parse_bytes(raw: bytes, budget: Budget) -> Part:
    """The message in ``raw`` (CRLF or LF line ends) as its top :class:`Part`; never raises."""
    buf = raw.replace(b"\r\n", b"\n") if b"\r" in raw else raw
    budget.take()
    return Part(buf, 0, len(buf), budget)
