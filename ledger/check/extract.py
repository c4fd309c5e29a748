"""Walk a parsed candidate for the original: its Message-ID and its recipients.

Structured parts win: a returned ``message/rfc822`` (its own Message-ID) or
``text/rfc822-headers`` part. Only when there is none is the bounce's text
scanned for a quoted header block. A returned message that is itself a
bounce (a bounce of a bounce, a bounce forwarded by a person) is entered in
turn, because the intermediate bounce's ID can never be ours (null-sender
mail is not recorded) while the message inside it may be.
"""

from __future__ import annotations

from ledger import addresses, msgid
from ledger.check import lenient
from ledger.check.message import ParsedMessage, decoded_text, header_text
from ledger.check.mime import Part, field_blocks
from ledger.check.nested import Getter, is_bounce_section, is_report_section, sent_by
from ledger.check.quoted import (
    ORIGINAL_ID_FIELDS,
    header_block_ids,
    labelled_ids,
    labelled_recipients,
    prose,
    recipients_in,
    weak_id,
)

MAX_NESTED_BOUNCES = 3
_ATTACHED = ("message/rfc822", "message/global", "message/rfc822-headers")
_HEADERS_ONLY = ("text/rfc822-headers", "message/global-headers")


def _getter(message: Part) -> Getter:
    return message.get


def is_bounce(message: Part) -> bool:
    """Headers of a bounce or notice (one test for every path: ``nested.is_bounce_section``)."""
    return is_bounce_section(_getter(message), header_text)


def _add(found: list[str], refs: list[str]) -> None:
    for ref in refs:
        if ref not in found:
            found.append(ref)


def _ours(parsed: ParsedMessage) -> list[str]:
    """Our users this message went to: a returned notice they sent is ours (nested.sent_by)."""
    return list(parsed.envelope.recipients)


def _own_ids(message: Part) -> list[str]:
    """A returned message's own Message-ID (weak without "@"), then a rewriting provider's kept one."""
    value = str(message.get("Message-ID") or "")
    ref = msgid.normalise(value)
    found = [ref] if ref and "@" in ref else [weak] if (weak := weak_id(value)) else []
    for name in ORIGINAL_ID_FIELDS:
        kept = msgid.normalise(str(message.get(name) or ""))
        if kept and "@" in kept and kept not in found:
            found.append(kept)
    return found


def _attached_ids(parsed: ParsedMessage, inner: Part, level: int) -> list[str]:
    if is_bounce(inner) and level < MAX_NESTED_BOUNCES:
        found = original_references(parsed, inner, level + 1)
        get = _getter(inner)
        if sent_by(get, _ours(parsed)):  # a bounce of our own notice: it is ours too
            _add(found, [r for r in _own_ids(inner) if "@" in r])
        elif not found and not is_report_section(get, header_text):
            found = [r for r in _own_ids(inner) if "@" in r]  # an Auto-Submitted notice, maybe ours
        return found
    return _own_ids(inner)


def _encoded(part: Part) -> bool:
    return str(part.get("Content-Transfer-Encoding") or "").strip().lower() in ("base64", "quoted-printable")


def structured_references(parsed: ParsedMessage, root: Part | None = None,
                          level: int = 0) -> list[str]:
    """IDs from returned-message parts: message/rfc822 and text/rfc822-headers."""
    found: list[str] = []
    for _, part in parsed.parts(root=root):
        ctype = part.get_content_type()
        if ctype in _ATTACHED and _encoded(part):
            continue  # RFC 2046 forbids it, so the parser left it encoded: lenient.returned_part_ids
        if ctype in _ATTACHED:
            inner = part.attached()
            if inner is not None:
                _add(found, _attached_ids(parsed, inner, level))
            else:
                _add(found, header_block_ids(decoded_text(part), _ours(parsed), weak=True))
        elif ctype in _HEADERS_ONLY:
            _add(found, header_block_ids(decoded_text(part), _ours(parsed), weak=True))
    return found


def quoted_references(parsed: ParsedMessage, root: Part | None = None) -> list[str]:
    """The original's ID from the first text part that quotes a header block.

    Failing that, an ID the notice states on a labelled line of its own words
    ("Message-ID of the message: <...>"), never one from a quoted original's body.
    """
    texts = [text for _, text in parsed.text_parts(root=root)]
    for text in texts:
        refs = header_block_ids(text, _ours(parsed), blocks=parsed.quoted_blocks(text))
        if refs:
            return refs
    for text in texts:
        refs = labelled_ids(prose(text, parsed.quoted_blocks(text))[0])
        if refs:
            return refs
    return []


