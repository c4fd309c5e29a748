"""RFC 8098 message disposition notifications (read receipts).

The reference is the ``Original-Message-ID`` field of the
``message/disposition-notification`` part; failing that, the returned headers.
"""

from __future__ import annotations

from ledger import addresses, msgid
from ledger.check.detectors.base import Finding
from ledger.check.extract import original_references
from ledger.check.message import ParsedMessage, decoded_text

_NOTIFICATION = ("message/disposition-notification", "message/global-disposition-notification")


def _fields(text: str) -> dict[str, str]:
    found: dict[str, str] = {}
    for line in text.replace("\r", "\n").split("\n"):
        name, sep, value = line.partition(":")
        if sep and name.strip():
            found.setdefault(name.strip().lower(), value.strip())
    return found


class MdnDetector:
    name = "mdn"

    def detect(self, message: ParsedMessage) -> Finding | None:
        if message.report_type() != "disposition-notification":
            return None
        refs: list[str] = []
        recipients: list[str] = []
        for _, part in message.parts():
            if part.get_content_type() in _NOTIFICATION:
                fields = _fields(decoded_text(part))
                ref = msgid.normalise(fields.get("original-message-id"))
                if ref and "@" in ref and ref not in refs:
                    refs.append(ref)
                for name in ("original-recipient", "final-recipient"):
                    address = addresses.normalise(fields.get(name, "").split(";", 1)[-1].strip())
                    if address and "@" in address and address not in recipients:
                        recipients.append(address)
        for ref in original_references(message):
            if ref not in refs:
                refs.append(ref)
        return Finding("mdn", tuple(refs), form=True, detector=self.name,
                       recipients_of_original=tuple(recipients))
