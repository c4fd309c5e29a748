"""Any other null-sender message: a non-standard bounce that quotes the original.

RFC 5321 reserves the null reverse-path for notifications, so a null-sender
message that quotes an original's ``Message-ID:`` line is a bounce in form.
Without a quoted header it is only a hint (read receipts, list notices).
"""

from __future__ import annotations

from ledger import msgid
from ledger.check.detectors.base import Finding
from ledger.check.message import ParsedMessage, attached_message
from ledger.check.quoted import header_block_ids


class NullSenderDetector:
    name = "null-sender"

    def detect(self, message: ParsedMessage) -> Finding | None:
        if not message.envelope.null_sender:
            return None
        refs: list[str] = []
        for _, text in message.text_parts():
            for ref in header_block_ids(text):
                if ref not in refs:
                    refs.append(ref)
        for _, part in message.parts():
            inner = attached_message(part) if part.get_content_type() == "message/rfc822" else None
            attached = msgid.normalise(inner.get("Message-ID")) if inner is not None else None
            if attached and attached not in refs:
                refs.append(attached)
        return Finding("bounce", tuple(refs), form=bool(refs), detector=self.name)
