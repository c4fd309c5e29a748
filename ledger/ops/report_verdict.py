"""The trial's verdict: "safe to switch to reject", or what stands in the way.

Pure logic over a :class:`~ledger.ops.report.Trial`. Each obstacle is one
reason a switch to ``unmatched_action = "reject"`` could refuse real mail, or
why the trial cannot tell yet; the verdict is safe only when there is none.
The thresholds are the operator's (``sender-ledger report --min-days ...``);
every obstacle has a fixed ``code`` (for scripts reading ``--json``) and a
sentence for people.

A recipient with many bounces that match nothing it sent through us is the
hard case: its mail may leave another way (its real bounces would be refused:
a candidate for ``[inbound.exceptions]``), or its address is being forged
(refusing is right). Only the operator can tell; ``--reviewed ADDRESS``
records that they did, and that recipient stops counting against the verdict.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ledger.ops.report import Trial

SAFE = "safe to switch to reject"
SAFE_ALREADY = "reject mode is on, and nothing in the period argues against it"


@dataclass(frozen=True)
class Thresholds:
    """What the trial must show before the verdict can be safe."""

    min_days: int = 7
    min_decisions: int = 20
    max_per_recipient: int = 5
    reviewed: frozenset[str] = frozenset()  # recipients (in stored form) the operator has checked

    def as_dict(self) -> dict[str, object]:
        return {"min_days": self.min_days, "min_decisions": self.min_decisions,
                "max_per_recipient": self.max_per_recipient, "reviewed": sorted(self.reviewed)}


@dataclass(frozen=True)
class Obstacle:
    code: str
    text: str

    def as_dict(self) -> dict[str, str]:
        return {"code": self.code, "text": self.text}


@dataclass(frozen=True)
class Verdict:
    safe: bool
    text: str
    obstacles: tuple[Obstacle, ...] = field(default=())

    def as_dict(self) -> dict[str, object]:
        return {"safe": self.safe, "text": self.text, "obstacles": [o.as_dict() for o in self.obstacles]}


def _plural(n: int, word: str) -> str:
    return f"{n} {word}" + ("" if n == 1 else "s")


def obstacles(trial: Trial, limits: Thresholds) -> list[Obstacle]:
    """Every reason the trial does not (yet) show a switch to be safe, most basic first."""
    out: list[Obstacle] = []
    t = trial.totals
    days = trial.observed_days()
    if days < limits.min_days:
        out.append(Obstacle("too_few_days", f"only {_plural(days, 'day')} observed, "
                            f"at least {limits.min_days} wanted (bounces keep coming for days)"))
    if t["candidates"] < limits.min_decisions:
        out.append(Obstacle("too_few_decisions", f"only {_plural(t['candidates'], 'bounce')} decided, "
                            f"at least {limits.min_decisions} wanted"))
    if t["failed"]:
        out.append(Obstacle("our_faults", f"{_plural(t['failed'], 'decision')} could not be made on our "
                            "side (Redis unreachable, a check that did not finish, an internal error): "
                            "fix that first, see sender-ledger log --action tempfail"))
    if t["record_failed"]:
        out.append(Obstacle("records_lost", f"{_plural(t['record_failed'], 'sent message')} could not be "
                            "recorded (neither Redis nor the spool took them): their bounces would be "
                            "refused"))
    if trial.spool_records:
        out.append(Obstacle("spool_waiting", f"{_plural(trial.spool_records, 'record')} still waiting in "
                            "the outbound spool for Redis: sender-ledger spool"))
    if t["log_dropped"]:
        out.append(Obstacle("log_dropped", f"{_plural(t['log_dropped'], 'decision')} dropped from the "
                            "log during a Redis outage: the details below are incomplete"))
    if trial.real_looking:
        out.append(Obstacle("real_looking_unmatched", f"{_plural(trial.real_looking, 'bounce')} of "
                            "mail that is ours would have been refused (another recipient sent that "
                            "original, or it had bounced as often as it may)"))
    for row in trial.recipients:
        if row.would_reject >= limits.max_per_recipient and row.recipient not in limits.reviewed:
            out.append(Obstacle("recipient_unmatched", f"{row.recipient} received "
                                f"{_plural(row.would_reject, 'bounce')} matching nothing it sent "
                                "through us: its mail may leave another way (a candidate for "
                                "[inbound.exceptions]) or its address is forged; once checked, "
                                "pass --reviewed with it"))
    return out


def judge(trial: Trial, limits: Thresholds) -> Verdict:
    found = tuple(obstacles(trial, limits))
    if found:
        return Verdict(False, "not safe to switch to reject yet", found)
    return Verdict(True, SAFE_ALREADY if trial.unmatched_action == "reject" else SAFE)
