"""Per-day counters in Redis: what ``sender-ledger stats`` shows per day.

One small hash per UTC day, ``<namespace>:{obs}:stats:<day>``, expiring
``observe.counter_days`` after the day ends. The hash tag ``{obs}`` puts every
observing key (counters and the decision log) in one Redis Cluster slot, so
a candidate's log entry and counters go in one pipelined round trip.
Fields::

    recorded              messages recorded by the outbound milter (a spooled one
                          when its replay wrote it)
    spooled / replayed    records the ledger could not take and the spool kept /
                          records replayed from the spool
    record_failed         records lost: neither the ledger nor the spool took them
    log_dropped           decision-log entries dropped while Redis was away too long
    candidates            backscatter candidates decided by the inbound milter
    matched / unmatched / failed
                          ... found in the ledger / not found / undecidable on our side
    action:<a>            accept, tag, reject, tempfail
    kind:<k>              dsn, autoreply, mdn, ... (the detector families)
    cause:<c>             the decision's cause (ledger.decide.Cause: a fixed set)
    would_reject          candidates reject mode (unmatched_action = "reject") answers 550:
                          in a tag trial, what would have been refused; else the 550s
    would_reject:<k>      ... by kind

Every field name comes from a fixed set: the hash cannot grow with traffic,
and no address or Message-ID ever becomes a field.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

import redis
from redis.client import Pipeline

from ledger.days import SECONDS_PER_DAY
from ledger.decide import EXCEPTION_CAUSES, Decision
from ledger.observe.classify import cause, failed, outcome
from ledger.observe.timefmt import day_date

RECORDED = "recorded"
SPOOLED = "spooled"
REPLAYED = "replayed"
RECORD_FAILED = "record_failed"
CANDIDATES = "candidates"
MATCHED = "matched"
UNMATCHED = "unmatched"
FAILED = "failed"
WOULD_REJECT = "would_reject"


def counters_key(namespace: str, day: int) -> str:
    return f"{namespace}:{{obs}}:stats:{day}"


def decision_fields(decision: Decision) -> list[str]:
    """The counter fields one candidate's decision increments."""
    state = FAILED if failed(decision) else MATCHED if decision.matched else UNMATCHED
    kind = decision.kind or "unknown"
    fields = [CANDIDATES, state, f"action:{outcome(decision)}", f"kind:{kind}", f"cause:{cause(decision)}"]
    if decision.would_reject:
        fields += [WOULD_REJECT, f"{WOULD_REJECT}:{kind}"]
    return fields


def queue_increments(pipe: Pipeline, namespace: str, day: int, keep_days: int,
                     fields: Iterable[str]) -> None:
    """Queue HINCRBYs for ``fields`` and the key's expiry on ``pipe``."""
    queue_amounts(pipe, namespace, day, keep_days, dict.fromkeys(fields, 1))


def queue_amounts(pipe: Pipeline, namespace: str, day: int, keep_days: int,
                  amounts: dict[str, int]) -> None:
    """Queue HINCRBY field amount for each field, and the key's expiry, on ``pipe``."""
    key = counters_key(namespace, day)
    for name, amount in amounts.items():
        pipe.hincrby(key, name, amount)
    pipe.expireat(key, (day + keep_days + 1) * SECONDS_PER_DAY)


@dataclass
class DayCounters:
    """The counters of one day, as read back."""

    day: int
    values: dict[str, int] = field(default_factory=dict)

    def get(self, name: str) -> int:
        return self.values.get(name, 0)

    def grouped(self, prefix: str) -> dict[str, int]:
        """``{"reject": 3, ...}`` for prefix ``action:``, largest first."""
        found = {k[len(prefix):]: v for k, v in self.values.items() if k.startswith(prefix)}
        return dict(sorted(found.items(), key=lambda kv: (-kv[1], kv[0])))

    def as_dict(self, top_causes: int = 5) -> dict[str, object]:
        actions = self.grouped("action:")
        causes = self.grouped("cause:")
        return {
            "day": day_date(self.day),
            "recorded": self.get(RECORDED),
            "spooled": self.get(SPOOLED),
            "replayed": self.get(REPLAYED),
            "record_failed": self.get(RECORD_FAILED),
            "log_dropped": self.get("log_dropped"),
            "candidates": self.get(CANDIDATES),
            "matched": self.get(MATCHED),
            "unmatched": self.get(UNMATCHED),
            "failed": self.get(FAILED),
            "accepted": actions.get("accept", 0),
            "tagged": actions.get("tag", 0),
            "rejected": actions.get("reject", 0),
            "tempfailed": actions.get("tempfail", 0),
            "would_reject": self.get(WOULD_REJECT),
            "kinds": self.grouped("kind:"),
            "causes": dict(list(causes.items())[:top_causes]),
            # How often [inbound.exceptions] softened an answer, always shown (not only in the top).
            "exceptions": {str(c): causes.get(str(c), 0) for c in EXCEPTION_CAUSES},
        }


def read_days(client: redis.Redis, namespace: str, days: list[int]) -> list[DayCounters]:
    """The counters of ``days`` (one round trip); days without counters come back empty."""
    pipe = client.pipeline(transaction=False)
    for day in days:
        pipe.hgetall(counters_key(namespace, day))
    out = []
    for day, raw in zip(days, pipe.execute(), strict=True):
        values = {k.decode("utf-8", "replace"): int(v) for k, v in raw.items()}
        out.append(DayCounters(day, values))
    return out
