"""Days and times as the operator writes and reads them (always UTC)."""

from __future__ import annotations

import re
import time
from datetime import UTC, datetime

from ledger.days import SECONDS_PER_DAY

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhdw])\s*$", re.IGNORECASE)
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}


def day_date(day: int) -> str:
    """Day number (days since 1970-01-01) -> ``YYYY-MM-DD``."""
    return time.strftime("%Y-%m-%d", time.gmtime(day * SECONDS_PER_DAY))


def stamp(seconds: float) -> str:
    """Epoch seconds -> ``YYYY-MM-DD HH:MM:SS`` (UTC)."""
    return time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(seconds))


def parse_since(text: str, now: float | None = None) -> float:
    """``30m``, ``2h``, ``1d``, ``1w`` ago, or an ISO time (UTC unless it says otherwise).

    Returns epoch seconds; raises ValueError with a message naming the problem.
    """
    now = time.time() if now is None else now
    match = _DURATION.match(text)
    if match:
        return now - float(match.group(1)) * _UNITS[match.group(2).lower()]
    try:
        when = datetime.fromisoformat(text.strip())
    except ValueError:
        raise ValueError(f"{text!r} is neither a duration (30m, 2h, 1d, 1w) nor an ISO time") from None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return when.timestamp()
