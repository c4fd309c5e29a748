"""A bounded view of a received message for the detectors.

Parsing is the one place where hostile input meets our code, so everything
here is capped: how many bytes are parsed, how many MIME parts (and so how
deep they nest) the parser may build, how much decoded text a part may yield,
and how long the detectors may spend. A message past a limit is examined on
what was read, and *why* the reading stopped is kept (:class:`Cut`): the
decision never gives a cut reading a milder answer than an unmatched
reference, because the sender chooses the size and shape of what we read.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from enum import Enum
from typing import TypeVar, cast

from ledger import addresses, msgid
from ledger.check.mime import DECODE_CHARS, Budget, Part, header_text, parse_bytes
from ledger.check.quoted import HeaderBlock, header_blocks

T = TypeVar("T")

MAX_DEPTH = 8
MAX_PARTS = 64
MAX_TEXT_CHARS = 256 * 1024
PARSE_SECONDS = 0.5

_HTML_DROP = re.compile(r"(?is)<(style|script|head)\b.*?</\1\s*>|<!--.*?-->")
_HTML_BREAK = re.compile(r"(?i)<(?:br|/p|/div|/tr|/li|/h[1-6]|/pre|/table|p|div|tr|pre)\b[^<>]{0,500}>")
_HTML_PRE = re.compile(r"(?is)(<pre\b.*?</pre\s*>)")
# (?<![ \t]): only the first blank of a run may start a match (else a long run of blanks
# without a line end is rescanned from each of its positions: quadratic).
_SOURCE_BREAK = re.compile(r"(?<![ \t])[ \t]*\r?\n[ \t]*")
_LINE_START_SPACE = re.compile(r"\n[ \t]+(?=\S)")
_HTML_TAG = re.compile(r"</?[a-zA-Z][a-zA-Z0-9:-]{0,30}(?:\s[^<>]{0,2000})?/?>")


class Cut(Enum):
    """Why the reading of a candidate stopped before its end (the value is for reasons).

    The attacker writes the returned original, so a read limit is a lever:
    a cut reading must never earn a milder answer than an unmatched
    reference. The time budget and a failing detector are our own side's
    doing (:attr:`ours`): those answer tempfail, never reject.
    """

    BYTES = "byte cap"
    PARTS = "MIME part limit"
    DEPTH = "MIME depth limit"
    TIME = "time budget spent"
    FAILED = "a detector failed"

    @property
    def ours(self) -> bool:
        return self in (Cut.TIME, Cut.FAILED)


@dataclass(frozen=True)
class Limits:
    """How much of a candidate is read and parsed, and for how long."""

    max_bytes: int = 128 * 1024
    max_depth: int = MAX_DEPTH
    max_parts: int = MAX_PARTS
    parse_seconds: float = PARSE_SECONDS


@dataclass
class Envelope:
    """The SMTP envelope and connection facts of one received message."""

    mail_from: str = ""
    recipients: list[str] = field(default_factory=list)
    client: str = ""
    queue_id: str = ""

    @property
    def null_sender(self) -> bool:
        return self.mail_from in ("", "<>")


def _charset(part: Part) -> str:
    charset = part.get_content_charset() or "utf-8"
    try:
        "".encode(charset)
    except (LookupError, ValueError, TypeError):
        return "latin-1"
    return charset


def decoded_text(part: Part, limit: int = MAX_TEXT_CHARS) -> str:
    """The part's content as text: transfer-decoded, charset-decoded, capped.

    A ``message/*`` part (a returned message, a delivery-status block) comes
    back as the text it holds, header fields included.
    """
    return part.decoded()[: limit * 2].decode(_charset(part), "replace")[:limit]


def html_to_text(html_text: str) -> str:
    """Tags out, rendered line breaks kept; entities stay escaped (quoted.unescape undoes them).

    Source line breaks are white space in HTML (except inside ``<pre>``), and
    white space after a ``<br>`` is not rendered: a folded header shows its
    indentation as ``&nbsp;``, which survives.
    """
    text = _HTML_DROP.sub(" ", html_text)
    segments = _HTML_PRE.split(text)
    for index in range(0, len(segments), 2):
        segments[index] = _SOURCE_BREAK.sub(" ", segments[index])
    text = _HTML_BREAK.sub("\n", "".join(segments))
    text = _HTML_TAG.sub("", text)
    return _LINE_START_SPACE.sub("\n", text)


def part_text(part: Part) -> str:
    """A text part as plain text: HTML is reduced to its text, line breaks kept."""
    text = decoded_text(part)
    if part.get_content_subtype() == "html":
        text = html_to_text(text)
    return text


def attached_message(part: Part) -> Part | None:
    """The message inside a ``message/rfc822`` (or ``message/global``) part."""
    return part.attached()


@dataclass
class ParsedMessage:
    """A received message, parsed within bounds, with helpers for detectors."""

    message: Part
    envelope: Envelope
    truncated: bool = False
    cut: Cut | None = None  # why ``truncated`` (our own side's causes win over read limits)
    limits: Limits = field(default_factory=Limits)
    deadline: float = field(default_factory=lambda: time.monotonic() + PARSE_SECONDS)
    _text: str | None = field(default=None, repr=False)
    _lower: str | None = field(default=None, repr=False)
    _texts: list[tuple[Part, str]] | None = field(default=None, repr=False)
    _from: list[str] | None = field(default=None, repr=False)
    _parts: list[tuple[int, Part]] | None = field(default=None, repr=False)
    _decoded: dict[str, str] = field(default_factory=dict, repr=False)
    _blocks: dict[str, tuple[HeaderBlock, ...]] = field(default_factory=dict, repr=False)
    _memo: dict[str, object] = field(default_factory=dict, repr=False)

    @property
    def own_id(self) -> str | None:
        """The bounce's own Message-ID: never a reference to the original."""
        return msgid.normalise(self.header("Message-ID"))

    def header(self, name: str) -> str | None:
        return self.message.get(name)

    def decoded_header(self, name: str) -> str:
        """The header decoded once per message (several detectors ask for the same ones)."""
        key = name.lower()
        cached = self._decoded.get(key)
        if cached is None:
            cached = self._decoded[key] = header_text(self.message.get(name))
        return cached

    @property
    def content_type(self) -> str:
        return self.message.get_content_type()

    def report_type(self) -> str | None:
        """The ``report-type`` of a ``multipart/report`` message (RFC 6522), lower-cased;
        None for a message of any other type (the DSN, MDN and ARF detectors ask it)."""
        if self.message.get_content_type() != "multipart/report":
            return None
        return self.message.get_param("report-type").strip().lower()

    def mark_cut(self, cut: Cut) -> None:
        """Note that the reading stopped short, and why (the first cause of our own wins)."""
        self.truncated = True
        if self.cut is None or (cut.ours and not self.cut.ours):
            self.cut = cut

    def expired(self) -> bool:
        """True once the time bound is spent; detectors then stop where they are."""
        if time.monotonic() > self.deadline:
            self.mark_cut(Cut.TIME)
            return True
        return False

    def parts(self, into_attached: bool = False,
              root: Part | None = None) -> Iterator[tuple[int, Part]]:
        """(depth, part) for every MIME part, depth-first, within the caps.

        An attached message (``message/rfc822``) is yielded but not entered
        unless ``into_attached``: the original's own body and headers are
        not the bounce's words. The bounce's own parts are walked once and
        remembered (every detector asks for them).
        """
        if root is None and not into_attached:
            if self._parts is None:
                self._parts = list(self._walk(False, self.message))
            return iter(self._parts)
        return self._walk(into_attached, root or self.message)

    def _walk(self, into_attached: bool, root: Part) -> Iterator[tuple[int, Part]]:
        stack: list[tuple[int, Part]] = [(0, root)]
        seen = 0
        while stack and not self.expired():
            if seen >= self.limits.max_parts:
                self.mark_cut(Cut.PARTS)
                break
            depth, part = stack.pop()
            seen += 1
            yield depth, part
            maintype = part.get_content_maintype()
            if maintype != "multipart" and maintype != "message":
                continue
            if depth >= self.limits.max_depth:
                self.mark_cut(Cut.DEPTH)  # decided on what was read above this depth
                continue
            if maintype == "message" and not into_attached:
                continue
            children = part.children()
            self.note_limits()
            stack.extend((depth + 1, child) for child in reversed(children))

    def note_limits(self) -> None:
        """Take over what the parts made so far ran out of (parts or depth) as the cut."""
        budget = self.message.budget
        if budget.parts_out:
            self.mark_cut(Cut.PARTS)
        if budget.depth_out:
            self.mark_cut(Cut.DEPTH)

    def text_parts(self, root: Part | None = None
                   ) -> list[tuple[Part, str]]:
        """Every text/* part of the bounce itself with its text (HTML reduced to text).

        Several detectors read them; for the message itself they are decoded once.
        """
        if root is None and self._texts is not None:
            return self._texts
        texts = [(part, part_text(part)) for _, part in self.parts(root=root)
                 if part.get_content_maintype() == "text" and part.get_content_subtype() != "rfc822-headers"]
        if root is None:
            self._texts = texts
        return texts

    def once(self, key: str, compute: Callable[[ParsedMessage], T]) -> T:
        """``compute(self)``, computed once per message: several detectors ask the same
        questions (is it a list post, which producer's wording it carries)."""
        if key not in self._memo:
            self._memo[key] = compute(self)
        return cast(T, self._memo[key])

    def quoted_blocks(self, text: str) -> tuple[HeaderBlock, ...]:
        """The quoted header blocks of one of this message's texts (``quoted.header_blocks``),
        split once: the reference search and the recipient search both read them."""
        found = self._blocks.get(text)
        if found is None:
            found = self._blocks[text] = tuple(header_blocks(text))
        return found

    def from_addresses(self) -> list[str]:
        """The normalised addresses of the ``From:`` header (parsed once)."""
        if self._from is None:
            self._from = addresses.from_header(self.decoded_header("From"))
        return list(self._from)


    def body_text(self, limit: int = 64 * 1024) -> str:
        """The bounce's own text parts joined (HTML reduced), capped; computed once.

        Detectors search it for their marker lines; the attached original is
        not in it.
        """
        if self._text is None:
            texts: list[str] = []
            size = 0
            for _, text in self.text_parts():
                texts.append(text[: limit - size])
                size += len(texts[-1])
                if size >= limit:
                    break
            self._text = "\n".join(texts)
        return self._text


    def body_lower(self) -> str:
        """:meth:`body_text` lower-cased once, for the marker tables (patterns.lowered)."""
        if self._lower is None:
            self._lower = self.body_text().lower()
        return self._lower


def parse(raw: bytes, envelope: Envelope | None = None, max_bytes: int | None = None,
          limits: Limits | None = None) -> ParsedMessage:
    """Parse a bounded prefix of a message (``ledger.check.mime``). Never raises on bad input.

    Parts are made as the detectors walk into them, within the part and
    depth limits; a limit reached is a cut (:class:`Cut`) of the reading.
    """
    limits = limits or Limits()
    if max_bytes is not None:
        limits = Limits(max_bytes, limits.max_depth, limits.max_parts, limits.parse_seconds)
    started = time.monotonic()
    cut = Cut.BYTES if len(raw) > limits.max_bytes else None
    budget = Budget(limits.max_parts, limits.max_depth)
    try:
        message = parse_bytes(raw[: limits.max_bytes], budget)
    except Exception:  # a bug meeting bad input: read nothing (our fault, never a refusal)
        message = parse_bytes(b"", budget)
        cut = Cut.FAILED
    parsed = ParsedMessage(message=message, envelope=envelope or Envelope(),
                           limits=limits, deadline=started + limits.parse_seconds)
    if cut is not None:
        parsed.mark_cut(cut)
    return parsed


__all__ = ["DECODE_CHARS", "Cut", "Envelope", "Limits", "ParsedMessage", "Part", "attached_message",
           "decoded_text", "header_text", "html_to_text", "parse", "part_text"]
