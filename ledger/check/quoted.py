"""Find the original's header block (and its Message-ID) in quoted text.

Bounces quote the original's header block in a ``text/rfc822-headers`` part
or inline in a text part, and real MTAs do that untidily: indented, ``> ``
quoted, folded over two lines, with HTML-escaped brackets (sometimes escaped
twice), CRLF and LF mixed. The text is split into *header blocks* (runs of
``Name: value`` lines with their continuation lines, sharing one quote
prefix, ended by a blank line), and only the Message-ID field of the first
block that looks like a whole message header counts: the original's body,
its ``In-Reply-To``/``References`` and a forwarded bounce's own header block
never give a reference.
"""

from __future__ import annotations

import html
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

from ledger import addresses, msgid
from ledger.check.mime import header_text
from ledger.check.nested import is_bounce_section, is_report_section, sent_by
from ledger.check.patterns import is_daemon_localpart

MAX_LINES = 20000
MAX_LINE = 2000

_HEADER = re.compile(r"(?P<name>[A-Za-z][A-Za-z0-9_-]{0,60})[ \t]*:[ \t]*(?P<value>.*)")
_QUOTE = re.compile(r"[ \t]*(?:[>|][ \t]?)*")
_QUOTE_STARTS = frozenset(" \t>|")
# Fields that only a message header has (a prose "Subject: x / Sent: y" block has none).
_MESSAGE_FIELDS = frozenset({"received", "message-id", "return-path", "mime-version", "dkim-signature",
                             "x-mailer", "user-agent", "content-type", "authentication-results"})



_ORIGINAL_FIELDS = _MESSAGE_FIELDS | {"from", "to", "cc", "subject", "date", "sender", "reply-to"}
# Fields in which a provider that rewrites the Message-ID keeps the one our outbound side saw
# (Exchange Online / Outlook.com as a smarthost: README, "Rewritten Message-IDs").
ORIGINAL_ID_FIELDS = ("x-microsoft-original-message-id",)
# A Message-ID without "@" (old or broken software: "Message-ID: 20140913142357") is taken only
# from the Message-ID field of a returned header section, and only in this shape: one token,
# long enough not to be a counter. It is a *weak* reference (docs/policy.md, "Weak references").
_WEAK_ID = re.compile(r"[a-z0-9][a-z0-9._$%+=/-]{7,250}")


def weak_id(value: str | None) -> str | None:
    """The normalised ID of a Message-ID field value without "@", if it has the accepted shape
    (one token: words with spaces between them are no ID)."""
    if not value or len(value.strip().strip("<>").split()) != 1:
        return None
    normalised = msgid.normalise(value)
    if normalised and "@" not in normalised and _WEAK_ID.fullmatch(normalised):
        return normalised
    return None


def unescape(text: str) -> str:
    """Undo HTML escaping, twice if need be (``&amp;lt;`` occurs in real NDRs)."""
    for _ in range(2):
        if "&" not in text:
            break
        text = html.unescape(text)
    return text


@dataclass
class HeaderBlock:
    """One quoted header block: lower-cased field names with unfolded values, in order."""

    fields: list[tuple[str, str]] = field(default_factory=list)
    start: int = 0  # line number of its first line
    end: int = 0  # line number after its last line

    def get(self, name: str) -> str | None:
        for fname, value in self.fields:
            if fname == name:
                return value
        return None

    @property
    def names(self) -> set[str]:
        return {name for name, _ in self.fields}

    def is_message_header(self) -> bool:
        """A whole message header, not a prose list of two labelled lines."""
        names = self.names
        if "message-id" in names:  # a lone "Message-ID:" line may be anybody's words
            return len(names & _ORIGINAL_FIELDS) >= 2
        return "from" in names and bool(names & (_MESSAGE_FIELDS | {"date"}))

    def is_bounce_header(self) -> bool:
        """The header of a bounce (quoted by a bounce of a bounce, or forwarded by a person)."""
        return is_bounce_section(self.get, header_text)

    def is_report_header(self) -> bool:
        """The header of a delivery report (nested.is_report_section): its ID is never the original."""
        return is_report_section(self.get, header_text)

    def sent_by(self, ours: Iterable[str]) -> bool:
        """Sent from one of ``ours`` (a non-null address): see nested.sent_by."""
        return sent_by(self.get, ours)

    def message_id(self) -> str | None:
        value = self.get("message-id")
        normalised = msgid.normalise(value) if value else None
        return normalised if normalised and "@" in normalised else None

    def references(self, weak: bool = False) -> list[str]:
        """The section's own IDs: its Message-ID (``weak``: also one without "@"), then any
        original Message-ID a rewriting provider kept (:data:`ORIGINAL_ID_FIELDS`)."""
        found: list[str] = []
        ref = self.message_id() or (weak_id(self.get("message-id")) if weak else None)
        if ref:
            found.append(ref)
        for name in ORIGINAL_ID_FIELDS:
            kept = msgid.normalise(self.get(name) or "")
            if kept and "@" in kept and kept not in found:
                found.append(kept)
        return found


