"""Trusted relays: did the returned original leave through one of the named relays?

The idea of SpamAssassin's ``welcomelist_bounce_relays``, as its documentation
describes it: list the relays your outbound mail leaves through, and a bounce
whose returned original shows one of them in a ``Received`` field is a bounce
of mail you really sent. Written here from that description.

What is read: only the **returned original's header section** (a returned
``message/rfc822`` part's header, a ``text/rfc822-headers`` part, else the
first quoted whole-message header block of a text part: the same places
``ledger.check.extract`` takes the original's Message-ID from). Never the
bounce's own ``Received`` chain (it shows our own MX receiving the bounce),
never the returned body. A ``Received`` field names the relay when its
``from`` clause does (the next hop received the message from it: the host
name, the reverse name or IP literal in the comment) or its ``by`` clause
does (the relay itself received it).

Forgery: the sender of a forged message writes every header of it, the
``Received`` lines included, and a bouncing MTA returns them as they were. A
spammer who knows the relay's name can write ``Received: from x by
relay.example.org`` into the forgery, so a match is evidence, not proof. It is
meant for relays whose mail the ledger cannot see, and by default it only
turns a refusal into a tag (``[inbound.exceptions] relay_action``).

Cost: bounded by the parse limits of the message plus :data:`MAX_RECEIVED`
fields of at most :data:`MAX_FIELD` characters each; nothing here runs unless
trusted relays are configured.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from ledger.check.message import ParsedMessage, attached_message, decoded_text
from ledger.check.quoted import original_block
from ledger.exceptions import RelayList

MAX_RECEIVED = 64
MAX_FIELD = 2000

_ATTACHED = ("message/rfc822", "message/global")
_HEADERS_ONLY = ("text/rfc822-headers", "message/rfc822-headers", "message/global-headers")
_WS = re.compile(r"\s+")
# "from <clause> by <host>"; the clause runs up to " by ", " with ", " id ", " for " or ";".
_FROM = re.compile(r"(?:^|\s)from\s+(?P<clause>.*?)(?=\s(?:by|with|id|for|via)\s|;|$)", re.I)
_BY = re.compile(r"(?:^|\s)by\s+(?P<host>[^\s;()\[\]]+)", re.I)
_IP_LITERAL = re.compile(r"\[(?P<ip>(?:IPv6:)?[0-9A-Fa-f:.]+)\]")
_TOKEN = re.compile(r"[^\s()\[\]<>;,=]+")


def returned_fields(parsed: ParsedMessage) -> list[tuple[str, str]]:
    """The returned original's header fields as (lower-case name, unfolded value); [] if none.

    A returned part wins; failing that, the first quoted whole-message header block of the
    bounce's own text (``quoted.original_block``), never a block from the returned body.
    """
    for _, part in parsed.parts():
        ctype = part.get_content_type()
        if ctype in _ATTACHED:
            inner = attached_message(part)
            if inner is not None:
                return [(str(name).lower(), _WS.sub(" ", str(value)).strip())
                        for name, value in inner.items()]
        if ctype in _HEADERS_ONLY or (ctype in _ATTACHED and not part.is_multipart()):
            block = original_block(decoded_text(part))
            if block is not None:
                return list(block.fields)
    for _, text in parsed.text_parts():
        block = original_block(text)
        if block is not None:
            return list(block.fields)
    return []


def _names_relay(value: str, relays: RelayList) -> bool:
    """One Received value names a relay in its ``from`` or ``by`` clause."""
    value = value[:MAX_FIELD]
    by = _BY.search(value)
    if by is not None and (relays.host(by.group("host")) or relays.address(by.group("host").strip("[]"))):
        return True
    source = _FROM.search(value)
    if source is None:
        return False
    clause = source.group("clause")
    if any(relays.address(m.group("ip")) for m in _IP_LITERAL.finditer(clause)):
        return True
    return any(relays.host(token) or relays.address(token) for token in _TOKEN.findall(clause))


def left_through(fields: Sequence[tuple[str, str]], relays: RelayList) -> bool:
    """True when a ``Received`` field of the returned header ``fields`` names one of ``relays``."""
    if not relays:
        return False
    received = [value for name, value in fields if name.lower() == "received"]
    return any(_names_relay(value, relays) for value in received[:MAX_RECEIVED])


def trusted_relay(parsed: ParsedMessage, relays: RelayList) -> bool:
    """The returned original of ``parsed`` left through one of ``relays`` (False when none is set)."""
    return bool(relays) and left_through(returned_fields(parsed), relays)
