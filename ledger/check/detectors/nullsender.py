"""Any other null-sender message: a bounce in a wording no table knows.

RFC 5321 reserves the null reverse-path for notifications, so a null-sender
message that returns or quotes an original's header block is a bounce in
form. Without one it is only a hint (list notices, unknown report formats),
which may tag but never reject: that holds for a notice naming its original
only in its own ``In-Reply-To``/``References`` (a gateway's status notice)
too, which a ledger match accepts and anything else at most tags.
"""

from __future__ import annotations

from ledger.check.detectors.base import Finding
from ledger.check.extract import original_references, reply_references, text_recipients
from ledger.check.message import ParsedMessage


class NullSenderDetector:
    name = "null-sender"

    def detect(self, message: ParsedMessage) -> Finding | None:
        if not message.envelope.null_sender:
            return None
        refs = original_references(message)
        form = bool(refs)
        refs = refs or reply_references(message)
        recipients = text_recipients(message) if refs else []
        return Finding("bounce", tuple(refs), form=form, detector=self.name,
                       recipients_of_original=tuple(recipients))
