"""Replay: what would sender-ledger have done with these mailboxes?

The sent messages are recorded into a scratch namespace of the same Redis (a
:class:`ScratchLedger`, deleted afterwards even on error or Ctrl-C, and with a
one-day expiry on every key should even that fail), then every received
message is decided by the very :class:`~ledger.verdict.Inspector` the inbound
milter uses, as of the day it arrived. The live ledger is never written.
"""

from __future__ import annotations

import secrets
import time
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

import redis

from ledger.check import Envelope
from ledger.days import SECONDS_PER_DAY, today
from ledger.decide import Decision
from ledger.errors import LedgerUnavailable
from ledger.ops.mailbox import MailItem, header_date
from ledger.record import Recorder, SentMessage
from ledger.store import Ledger
from ledger.verdict import Inspector

SCRATCH_TTL = SECONDS_PER_DAY  # a scratch key outlives a crashed replay by at most a day


class ScratchLedger(Ledger):
    """A throw-away ledger in its own namespace, with a settable 'today'.

    ``as_of`` makes lookups scan the window of the replayed message's day, so
    an old bounce is judged against what was in the ledger when it arrived.
    """

    as_of: int | None = None

    @classmethod
    def create(cls, client: redis.Redis, base_namespace: str, lifetime_days: int,
               bucket_bits: int) -> ScratchLedger:
        namespace = f"{base_namespace}-replay-{secrets.token_hex(6)}"
        return cls(client, namespace, lifetime_days, bucket_bits)

    def expires_at(self, day: int) -> int:
        return int(time.time()) + SCRATCH_TTL

    def window(self, day: int | None = None) -> list[int]:
        # every lookup goes through here: as of the replayed day
        return super().window(self.as_of if day is None else day)

    def drop(self) -> int:
        """Delete every key of the scratch namespace; returns how many."""
        deleted = 0
        batch: list[bytes] = []
        try:
            for key in self.client.scan_iter(match=f"{self.namespace}:*", count=1000):
                batch.append(key)
                if len(batch) >= 500:
                    deleted += int(self.client.delete(*batch))
                    batch.clear()
            if batch:
                deleted += int(self.client.delete(*batch))
        except redis.RedisError as exc:
            raise LedgerUnavailable(str(exc)) from exc
        return deleted


def day_of(item: MailItem, date_header: str | None, received: bool) -> int:
    """The UTC day a message was sent or received, never later than tomorrow.

    A received message is dated by its delivery stamp (mbox ``From_`` line,
    Maildir file name), which our own server wrote, before its ``Date:``, which
    the sender wrote; a sent one by its ``Date:`` first. Else today.
    """
    header = header_date(date_header)
    stamps = (item.delivered, header) if received else (header, item.delivered)
    stamp = next((s for s in stamps if s is not None), None)
    day = today() if stamp is None else int(stamp // SECONDS_PER_DAY)
    return min(day, today() + 1)


@dataclass
class Refused:
    label: str
    date: str | None
    sender: str
    subject: str
    decision: Decision

    def as_dict(self) -> dict[str, object]:
        return {"message": self.label, "date": self.date, "from": self.sender,
                "subject": self.subject, **self.decision.as_dict()}


@dataclass
class ReplayReport:
    sent: int = 0
    recorded: int = 0
    not_recorded: Counter[str] = field(default_factory=Counter)
    received: int = 0
    truncated: int = 0
    summary: Counter[tuple[str, str]] = field(default_factory=Counter)
    refused: list[Refused] = field(default_factory=list)

    def as_dict(self) -> dict[str, object]:
        return {
            "sent": {"messages": self.sent, "recorded": self.recorded,
                     "not_recorded": dict(self.not_recorded)},
            "received": self.received,
            "summary": [{"kind": k, "action": a, "count": n}
                        for (k, a), n in sorted(self.summary.items())],
            "refused": [r.as_dict() for r in self.refused],
        }


# What the caller supplies to read a message: the same helpers `record` and `check` use.
Headers = Callable[[bytes], dict[str, str | None]]
SentOf = Callable[[bytes], SentMessage]
EnvelopeOf = Callable[[bytes], Envelope]
Tick = Callable[[MailItem, int], None]


def _noop(item: MailItem, count: int) -> None:
    return None


class Replay:
    def __init__(self, recorder: Recorder, inspector: Inspector, scratch: ScratchLedger,
                 headers: Headers, sent_of: SentOf, envelope_of: EnvelopeOf) -> None:
        self.recorder = recorder
        self.inspector = inspector
        self.scratch = scratch
        self.headers = headers
        self.sent_of = sent_of
        self.envelope_of = envelope_of
        self.report = ReplayReport()

    def record_sent(self, items: Iterable[MailItem], tick: Tick = _noop) -> None:
        for item in items:
            self.report.sent += 1
            sent = self.sent_of(item.raw)
            day = day_of(item, self.headers(item.raw).get("date"), received=False)
            result = self.recorder.record(sent, day=day)  # the milter's own record layout
            if result.entries:
                self.report.recorded += 1
            else:
                self.report.not_recorded[result.reason] += 1
            tick(item, self.report.sent)

    def decide_received(self, items: Iterable[MailItem], tick: Tick = _noop) -> None:
        for item in items:
            self.report.received += 1
            self.report.truncated += item.truncated
            headers = self.headers(item.raw)
            day = day_of(item, headers.get("date"), received=True)
            self.scratch.as_of = day
            # claim=True, as the milter: an accepted bounce takes its unit of the original's
            # budget in the lookup itself
            decision = self.inspector.inspect(self.envelope_of(item.raw), item.raw, claim=True)
            result = decision.outcome
            self.report.summary[(decision.kind or "ordinary", result)] += 1
            if result in ("reject", "tempfail"):
                self.report.refused.append(Refused(
                    item.label, time.strftime("%Y-%m-%d", time.gmtime(day * SECONDS_PER_DAY)),
                    headers.get("from") or "", headers.get("subject") or "", decision))
            tick(item, self.report.received)
