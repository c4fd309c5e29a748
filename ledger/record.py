"""Record: turn one outgoing message into ledger entries.

Used by the outbound milter and by ``sender-ledger record``; both go through
:meth:`Recorder.record`, so a file recorded by hand is stored exactly as the
milter would have stored it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from redis.client import Pipeline

from ledger import addresses, msgid
from ledger.hashing import EntryHash, Hasher
from ledger.store import Ledger


@dataclass
class SentMessage:
    """What the outbound side knows of a message when it leaves."""

    mail_from: str
    recipients: list[str] = field(default_factory=list)
    message_id: str | None = None
    from_header: str | None = None

    def sender_addresses(self) -> list[str]:
        """Every address a bounce or autoreply of this message may be sent to.

        Bounces go to the envelope sender, autoreplies often to ``From:``.
        """
        found: list[str] = []
        envelope = addresses.normalise(self.mail_from)
        if envelope:
            found.append(envelope)
        for addr in addresses.from_header(self.from_header):
            if addr not in found:
                found.append(addr)
        return found


@dataclass(frozen=True)
class RecordResult:
    message_id: str | None
    entries: tuple[EntryHash, ...]
    reason: str


class Recorder:
    def __init__(self, ledger: Ledger, hasher: Hasher) -> None:
        self.ledger = ledger
        self.hasher = hasher

    def entries(self, sent: SentMessage) -> RecordResult:
        """The entries a message yields, without touching Redis."""
        if not addresses.normalise(sent.mail_from):
            return RecordResult(None, (), "null sender: our own notification, not recorded")
        normalised = msgid.normalise(sent.message_id)
        if not normalised:
            return RecordResult(None, (), "no usable Message-ID")
        senders = sent.sender_addresses()
        entries = tuple(self.hasher.message(normalised, s) for s in senders)
        return RecordResult(normalised, entries, f"recorded for {len(senders)} sender address(es)")

    def record(self, sent: SentMessage, extra: Callable[[Pipeline], object] | None = None) -> RecordResult:
        """Store the message's entries. Raises :class:`ledger.store.LedgerUnavailable`.

        ``extra`` rides in the same round trip (see :meth:`Ledger.record`); it
        is only called when there is something to record.
        """
        result = self.entries(sent)
        if result.entries:
            self.ledger.record(result.entries, recipients=max(1, len(sent.recipients)), extra=extra)
        return result
