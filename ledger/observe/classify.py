"""Name what happened to a decision, for counters, the log and metrics.

The decision carries its outcome (accept, tag, reject, tempfail) and its
cause (a fixed set, ``ledger.decide.Cause``); nothing here reads reason text,
which is for people only. Every name these functions return comes from a
fixed set, so a counter or metric keyed by them cannot grow with traffic.
"""

from __future__ import annotations

from ledger.decide import OUR_FAULT, Decision


def outcome(decision: Decision) -> str:
    """accept, tag, reject or tempfail: a tag is an accept with an 'unverified' trace."""
    return decision.outcome


def cause(decision: Decision) -> str:
    """The decision's cause, as its fixed name (``"matched"``, ``"unreachable"``...)."""
    return str(decision.cause)


def failed(decision: Decision) -> bool:
    """True when our side (ledger or code), not the message, decided the outcome."""
    return decision.cause in OUR_FAULT