def original_references(parsed: ParsedMessage, root: Part | None = None,
                        level: int = 0) -> list[str]:
    """The original's Message-ID(s): returned parts first, else quoted text, else the lenient readings."""
    return (structured_references(parsed, root, level) or quoted_references(parsed, root)
            or lenient_references(parsed, root, level))


def lenient_references(parsed: ParsedMessage, root: Part | None = None,
                       level: int = 0) -> list[str]:
    """What the strict path missed in damaged bounces (``ledger.check.lenient``), in this order:
    returned parts read leniently, a multipart re-read with the delimiter it really uses, a
    multipart without delimiters, the section after a marker line."""
    ours = _ours(parsed)
    top = root if root is not None else parsed.message
    found: list[str] = []
    for _, part in parsed.parts(root=root):
        _add(found, lenient.returned_part_ids(part, ours))
        if found:
            return found
    unsplit = (p for _, p in parsed.parts(root=root)
               if p is not top and not p.is_multipart() and p.get_content_maintype() == "multipart")
    multiparts = [top, *unsplit]
    for broken in multiparts:  # a multipart the parser could not split: its payload is text
        again = lenient.redelimited(broken)
        if again is not None and level < MAX_NESTED_BOUNCES:
            found = structured_references(parsed, again, level + 1) or quoted_references(parsed, again)
            for _, part in [] if found else parsed.parts(root=again):
                _add(found, lenient.returned_part_ids(part, ours))
            if found:
                return found
        found = lenient.undelimited_ids(broken, ours)
        if found:
            return found
    for _, text in parsed.text_parts(root=root):
        found = lenient.marker_ids(text, ours)
        if found:
            return found
    return []


def _exclusions(parsed: ParsedMessage) -> frozenset[str]:
    own = set(parsed.from_addresses())
    own.update(addresses.normalise(r) for r in parsed.envelope.recipients)
    own.update(addresses.from_header(parsed.decoded_header("To")))
    return frozenset(own)


def delivery_status_recipients(parsed: ParsedMessage) -> list[str]:
    """Original-Recipient and Final-Recipient of message/delivery-status parts."""
    found: list[str] = []
    for _, part in parsed.parts():
        if part.get_content_type() not in ("message/delivery-status", "message/global-delivery-status"):
            continue
        for block in field_blocks(decoded_text(part))[: parsed.limits.max_parts]:
            for name in ("original-recipient", "final-recipient"):
                norm = addresses.normalise(block.get(name, "").split(";", 1)[-1].strip())
                if norm and "@" in norm and norm not in found:
                    found.append(norm)
    return found


def text_recipients(parsed: ParsedMessage) -> list[str]:
    """Failed recipients named in the bounce's own words (before any quoted original)."""
    exclude = _exclusions(parsed)
    found: list[str] = []
    for part, text in parsed.text_parts():
        if part.get_content_subtype() == "html" and found:
            continue  # the HTML alternative repeats the plain text
        before, after = prose(text, parsed.quoted_blocks(text))
        named = recipients_in(before, exclude) or labelled_recipients(after, exclude)
        _add(found, named)
    return found


def reply_references(parsed: ParsedMessage) -> list[str]:
    """The message replied to: ``In-Reply-To``, else the last ``References`` entry.

    The earlier ``References`` entries are the original's own thread (its
    References), never the original itself.
    """
    refs = msgid.all_in_header(parsed.header("In-Reply-To"))
    if not refs:
        refs = msgid.all_in_header(parsed.header("References"))[-1:]
    return refs


def references_or_reply(parsed: ParsedMessage) -> list[str]:
    """The returned or quoted original's IDs; when the body names none, the bounce's own
    ``In-Reply-To``/``References`` (some gateways and list servers name the original only there)."""
    return original_references(parsed) or reply_references(parsed)


def answered_references(parsed: ParsedMessage) -> list[str]:
    """A reply's references: the message it answers, then any returned or quoted original."""
    refs = reply_references(parsed)
    _add(refs, original_references(parsed))
    return refs


def sender_addresses(parsed: ParsedMessage) -> list[str]:
    """The From (and Reply-To) of a reply: the address the original was sent to."""
    found = parsed.from_addresses()
    for address in addresses.from_header(parsed.decoded_header("Reply-To")):
        if address not in found:
            found.append(address)
    return found
