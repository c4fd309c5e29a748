"""A ledger entry that a lookup found: plain data, so ``ledger.decide`` needs no Redis."""

from __future__ import annotations

from dataclasses import dataclass

from ledger.days import date_of
from ledger.hashing import EntryHash

RECIPIENT_CAP = 127  # the recipient count an entry stores is capped here (7 bits of its value)
MATCH_STEP = 128  # one matched bounce adds this to the stored value


@dataclass(frozen=True)
class Match:
    """A ledger entry that was found: the day it was recorded and its counters."""

    entry: EntryHash
    day: int
    recipients: int
    matches: int

    @property
    def date(self) -> str:
        return date_of(self.day)

    @classmethod
    def from_value(cls, entry: EntryHash, day: int, value: int) -> Match:
        """Unpack a stored value (``matches * MATCH_STEP + recipients``)."""
        return cls(entry=entry, day=day, recipients=value % MATCH_STEP, matches=value // MATCH_STEP)
