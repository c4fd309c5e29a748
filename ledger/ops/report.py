"""The trial report's facts: what the counters and the decision log of a period say.

A tag trial (``inbound.unmatched_action = "tag"``) lets every bounce in and
marks the ones reject mode would refuse (``Decision.would_reject``). This
module reads, and never writes, what the milters left in Redis:

* the day counters (``observe.counter_days``, 35 days by default) for totals,
  outcomes per day (the chart) and what would have been refused by kind;
* the decision log (``observe.log_days``, 7 days, about ``observe.log_entries``
  entries) for everything per recipient and the envelope-only accepts. When
  the log does not reach back to the start of the window (shorter retention,
  or its cap), :attr:`Trial.log_complete` is False and the report says so.

Recipients are grouped as the log stores them (``observe.log_addresses``):
keyed hashes of the local part with the domain in clear by default, so the
report names no address unless the operator asked the log to keep them.

Costs: one pipelined round trip for the counters, one ``XREVRANGE`` per 200
log entries, memory in proportion to the distinct recipients of unmatched
or envelope-accepted bounces (bounded by the log's cap).
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field

import redis

from ledger.days import SECONDS_PER_DAY
from ledger.decide import UNMATCHED_PATH, Cause
from ledger.observe import counters, decision_log
from ledger.observe.decision_log import LogEntry
from ledger.observe.timefmt import day_date, stamp

OUTCOMES = ("accept", "tag", "reject", "tempfail")
UNMATCHED_CAUSES = frozenset(str(c) for c in UNMATCHED_PATH)
# Unmatched, yet the original is ours: another recipient of it sent it (partial), or it has
# already bounced as often as it can (budget exhausted). Such a refusal may hit real mail.
REAL_LOOKING_CAUSES = frozenset({str(Cause.PARTIAL), str(Cause.BUDGET_EXHAUSTED)})
ENVELOPE = str(Cause.ENVELOPE)
MAX_LISTED = 50  # envelope-only accepts listed one by one (the total is always counted)
ADDRESS_NOTE = {
    "domain": "recipients as the log stores them: a keyed hash of the local part, @ the domain",
    "hash": "recipients as the log stores them: a keyed hash of the whole address",
    "full": "recipients in clear (observe.log_addresses = \"full\")",
}
TOTAL_FIELDS = ("recorded", "spooled", "replayed", "record_failed", "log_dropped", "candidates",
                "matched", "unmatched", "failed", "would_reject")


@dataclass
class DayRow:
    """One day of the window, from its counters."""

    day: int
    candidates: int
    outcomes: dict[str, int]
    would_reject: int
    recorded: int
    failed: int

    def as_dict(self) -> dict[str, object]:
        return {"day": day_date(self.day), "candidates": self.candidates, "outcomes": self.outcomes,
                "would_reject": self.would_reject, "recorded": self.recorded, "failed": self.failed}


@dataclass
class RecipientRow:
    """One envelope recipient (one of our senders) that received unmatched bounces."""

    recipient: str
    unmatched: int = 0
    would_reject: int = 0
    real_looking: int = 0
    matched: int = 0
    kinds: Counter[str] = field(default_factory=Counter)
    first: float = 0.0
    last: float = 0.0

    def as_dict(self) -> dict[str, object]:
        return {"recipient": self.recipient, "unmatched": self.unmatched,
                "would_reject": self.would_reject, "real_looking": self.real_looking,
                "matched": self.matched, "kinds": dict(sorted(self.kinds.items())),
                "first": stamp(self.first), "last": stamp(self.last)}


@dataclass
class Trial:
    """Everything the report shows, before any judging or rendering."""

    namespace: str
    unmatched_action: str
    log_addresses: str
    generated: float
    days: list[DayRow]
    totals: dict[str, int]
    would_reject_kinds: dict[str, int]
    would_reject_causes: dict[str, int] = field(default_factory=dict)
    recipients: list[RecipientRow] = field(default_factory=list)
    real_looking: int = 0
    envelope_total: int = 0
    envelope_listed: list[LogEntry] = field(default_factory=list)
    log_read: int = 0
    log_oldest: float | None = None
    log_complete: bool = True
    spool_records: int = 0
    spool_oldest_seconds: float = 0.0

    @property
    def start(self) -> float:
        """The first second of the window."""
        return float(self.days[0].day * SECONDS_PER_DAY) if self.days else self.generated

    def observed_days(self) -> int:
        """Days from the first one with any activity (recorded or decided) to the last."""
        active = [d.day for d in self.days if d.recorded or d.candidates]
        return 0 if not active else self.days[-1].day - min(active) + 1

    def as_dict(self) -> dict[str, object]:
        return {
            "namespace": self.namespace,
            "generated": stamp(self.generated),
            "unmatched_action": self.unmatched_action,
            "window": {"days": len(self.days),
                       "first": day_date(self.days[0].day) if self.days else None,
                       "last": day_date(self.days[-1].day) if self.days else None,
                       "observed_days": self.observed_days()},
            "addresses": {"mode": self.log_addresses, "note": ADDRESS_NOTE[self.log_addresses]},
            "totals": self.totals,
            "days": [d.as_dict() for d in self.days],
            "would_reject": {"total": self.totals["would_reject"], "by_kind": self.would_reject_kinds,
                             "by_cause": self.would_reject_causes, "real_looking": self.real_looking},
            "recipients": [r.as_dict() for r in self.recipients],
            "envelope_only": {"total": self.envelope_total,
                              "listed": [_envelope_row(e) for e in self.envelope_listed]},
            "log": {"entries": self.log_read,
                    "oldest": stamp(self.log_oldest) if self.log_oldest is not None else None,
                    "complete": self.log_complete},
            "spool": {"records": self.spool_records,
                      "oldest_age_seconds": round(self.spool_oldest_seconds, 1)},
        }


def _envelope_row(entry: LogEntry) -> dict[str, object]:
    return {"time": stamp(entry.time), "queue_id": entry.queue_id, "client": entry.client,
            "recipients": list(entry.recipients), "kind": entry.kind}


def _sorted(counts: Counter[str]) -> dict[str, int]:
    return dict(sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])))


def day_rows(client: redis.Redis, namespace: str, window: int, last: int) -> list[DayRow]:
    """The counters of the ``window`` days ending with ``last``, oldest first."""
    read = counters.read_days(client, namespace, list(range(last - window + 1, last + 1)))
    return [DayRow(d.day, d.get(counters.CANDIDATES),
                   {o: d.get(f"action:{o}") for o in OUTCOMES}, d.get(counters.WOULD_REJECT),
                   d.get(counters.RECORDED), d.get(counters.FAILED)) for d in read]


class _LogTally:
    """What the report keeps of the log entries, fed one page at a time."""

    def __init__(self) -> None:
        self.rows: dict[str, RecipientRow] = {}
        self.matched: Counter[str] = Counter()
        self.causes: Counter[str] = Counter()
        self.envelope: list[LogEntry] = []
        self.real_looking = 0
        self.read = 0
        self.oldest: float | None = None

    def add(self, entry: LogEntry) -> None:
        self.read += 1
        self.oldest = entry.time  # pages come newest first
        if entry.matched:
            self.matched.update(set(entry.recipients))
        if entry.cause == ENVELOPE and len(self.envelope) < MAX_LISTED:
            self.envelope.append(entry)
        if entry.would_reject:
            self.causes[entry.cause] += 1
        if entry.cause not in UNMATCHED_CAUSES and not entry.would_reject:
            return
        real = entry.would_reject and entry.cause in REAL_LOOKING_CAUSES
        self.real_looking += real
        for rcpt in set(entry.recipients):
            row = self.rows.setdefault(rcpt, RecipientRow(rcpt, first=entry.time, last=entry.time))
            row.unmatched += entry.cause in UNMATCHED_CAUSES
            row.would_reject += entry.would_reject
            row.real_looking += real
            row.kinds[entry.kind or "unknown"] += 1
            row.first = min(row.first, entry.time)
            row.last = max(row.last, entry.time)

    def recipients(self) -> list[RecipientRow]:
        for rcpt, row in self.rows.items():
            row.matched = self.matched.get(rcpt, 0)
        return sorted(self.rows.values(), key=lambda r: (-r.would_reject, -r.unmatched, r.recipient))


def gather(
    client: redis.Redis,
    namespace: str,
    *,
    window: int,
    unmatched_action: str,
    log_addresses: str,
    now: float | None = None,
    on_page: Callable[[int, int], None] | None = None,
) -> Trial:
    """Read the counters of the last ``window`` days (today included) and the log entries in them.

    ``on_page(read, total)`` is called after each page of the log (progress).
    Raises ``redis.RedisError`` when Redis cannot be read.
    """
    now = time.time() if now is None else now
    last = int(now // SECONDS_PER_DAY)
    rows = day_rows(client, namespace, window, last)
    read = counters.read_days(client, namespace, [r.day for r in rows])
    totals = {name: sum(d.get(name) for d in read) for name in TOTAL_FIELDS}
    for outcome in OUTCOMES:
        totals[outcome] = sum(r.outcomes[outcome] for r in rows)
    kinds: Counter[str] = Counter()
    envelope_total = 0
    for d in read:
        kinds.update(d.grouped(f"{counters.WOULD_REJECT}:"))
        envelope_total += d.get(f"cause:{ENVELOPE}")
    trial = Trial(namespace, unmatched_action, log_addresses, now, rows, totals, _sorted(kinds),
                  envelope_total=envelope_total)
    tally = _LogTally()
    total = decision_log.length(client, namespace)
    for page in decision_log.pages(client, namespace, since=trial.start):
        for entry in page:
            tally.add(entry)
        if on_page is not None:
            on_page(tally.read, total)
    trial.would_reject_causes = _sorted(tally.causes)
    trial.recipients = tally.recipients()
    trial.real_looking = tally.real_looking
    trial.envelope_listed = tally.envelope
    trial.log_read = tally.read
    trial.log_oldest = tally.oldest
    # Complete when the log holds every decision the counters saw in the window (a decision
    # counted but not logged was dropped, trimmed, or is older than observe.log_days).
    trial.log_complete = tally.read >= totals["candidates"]
    return trial
