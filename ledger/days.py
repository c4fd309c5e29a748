"""Day arithmetic: the ledger, its counters and the decision log slice time by UTC day.

A day number is the count of whole UTC days since 1970-01-01 (``epoch // 86400``).
Every per-day Redis key ends in ``:<day number>``, and a key for day ``d`` that
is kept ``keep`` days expires at the end of day ``d + keep``: whole keys
expire, nothing is swept. Pure arithmetic, no I/O.
"""

from __future__ import annotations

import time

SECONDS_PER_DAY = 86400


def today(now: float | None = None) -> int:
    """The UTC day number of ``now`` (default: the current time)."""
    return int((time.time() if now is None else now) // SECONDS_PER_DAY)


def day_key(prefix: str, day: int) -> str:
    """The key of ``prefix`` for one day: ``<prefix>:<day number>``."""
    return f"{prefix}:{day}"


def end_of(day: int, keep: int = 0) -> int:
    """Epoch seconds at which day ``day + keep`` ends (an EXPIREAT for a key kept ``keep`` days)."""
    return (day + keep + 1) * SECONDS_PER_DAY


def window(day: int, lifetime: int) -> list[int]:
    """The days a lookup on ``day`` scans, newest first: tomorrow (clock skew) back to ``day - lifetime``."""
    return list(range(day + 1, day - lifetime - 1, -1))


def date_of(day: int) -> str:
    """Day number -> ``YYYY-MM-DD`` (UTC)."""
    return time.strftime("%Y-%m-%d", time.gmtime(day * SECONDS_PER_DAY))
