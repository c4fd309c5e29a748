"""RFC 5965 abuse feedback reports (``multipart/report; report-type=feedback-report``).

A mailbox provider's complaint loop returns the reported message as a
``message/rfc822`` or ``text/rfc822-headers`` part; its Message-ID is the
reference. The reporting address is not the original's recipient (reports
are redacted), so no recipient is claimed.
"""

from __future__ import annotations

from ledger.check.detectors.base import Finding
from ledger.check.extract import original_references
from ledger.check.message import ParsedMessage


class ArfDetector:
    name = "arf"

    def detect(self, message: ParsedMessage) -> Finding | None:
        if message.report_type() != "feedback-report":
            return None
        return Finding("arf", tuple(original_references(message)), form=True, detector=self.name)
