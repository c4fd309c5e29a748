"""Features of a person's reply or a list's post, which backscatter never has.

Detectors ask these before they claim a form, so a signal that ordinary mail
also carries (a C/R product's header, list headers, "your message" in quoted
text) does not turn a reply or a list post into a refusal:

* a list post carries ``List-Post`` (RFC 2369: the list distributes posts with
  it; its notices about a post, held or rejected, and its subscription
  requests do not), or other ``List-*`` fields while its ``To``/``Cc`` name
  the list, not the recipient (LISTSERV writes no ``List-Post``; a list's
  notice is addressed to the person it concerns);
* a reply or forward has a ``Re:``/``Fwd:``-like subject
  (``patterns.HUMAN_PREFIX``) and quotes what it answers;
* the message's *own* text is what stands before the first quoted line block
  or reply/forward separator: wording quoted from somebody else's message
  is not the message's own claim.

Cost: one header lookup, or one pass over at most ``OWN_TEXT_LIMIT``
characters of text already decoded for the detectors.
"""

from __future__ import annotations

import re

from ledger import addresses
from ledger.check.message import ParsedMessage
from ledger.check.patterns import HUMAN_PREFIX

OWN_TEXT_LIMIT = 16 * 1024

# Where quoted or forwarded text starts: "> ", "On ... wrote:", Outlook's and webmail separators.
# Blanks are [ \t], never \s: \s also takes line ends, and "^\s*" tried at every line start of
# a text of blank lines made the search quadratic (16 KiB of them took seconds).
_QUOTE_START = re.compile(
    r"^[ \t]*>|^[ \t]*on .{0,200}\bwrote:[ \t]*$|^[ \t]*-{2,}[ \t]*(?:original message|forwarded message|"
    r"ursprüngliche nachricht|message d'origine|mensaje original)[ \t]*-{2,}[ \t]*$|"
    r"^[ \t]*begin forwarded message:|^[ \t]*am .{0,120} schrieb .{0,120}:[ \t]*$|"
    r"^[ \t]*le .{0,120} a écrit[ \t]*:[ \t]*$",
    re.IGNORECASE | re.MULTILINE,
)


_LIST_FIELDS = ("List-Id", "List-Unsubscribe", "List-Subscribe", "List-Help", "List-Archive", "List-Owner")


def is_list_post(message: ParsedMessage) -> bool:
    """A post a mailing list distributed, not a list manager's notice (module docstring)."""
    return message.once("list-post", _is_list_post)


def _is_list_post(message: ParsedMessage) -> bool:
    if message.header("List-Post") is not None:
        return True
    if not any(message.header(name) is not None for name in _LIST_FIELDS):
        return False
    named = addresses.from_header(message.decoded_header("To") + ", " + message.decoded_header("Cc"))
    ours = {addresses.normalise(r) for r in message.envelope.recipients}
    return not ours.intersection(named)


def is_reply(message: ParsedMessage) -> bool:
    """A subject of a person's reply or forward (``Re:``, ``Fwd:``, ``AW:`` ..., after a list tag)."""
    return HUMAN_PREFIX.match(message.decoded_header("Subject")) is not None


def own_text(text: str) -> str:
    """The part of ``text`` before the first quoted line or reply/forward separator."""
    text = text[:OWN_TEXT_LIMIT]
    match = _QUOTE_START.search(text)
    return text[: match.start()] if match else text
