"""RFC 3464 delivery status notifications (``multipart/report; report-type=delivery-status``).

The original travels as a ``message/rfc822`` part (the whole message) or a
``text/rfc822-headers`` part (headers only); its Message-ID is the reference.
"""

from __future__ import annotations

import email.message

from ledger import msgid
from ledger.check.detectors.base import Finding
from ledger.check.message import ParsedMessage, attached_message, decoded_text
from ledger.check.quoted import header_block_ids

REPORT_TYPES = ("delivery-status", "delivery-status-16")


def _report_type(part: email.message.Message) -> str:
    return str(part.get_param("report-type", "") or "").lower()


def original_ids(message: ParsedMessage) -> list[str]:
    """IDs of the returned original: message/rfc822 or text/rfc822-headers parts."""
    found: list[str] = []
    for _, part in message.parts():
        ctype = part.get_content_type()
        if ctype in ("message/rfc822", "message/global"):
            inner = attached_message(part)
            if inner is not None:
                ref = msgid.normalise(inner.get("Message-ID"))
                if ref and ref not in found:
                    found.append(ref)
        elif ctype in ("text/rfc822-headers", "message/global-headers"):
            for ref in header_block_ids(decoded_text(part)):
                if ref not in found:
                    found.append(ref)
    return found


class DsnDetector:
    name = "rfc3464"

    def detect(self, message: ParsedMessage) -> Finding | None:
        top = message.message
        if top.get_content_type() != "multipart/report":
            return None
        if _report_type(top) not in REPORT_TYPES:
            return None
        return Finding("dsn", tuple(original_ids(message)), form=True, detector=self.name)
