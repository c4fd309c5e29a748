"""RFC 3464 delivery status notifications (``multipart/report; report-type=delivery-status``).

Whoever produced it (Postfix, Exim, Exchange, Gmail, Amazon SES, an Amavis
virus notice in DSN form ...), the original travels as a ``message/rfc822``
part (the whole message) or a ``text/rfc822-headers`` part (headers only);
some producers quote the headers in the text part instead. The failed
recipients are the ``Original-Recipient``/``Final-Recipient`` fields. A report
that returns nothing may still name the original in its own ``In-Reply-To``.
"""

from __future__ import annotations

from ledger.check.detectors.base import Finding
from ledger.check.extract import delivery_status_recipients, references_or_reply, text_recipients
from ledger.check.message import ParsedMessage

REPORT_TYPES = ("delivery-status", "delivery-status-16", "global-delivery-status")


class DsnDetector:
    name = "dsn"

    def detect(self, message: ParsedMessage) -> Finding | None:
        if message.report_type() not in REPORT_TYPES:
            return None
        recipients = delivery_status_recipients(message) or text_recipients(message)
        return Finding("dsn", tuple(references_or_reply(message)), form=True, detector=self.name,
                       recipients_of_original=tuple(recipients))
