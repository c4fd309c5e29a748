"""RFC 8098 message disposition notifications (read receipts).

The reference is the ``Original-Message-ID`` field of the
``message/disposition-notification`` part; failing that, the returned headers.
"""

from __future__ import annotations

import email

from ledger import msgid
from ledger.check.detectors.base import Finding
from ledger.check.detectors.dsn import original_ids
from ledger.check.message import ParsedMessage, decoded_text


class MdnDetector:
    name = "rfc8098"

    def detect(self, message: ParsedMessage) -> Finding | None:
        top = message.message
        if top.get_content_type() != "multipart/report":
            return None
        if str(top.get_param("report-type", "") or "").lower() != "disposition-notification":
            return None
        refs: list[str] = []
        for _, part in message.parts():
            if part.get_content_type() in (
                "message/disposition-notification",
                "message/global-disposition-notification",
            ):
                fields = email.message_from_string(decoded_text(part).lstrip())
                ref = msgid.normalise(fields.get("Original-Message-ID"))
                if ref and ref not in refs:
                    refs.append(ref)
        for ref in original_ids(message):
            if ref not in refs:
                refs.append(ref)
        return Finding("mdn", tuple(refs), form=True, detector=self.name)
