"""Sort decisions into the few classes that counters, the log and metrics show.

The decision itself stays the single source of truth; these functions only
name what happened (accept, tag, reject, tempfail) and fold a reason text
into a short, bounded class (no dates, numbers or error details), so a
per-reason counter cannot grow without bound.
"""

from __future__ import annotations

import re

from ledger.decide import ACCEPT, OUR_CUT, TAG, TEMPFAIL, Decision

TAG_PREFIX = "tagged: "
UNREACHABLE = "ledger unreachable"
INTERNAL_ERROR = "internal error"
REASON_CHARS = 80

_DETAILS = re.compile(r"\([^)]*\)?|\d[\d\-:,.]*")
_SPACES = re.compile(r"\s+")


def outcome(decision: Decision) -> str:
    """accept, tag, reject or tempfail: a tag is an accept with an 'unverified' trace."""
    if decision.action == ACCEPT and decision.reason.startswith(TAG_PREFIX):
        return TAG
    return decision.action


def reason_class(reason: str) -> str:
    """``"original sent 2026-11-20"`` -> ``"original sent"``; the part before ';' only."""
    text = reason[len(TAG_PREFIX):] if reason.startswith(TAG_PREFIX) else reason
    text = text.split(";", 1)[0]
    text = _SPACES.sub(" ", _DETAILS.sub("", text)).strip(" ,.:")
    return text[:REASON_CHARS] or "-"


def failed(decision: Decision) -> bool:
    """True when our side (ledger or code), not the message, decided the outcome."""
    if decision.action == TEMPFAIL and OUR_CUT in decision.reason:
        return True  # the time budget was spent, or a detector failed
    return reason_class(decision.reason) in (UNREACHABLE, INTERNAL_ERROR)
