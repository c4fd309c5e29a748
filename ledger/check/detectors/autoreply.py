"""RFC 3834 automatic responses: vacation notices and other autoreplies.

An autoreply names the message it answers in ``In-Reply-To`` and
``References``; the last ``References`` entry is the message replied to.
"""

from __future__ import annotations

from ledger import msgid
from ledger.check.detectors.base import Finding
from ledger.check.message import ParsedMessage


def reply_references(message: ParsedMessage) -> list[str]:
    """In-Reply-To first, then References newest first."""
    refs = msgid.all_in_header(message.header("In-Reply-To"))
    for ref in reversed(msgid.all_in_header(message.header("References"))):
        if ref not in refs:
            refs.append(ref)
    return refs


class AutoreplyDetector:
    name = "rfc3834"

    def detect(self, message: ParsedMessage) -> Finding | None:
        value = (message.header("Auto-Submitted") or "").split(";")[0].strip().lower()
        if value in ("", "no"):
            return None
        # auto-replied is a recognised form; auto-generated alone (notifications,
        # cron mail) is only a hint.
        return Finding(
            "autoreply",
            tuple(reply_references(message)),
            form=value == "auto-replied",
            detector=self.name,
        )
