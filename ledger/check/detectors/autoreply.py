"""Automatic replies: vacation and out-of-office notices (RFC 3834 and older habits).

A recognised form is any of the headers auto-responders set:
``Auto-Submitted: auto-replied`` (RFC 3834), ``X-Autoreply``/``X-Autorespond``,
``Precedence: auto_reply``, ``X-Apple-Action`` (Apple's vacation rules) or
Exchange's OOF marker. ``Auto-Submitted: auto-generated`` alone marks
notifications of every sort (cron, ticket systems), and a localised
"Out of office" subject is only a pattern: both may tag, never reject (and on
mail with a real sender, only a weak screen signal, they make it ordinary mail
again unless the ledger knows it: ``ledger.decide.heuristic_only``). On
null-sender mail ``auto-generated`` alone is no autoreply at all: the
null-sender detector judges it.

The reference is ``In-Reply-To``/``References`` (or quoted headers), and
the original went to the replier, the ``From`` of the autoreply.
"""

from __future__ import annotations

from ledger.check.detectors.base import Finding
from ledger.check.extract import answered_references, sender_addresses
from ledger.check.message import ParsedMessage
from ledger.check.patterns import AUTOREPLY_SUBJECT, auto_submitted, is_autoreply_header


def _header_form(message: ParsedMessage) -> tuple[bool, bool]:
    """(auto-replied form, auto-generated hint) from the headers."""
    auto = auto_submitted(message.header("Auto-Submitted"))
    if auto == "auto-replied":
        return True, False
    if any(is_autoreply_header(name, str(value)) for name, value in message.message.items()):
        return True, False
    exchange = message.header("X-MS-Exchange-Inbox-Rules-Loop") or message.header("X-Auto-Response-Suppress")
    subject = message.decoded_header("Subject")
    # Exchange writes "Automatic reply: <subject>" with no list tag in front; notification
    # software sets X-Auto-Response-Suppress too, on subjects like "[Bug 1] Out of office loop".
    if exchange and AUTOREPLY_SUBJECT.search(subject) and not subject.lstrip().startswith("["):
        return True, False
    return False, auto not in ("", "no")


class AutoreplyDetector:
    name = "autoreply"

    def detect(self, message: ParsedMessage) -> Finding | None:
        form, generated = _header_form(message)
        subject_hit = bool(AUTOREPLY_SUBJECT.search(message.decoded_header("Subject")))
        if not (form or generated or subject_hit):
            return None
        if not (form or subject_hit) and message.envelope.null_sender:
            return None  # RFC 3834 auto-generated is no reply: a null-sender notice, not an autoreply
        refs = answered_references(message)
        return Finding("autoreply", tuple(refs), form=form, detector=self.name,
                       recipients_of_original=tuple(sender_addresses(message)))
