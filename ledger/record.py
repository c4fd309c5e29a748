"""Record: turn one outgoing message into ledger entries.

Used by the outbound milter and by ``sender-ledger record``; both go through
:meth:`Recorder.record`, so a file recorded by hand is stored exactly as the
milter would have stored it. A recorder given a spool (the milter's) never
loses a record to a ledger outage: what Redis cannot take is spooled, hashed,
and replayed later (ledger/spool.py, ledger/drain.py).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

from ledger import addresses, msgid
from ledger.days import today
from ledger.errors import LedgerUnavailable
from ledger.hashing import MESSAGE, PAIR, EntryHash, Hasher
from ledger.spool import Batch, Spool, SpoolError
from ledger.store import Ledger
from ledger.trip import RoundTrip


@dataclass
class SentMessage:
    """What the outbound side knows of a message when it leaves."""

    mail_from: str
    recipients: list[str] = field(default_factory=list)
    message_id: str | None = None
    from_header: str | None = None
    # The delimiters of a Postfix XVERP request (MAIL FROM ... XVERP[=+=]): the MTA then
    # sends each recipient's copy with its own envelope sender (addresses.verp).
    verp: str | None = None

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

    def verp_senders(self) -> list[tuple[str, str]]:
        """(VERP envelope sender, its recipient) for each recipient of an XVERP message
        (at most MAX_PAIRS): a bounce of recipient r's copy goes to r's own sender address."""
        if not self.verp or not addresses.normalise(self.mail_from):
            return []
        recipients = list(dict.fromkeys(addresses.normalise(r) for r in self.recipients))
        return [(addresses.verp(self.mail_from, rcpt, self.verp), rcpt) for rcpt in recipients[:MAX_PAIRS]
                if rcpt]


# A message to more recipients than this records pairs for the first ones only:
# mass mail does not bounce back through the envelope check.
MAX_PAIRS = 1000


@dataclass(frozen=True)
class RecordResult:
    message_id: str | None
    entries: tuple[EntryHash, ...]
    reason: str
    pairs: tuple[EntryHash, ...] = ()
    # Set when the ledger could not take the record and the spool kept it instead.
    spooled: str | None = None
    # Entries (of both kinds) that were not in the ledger yet: 0 for a record written twice.
    new: int = 0

    def batches(self, recipients: int) -> list[Batch]:
        """What the ledger stores for this result: the entries and the pairs."""
        return [(MESSAGE, self.entries, max(1, recipients)), (PAIR, self.pairs, 1)]


class SpoolFailed(LedgerUnavailable):
    """The ledger could not take a record and the spool could not keep it: it is lost."""


class RecordBatch:
    """Records gathered to be written together: a big backfill costs one round trip per
    ``size`` entries, not one per message. ``ledger`` None (a dry run) writes nothing."""

    def __init__(self, ledger: Ledger | None, size: int = 2000) -> None:
        self.ledger = ledger
        self.size = size
        self.records: list[tuple[int, list[Batch]]] = []
        self.entries = 0
        self.new = 0  # message entries (not pairs) that were not in the ledger yet

    def add(self, day: int, batches: list[Batch]) -> None:
        self.records.append((day, batches))
        self.entries += sum(len(b[1]) for b in batches)
        if self.entries >= self.size:
            self.flush()

    def flush(self) -> None:
        """Write what is gathered (one round trip; raises LedgerUnavailable)."""
        records, self.records, self.entries = self.records, [], 0
        if self.ledger is not None and records:
            self.new += sum(self.ledger.record_many(records, counted=MESSAGE))


class Recorder:
    """The one way a sent message becomes ledger entries: milter, ``record``, backfill, follow, replay."""

    def __init__(self, ledger: Ledger, hasher: Hasher, spool: Spool | None = None) -> None:
        self.ledger = ledger
        self.hasher = hasher
        self.spool = spool

    def entries(self, sent: SentMessage) -> RecordResult:
        """The entries a message yields, without touching Redis."""
        if not addresses.normalise(sent.mail_from):
            return RecordResult(None, (), "null sender: our own notification, not recorded")
        normalised = msgid.normalise(sent.message_id)
        senders = sent.sender_addresses()
        verp = sent.verp_senders()
        if not normalised:
            return RecordResult(None, (), "no usable Message-ID (envelope pairs only)",
                                self.pairs(sent, senders, verp))
        everyone = senders + [address for address, _ in verp if address not in senders]
        entries = tuple(self.hasher.message(normalised, s) for s in everyone)
        return RecordResult(normalised, entries, f"recorded for {len(everyone)} sender address(es)",
                            self.pairs(sent, senders, verp))

    def pairs(self, sent: SentMessage, senders: list[str],
              verp: list[tuple[str, str]] | None = None) -> tuple[EntryHash, ...]:
        """One (sender, recipient) entry per sender address and recipient (the envelope check);
        a VERP sender is paired with its own recipient only."""
        recipients = list(dict.fromkeys(addresses.normalise(r) for r in sent.recipients))
        return tuple(dict.fromkeys([
            *(self.hasher.pair(sender, rcpt)
              for rcpt in recipients[:MAX_PAIRS] if rcpt for sender in senders),
            *(self.hasher.pair(sender, rcpt) for sender, rcpt in verp or ()),
        ]))

    def record(self, sent: SentMessage, day: int | None = None, recipients: int | None = None,
               trip: RoundTrip | None = None, into: RecordBatch | None = None) -> RecordResult:
        """Store the message's entries and pairs, for ``day`` (default today).

        ``recipients`` is the count the entries store (default: the envelope's);
        a log follower knows it from qmgr's ``nrcpt=``. ``result.new`` tells a
        first record from a repeated one (HSETNX keeps the first).

        ``trip``: the caller's round trip (the milter's counters ride on it);
        it is run here, once. ``into``: gather the record in a batch instead
        (backfill), written when the batch is full or flushed; ``result.new``
        is then 0. Without a spool, raises
        :class:`ledger.errors.LedgerUnavailable`; with one, a record the
        ledger refuses is spooled (``result.spooled`` says why) and only
        :class:`SpoolFailed` is raised, when the spool cannot keep it either.
        """
        result = self.entries(sent)
        if not (result.entries or result.pairs):
            return result
        day = today() if day is None else day
        batches = result.batches(len(sent.recipients) if recipients is None else recipients)
        if into is not None:
            into.add(day, batches)
            return result
        try:
            new = self.ledger.record_kinds(batches, day=day, trip=trip)
        except LedgerUnavailable as exc:
            if self.spool is None:
                raise
            why = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            try:
                self.spool.append(day, batches)
            except SpoolError as lost:
                raise SpoolFailed(f"{why}; and {lost}") from exc
            return replace(result, spooled=why)
        return replace(result, new=new)