def lines_of(text: str, most: int = MAX_LINES) -> list[str]:
    """Text as lines: CR, LF and CRLF all end a line; at most ``most`` of them, each bounded."""
    text = text.replace("\r\n", "\n").replace("\r", "\n").replace("\xa0", " ")
    return [line[:MAX_LINE] for line in text.split("\n", most)[:most]]


def header_blocks(text: str) -> Iterator[HeaderBlock]:
    """Every quoted header block of ``text`` with at least one field, in order."""
    lines = lines_of(unescape(text))
    block: HeaderBlock | None = None
    depth = indent = 0
    quote_match, field_match = _QUOTE.match, _HEADER.fullmatch
    for number, line in enumerate(lines):
        if line[:1] in _QUOTE_STARTS:
            prefix = quote_match(line).group(0)  # type: ignore[union-attr]  # matches any text
            rest = line[len(prefix):]
            level = prefix.count(">") + prefix.count("|")
            lead = len(prefix) - len(prefix.rstrip(" \t")) if level else len(prefix)
        else:  # the common line: no indentation, no quote marks
            rest, level, lead = line, 0, 0
        if block is None and ":" not in rest:
            continue  # no field, and no block it could continue
        if block is not None and level == depth and rest and block.fields and (
            lead > indent or (lead == indent and rest[:1] in " \t")
            or (not block.fields[-1][1] and not field_match(rest))
        ):
            name, value = block.fields[-1]
            block.fields[-1] = (name, value + " " + rest.strip())
            block.end = number + 1
            continue
        match = field_match(rest) if rest else None
        if match and (block is None or (level == depth and lead == indent)):
            if block is None:
                block = HeaderBlock(start=number)
                depth, indent = level, lead
            block.fields.append((match.group("name").lower(), match.group("value").strip()))
            block.end = number + 1
            continue
        if block is not None:
            yield block
            block = None
        if match:  # a header line at another quote level starts a new block
            block = HeaderBlock(start=number, end=number + 1)
            depth, indent = level, lead
            block.fields.append((match.group("name").lower(), match.group("value").strip()))
    if block is not None:
        yield block


def original_block(text: str, blocks: Iterable[HeaderBlock] | None = None) -> HeaderBlock | None:
    """The first quoted whole-message header block that is not itself a bounce's
    (``blocks``: the text's :func:`header_blocks`, when the caller has them already)."""
    for block in header_blocks(text) if blocks is None else blocks:
        if block.is_message_header() and not block.is_bounce_header():
            return block
    return None


def header_block_ids(text: str, ours: Iterable[str] = (), weak: bool = False,
                     blocks: Iterable[HeaderBlock] | None = None) -> list[str]:
    """The original's Message-ID(s) from quoted header text (empty list if none).

    The first whole-message block that is not a bounce's gives them. A
    bounce's block before it is skipped, unless it was sent from one of
    ``ours`` (a bounce of our own notice): then its ID counts too; an
    ``Auto-Submitted`` notice's block (no report) gives its own ID when no
    original block follows. ``weak``
    admits a Message-ID without "@" (only for a returned header section).
    """
    found: list[str] = []
    notice: list[str] = []  # an Auto-Submitted notice's own IDs, if nothing is found after it
    for block in header_blocks(text) if blocks is None else blocks:
        if not block.is_message_header():
            continue
        if block.is_bounce_header():
            if ours and block.sent_by(ours):
                found.extend(r for r in block.references() if r not in found)
            elif not block.is_report_header() and not notice:
                notice = block.references()
            continue
        found.extend(r for r in block.references(weak) if r not in found)
        break
    return found or notice


# "Message-ID of the message: <...>", "Original Message-ID: <...>", "The message ID was <...>":
# a bare "Message-ID:" line is not enough (the original's body may hold one).
_LABELLED_ID = re.compile(
    r"^[ \t>|]*(?:x-)?(?:the[ \t]+)?(?:(?:original[- ]?)message[- ]?id|message[- ]?id[ \t]+of[ \t]+"
    r"(?:the|your)[ \t]+(?:original[ \t]+)?(?:message|e-?mail)|(?:the[ \t]+)?message[- ]?id[ \t]+was)"
    r"[ \t]*(?:was|is|:|=)?[ \t]*"
    r"(?P<id><[^<>\s]{1,500}@[^<>\s]{1,300}>)",
    re.IGNORECASE | re.MULTILINE,
)


