"""Decide: from what was found and what the ledger says, the SMTP answer.

Pure logic, no I/O: every branch is a unit test. The rules, in the order of
ISSUE3-POLICY (R = the envelope recipients, our users):

1. a reference of the original is in the ledger for every R, within its
   bounce budget -> accept (with a trace header);
2. else references were found -> the configured unmatched action (the
   bounce names an original, and it is not ours);
3. else (no reference) one of the original's stated recipients forms a
   recorded (sender, recipient) pair with every R -> accept ("envelope");
4. else original recipients were found -> the unmatched action too;
5. else (nothing to check) -> the per-kind ``no_reference`` setting.

Before all of them: a reading that was cut short (``Finding.cut``: byte cap,
MIME part or depth limit) with no reference found gets the unmatched action
of its kind, never a tag by ``no_reference`` and never the envelope rescue:
the sender chooses the size and shape of what we read. A reading cut by our
own side (time budget spent, a detector failed) tempfails unless a ledger
entry matched: our fault is never a 550, and never a tag either.

``reject`` only ever comes out for a recognised backscatter form: a
heuristic alone is tagged. The ledger could not be asked -> tempfail (or
accept, if so configured): our fault must never cost a real bounce.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from ledger.check.detectors.base import Finding
from ledger.config import NoReferenceSettings, UnmatchedSettings
from ledger.store import Match

ACCEPT = "accept"
REJECT = "reject"
TEMPFAIL = "tempfail"
TAG = "tag"
# Reason text of a decision our own side's cut reading made (observe.classify counts it failed).
OUR_CUT = "the check could not finish"

# Defaults for candidates with no reference and no original recipient, and the
# per-kind exceptions to unmatched_action: the config's defaults, one source of truth.
NO_REFERENCE_DEFAULTS: dict[str, str] = NoReferenceSettings().as_dict()
UNMATCHED_EXCEPTIONS: dict[str, str] = UnmatchedSettings().as_dict()


@dataclass(frozen=True)
class Policy:
    unmatched_action: str = REJECT
    # One action for every kind, overriding ``no_reference`` (None: use the table).
    no_reference_action: str | None = None
    no_reference: Mapping[str, str] = field(default_factory=lambda: dict(NO_REFERENCE_DEFAULTS))
    # Per-kind exceptions to unmatched_action (ARF reports are tagged: they go to
    # the abuse desk, whose address never sent the original).
    unmatched: Mapping[str, str] = field(default_factory=lambda: dict(UNMATCHED_EXCEPTIONS))
    unreachable_action: str = TEMPFAIL
    matches_per_recipient: int = 3
    reject_text: str = "Backscatter refused"
    tempfail_text: str = "Cannot verify this bounce right now, please try again later"


@dataclass(frozen=True)
class Decision:
    """The verdict on one message, with everything the log and the CLI show."""

    action: str
    reason: str
    candidate: bool = False
    kind: str | None = None
    references: tuple[str, ...] = ()
    matched: bool = False
    reply: tuple[str, str, str] | None = None
    trace: str | None = None
    matches: tuple[Match, ...] = ()

    def as_dict(self) -> dict[str, object]:
        return {
            "action": self.action,
            "candidate": self.candidate,
            "kind": self.kind,
            "references": list(self.references),
            "matched": self.matched,
            "reason": self.reason,
            "reply": " ".join(self.reply) if self.reply else None,
        }


def ordinary() -> Decision:
    return Decision(ACCEPT, "not a backscatter candidate")


def _finish(
    policy: Policy, action: str, reason: str, finding: Finding, matched: bool = False,
    matches: tuple[Match, ...] = (),
) -> Decision:
    """Turn a configured action (accept|tag|reject|tempfail) into a Decision."""
    kind, refs = finding.kind, finding.references
    if finding.cut is not None and finding.cut.ours and not matched and action != TEMPFAIL:
        action, reason = TEMPFAIL, reason + f"; {OUR_CUT} ({finding.cut.value})"
    if action == REJECT and not finding.form:
        action, reason = TAG, reason + "; only a heuristic matched, so tagged, not rejected"
    if action == REJECT:
        return Decision(REJECT, reason, True, kind, refs, matched,
                        reply=("550", "5.7.1", policy.reject_text))
    if action == TEMPFAIL:
        return Decision(TEMPFAIL, reason, True, kind, refs, matched,
                        reply=("451", "4.7.1", policy.tempfail_text))
    if action == TAG:
        return Decision(ACCEPT, "tagged: " + reason, True, kind, refs, matched,
                        trace=f"unverified ({kind}; {reason})")
    trace = f"pass ({kind}; {reason})" if matched else None
    return Decision(ACCEPT, reason, True, kind, refs, matched, trace=trace, matches=matches)


def unreachable(policy: Policy, finding: Finding, error: str) -> Decision:
    action = policy.unreachable_action
    return _finish(policy, action, f"ledger unreachable ({error})", finding)


def no_reference_action(policy: Policy, kind: str) -> str:
    if policy.no_reference_action is not None:
        return policy.no_reference_action
    return policy.no_reference.get(kind, policy.no_reference.get("unknown", TAG))


def unmatched_action(policy: Policy, kind: str) -> str:
    return policy.unmatched.get(kind) or policy.unmatched_action


def _envelope(recipients: Sequence[str], pairs: Mapping[str, Sequence[str]]) -> str | None:
    """The envelope-check reason when every recipient recently wrote to an original recipient."""
    if not recipients or not all(pairs.get(rcpt) for rcpt in recipients):
        return None
    named = sorted({addr for rcpt in recipients for addr in pairs[rcpt]})
    return f"envelope: the recipient recently wrote to {', '.join(named[:3])}"


def _cut_short(policy: Policy, finding: Finding) -> Decision | None:
    """The answer for a reading cut before any reference was found (None: not that case)."""
    if finding.cut is None or finding.references:
        return None
    if finding.cut.ours:
        return _finish(policy, TEMPFAIL, f"{OUR_CUT} ({finding.cut.value}) before any reference was found",
                       finding)
    return _finish(policy, unmatched_action(policy, finding.kind),
                   f"the reading was cut ({finding.cut.value}) before any reference was found", finding)


def decide(
    policy: Policy,
    finding: Finding,
    recipients: Sequence[str],
    found: Mapping[str, Sequence[Match]],
    pairs: Mapping[str, Sequence[str]] | None = None,
) -> Decision:
    """Decide a candidate.

    ``found`` maps each envelope recipient to the ledger entries that matched
    one of the finding's references bound to that recipient; ``pairs`` maps
    each envelope recipient to the original recipients it has a recorded
    (sender, recipient) pair with.
    """
    pairs = pairs or {}
    early = _cut_short(policy, finding)
    if early is not None:
        return early
    if not finding.references:
        envelope = _envelope(recipients, pairs)
        if envelope:
            return _finish(policy, ACCEPT, envelope, finding, matched=True)
        if finding.recipients_of_original:
            return _finish(policy, unmatched_action(policy, finding.kind),
                           f"no recorded mail to the original's recipient(s) "
                           f"({len(finding.recipients_of_original)} checked)", finding)
        return _finish(policy, no_reference_action(policy, finding.kind),
                       f"{finding.kind} without a reference to an original", finding)
    if not recipients:
        return _finish(policy, unmatched_action(policy, finding.kind), "no recipients", finding)
    chosen: list[Match] = []
    exhausted = False
    for rcpt in recipients:
        usable = [m for m in found.get(rcpt, ())
                  if m.matches < max(1, m.recipients) * policy.matches_per_recipient]
        if found.get(rcpt) and not usable:
            exhausted = True
        if not usable:
            break
        chosen.append(usable[0])
    else:
        days = sorted({m.date for m in chosen})
        return _finish(policy, ACCEPT, f"original sent {', '.join(days)}", finding,
                       matched=True, matches=tuple(chosen))
    if exhausted:
        reason = "the original has already had as many bounces as it can cause"
        return _finish(policy, unmatched_action(policy, finding.kind), reason, finding)
    # No envelope rescue here: the bounce names its original, and that original
    # is not ours. (A forger can bounce a quoted fake ID off a real correspondent.)
    if len(recipients) > 1 and chosen:
        reason = "not every recipient sent the original"
    else:
        reason = f"no reference is in the ledger ({len(finding.references)} checked)"
    return _finish(policy, unmatched_action(policy, finding.kind), reason, finding)