def labelled_ids(text: str) -> list[str]:
    """IDs a notice states on a labelled line of its own words (no header block)."""
    found: list[str] = []
    for match in _LABELLED_ID.finditer(unescape(text)):
        ref = msgid.normalise(match.group("id"))
        if ref and "@" in ref and ref not in found:
            found.append(ref)
    return found


def prose(text: str, blocks: Iterable[HeaderBlock] | None = None) -> tuple[str, str]:
    """(the text before the original's quoted header block, the text after it).

    The first is the bounce's own words; the second is the original's body in
    most formats, but the rest of the report in some (Oracle's header excerpt
    comes first), so only labelled recipient fields are taken from it.
    """
    block = original_block(text, blocks)
    if block is None:
        return text, ""
    lines = lines_of(unescape(text))
    return "\n".join(lines[: block.start]), "\n".join(lines[block.end: block.end + 40])


_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,62}[A-Za-z0-9])?"
_ADDR = rf"(?<![^\s<(\[\"':;,=])[^\s<>()\[\]\",;:@]{{1,64}}@{_LABEL}(?:\.{_LABEL})+"
_RECIPIENT_LINES = tuple(re.compile(p, re.IGNORECASE) for p in (
    # qmail, Postfix, Yahoo, Courier: "<bob@example.com>: ..."; Sendmail: "<bob@...>... User unknown"
    rf"^<(?P<a>{_ADDR})>(?::|\.\.\.|\s*$|\s*\()",
    # OpenSMTPD, Exim filter: "bob@example.com: 550 ..."
    rf"^(?P<a>{_ADDR}):\s",
    # an address alone on its line (Exim, Gmail, Exchange, Lotus Notes), maybe with a name or a date
    rf"^(?:\"?[^\"<>:@()]{{0,60}}\"?\s*)?[<(\[]?(?P<a>{_ADDR})[>)\]]?(?:\s*[<(\[]{_ADDR}[>)\]])?"
    r"(?:\s+on\s.{0,60})?\s*[.,]?$",
    # Amavis: "-> bob@example.com"
    rf"^-+>\s*<?(?P<a>{_ADDR})>?",
    # a notice's summary of the original: "To: bob@example.com" on its own line
    rf"^to:\s*<?(?P<a>{_ADDR})>?\s*$",
    # Sendmail: "550 5.1.1 <bob@example.com>... User unknown" (V5: "550 bob@example.com... ")
    rf"^\d{{3}}[ -](?:\d\.\d{{1,3}}\.\d{{1,3}}\s+)?<?(?P<a>{_ADDR})>?\.\.\.",
))
_RECIPIENT_PHRASES = re.compile(
    r"(?:original-recipient|final-recipient|(?:original )?recipient(?:\(s\)|s)?"
    r"(?: of the (?:original )?(?:message|e-?mail))?(?: address(?:es)?)?|unknown user|"
    r"user unknown|invalid recipient|destinataire|empf[äa]nger|destinatario|ontvanger|mottagare|"
    r"message to|delivered to|delivery to|addressed to|failed for|rejected for|undeliverable to|"
    r"following (?:recipient|address)(?:\(?e?s\)?)?)"
    rf"\s*:?\s*(?:rfc822\s*;\s*)?[<(\[]?(?P<a>{_ADDR})",
    re.IGNORECASE,
)


_LABELLED = re.compile(rf"^[ \t]*(?:recipient address|original-recipient|final-recipient)[ \t]*:[ \t]*"
                       rf"(?:rfc822\s*;\s*)?<?(?P<a>{_ADDR})", re.IGNORECASE | re.MULTILINE)


def labelled_recipients(text: str, exclude: frozenset[str] = frozenset()) -> list[str]:
    """Only "Recipient address: ..."-style fields (for text after a quoted header excerpt)."""
    found: list[str] = []
    for match in _LABELLED.finditer(text):
        norm = addresses.normalise(match.group("a"))
        if norm not in exclude and norm not in found:
            found.append(norm)
    return found


def recipients_in(text: str, exclude: frozenset[str] = frozenset()) -> list[str]:
    """Addresses a bounce's prose names as the failed recipients of the original, in order."""
    found: list[str] = []

    def add(address: str) -> None:
        norm = addresses.normalise(address.rstrip("."))
        if (norm and "@" in norm and norm not in exclude and norm not in found
                and not is_daemon_localpart(addresses.local_part(norm))):
            found.append(norm)

    for line in lines_of(text):
        quote = _QUOTE.match(line)
        stripped = line[quote.end() if quote else 0:].strip()
        if "@" not in stripped:
            continue
        for pattern in _RECIPIENT_LINES:
            match = pattern.search(stripped)
            if match:
                add(match.group("a"))
                break
        for match in _RECIPIENT_PHRASES.finditer(stripped):
            add(match.group("a"))
    return found
