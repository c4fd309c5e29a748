"""Decide: from what was found and what the ledger says, the SMTP answer.

Pure logic, no I/O: every branch is a unit test. The rules, in the order of
docs/policy.md, which also states the defaults (R = the envelope recipients,
our users):

0. a reading cut short (``Finding.cut``) before any reference was found:
   by a read limit the sender controls (byte cap, MIME part or depth limit)
   -> the unmatched action of its kind, never a tag by ``no_reference`` and
   never the envelope rescue; by our own side (time budget spent, a detector
   failed) -> tempfail unless a ledger entry matched;
1. a reference of the original is in the ledger for every R, within its
   bounce budget -> accept (with a trace header);
2. else references were found -> the configured unmatched action (the
   bounce names an original, and it is not ours);
3. else (no reference) one of the original's stated recipients forms a
   recorded (sender, recipient) pair with every R -> accept ("envelope");
4. else original recipients were found -> the unmatched action too;
5. else (nothing to check) -> the per-kind ``no_reference`` setting.

Step 0 exists because the sender chooses the size and shape of what we read;
our own fault is never a 550, and never a tag either. Every decision carries
a :class:`Cause` from a fixed set (the table in docs/policy.md).

``reject`` only ever comes out for a recognised backscatter form: a
heuristic alone is tagged. The ledger could not be asked -> tempfail (or
accept, if so configured): our fault must never cost a real bounce.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum

from ledger.check.detectors.base import Finding
from ledger.config import NoReferenceSettings, UnmatchedSettings
from ledger.hashing import EntryHash
from ledger.match import Match

ACCEPT = "accept"
REJECT = "reject"
TEMPFAIL = "tempfail"
TAG = "tag"
# Reason text of a decision our own side's cut reading made (observe.classify counts it failed).
OUR_CUT = "the check could not finish"


class Cause(StrEnum):
    """Why a decision came out as it did: a fixed set, so counters and metrics
    keyed by it cannot grow with traffic, and nothing has to parse reason text."""

    ORDINARY = "ordinary"                 # not a backscatter candidate
    MATCHED = "matched"                   # a reference is in the ledger, within budget
    ENVELOPE = "envelope"                 # no reference; a recorded (sender, recipient) pair
    UNMATCHED = "unmatched"               # references found, none is ours
    PARTIAL = "partial"                   # not every envelope recipient sent the original
    BUDGET_EXHAUSTED = "budget exhausted"  # the original has had all the bounces it can cause
    NO_REFERENCE = "no reference"         # nothing to look up at all
    RECIPIENTS_UNMATCHED = "recipients unmatched"  # no reference; never wrote to its recipients
    NO_RECIPIENTS = "no recipients"       # an empty envelope (cannot happen over SMTP)
    UNREACHABLE = "unreachable"           # the ledger could not be asked: our fault
    INTERNAL_ERROR = "internal error"     # our own bug: our fault
    CATCHING_UP = "catching up"           # records spooled in an outage are not all replayed yet
    TRUNCATED = "truncated"               # a read limit cut the reading before any reference
    CHECK_UNFINISHED = "check unfinished"  # the time budget ran out, or a detector failed: our side


# Causes that are our side's fault, not the message's: never a 550.
OUR_FAULT = frozenset({Cause.UNREACHABLE, Cause.INTERNAL_ERROR, Cause.CATCHING_UP,
                       Cause.CHECK_UNFINISHED})
# Refusals that a record still waiting in the outbound spool could overturn.
LEDGER_DEPENDENT = frozenset({Cause.UNMATCHED, Cause.PARTIAL, Cause.RECIPIENTS_UNMATCHED})

# The SMTP replies, named once: action -> (code, enhanced code).
REPLY_CODES: dict[str, tuple[str, str]] = {
    REJECT: ("550", "5.7.1"),
    TEMPFAIL: ("451", "4.7.1"),
}
INTERNAL_ERROR_TEXT = "Temporary local problem, try again later"
# A match through a weak reference (Finding.weak: a Message-ID without "@") may take one bounce
# per recorded recipient, not matches_per_recipient (docs/policy.md, "Weak references").
WEAK_MATCHES_PER_RECIPIENT = 1

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
    cause: Cause = Cause.ORDINARY
    outcome: str = ACCEPT  # accept, tag, reject, tempfail (a tag is an accept, unverified)

    def as_dict(self) -> dict[str, object]:
        return {
            "action": self.action,
            "outcome": self.outcome,
            "cause": str(self.cause),
            "candidate": self.candidate,
            "kind": self.kind,
            "references": list(self.references),
            "matched": self.matched,
            "reason": self.reason,
            "reply": " ".join(self.reply) if self.reply else None,
        }


def ordinary() -> Decision:
    return Decision(ACCEPT, "not a backscatter candidate")


# Reason of a candidate judged ordinary mail again (heuristic_only).
ORDINARY_AGAIN = "ordinary mail: only a weak header signal, and no backscatter form"


def heuristic_only(strong: bool, null_sender: bool, finding: Finding, bounce_subject: bool = False) -> bool:
    """A candidate that is ordinary mail unless the ledger knows it (docs/policy.md, "Weak signals").

    True for mail with a real (non-null) envelope sender that only a weak header
    signal made a candidate (``Candidate.strong`` False: a C/R product's header,
    ``Auto-Submitted: auto-generated``, a subject pattern ...) and in which no
    detector recognised a backscatter form (``Finding.form`` False). Ordinary
    mail carries every such signal, so nothing about it is worth a tag.

    Null-sender mail stays a strong candidate: any form, reference or stated
    original recipient decides it as before, and so does a bounce subject
    (``bounce_subject``: a bounce without a findable reference is tagged). Only
    null-sender mail with none of these, nothing of a bounce in it at all (a
    quota warning, a meeting-forward notice), is ordinary mail too.
    """
    if finding.form:
        return False
    if not null_sender:
        return not strong
    return not (finding.references or finding.recipients_of_original or bounce_subject)


def ordinary_again(decision: Decision) -> Decision:
    """The answer for a heuristic_only candidate: a ledger match stands, anything else is ordinary.

    A match (``pass``, by reference or envelope) is kept: it is what our user's
    correspondent answered. Every other answer, a tag, a tempfail for our own
    side's trouble (Redis down, a cut of ours) alike, becomes accept with no
    trace and cause ``ordinary``: the message was ordinary mail all along, and
    ordinary mail is never delayed or marked.
    """
    if decision.matched and decision.action == ACCEPT:
        return decision
    return Decision(ACCEPT, ORDINARY_AGAIN)


def reply(action: str, text: str) -> tuple[str, str, str]:
    """The SMTP reply of a refusing action (REPLY_CODES) with its text."""
    code, xcode = REPLY_CODES[action]
    return code, xcode, text


def internal_error(kind: str | None = None) -> Decision:
    """Our own bug met this message: tempfail, so a real bounce is retried, never lost."""
    return Decision(TEMPFAIL, "internal error", True, kind, reply=reply(TEMPFAIL, INTERNAL_ERROR_TEXT),
                    cause=Cause.INTERNAL_ERROR, outcome=TEMPFAIL)


def _finish(
    policy: Policy, action: str, cause: Cause, reason: str, finding: Finding, matched: bool = False,
    matches: tuple[Match, ...] = (),
) -> Decision:
    """Turn a configured action (accept|tag|reject|tempfail) into a Decision."""
    kind, refs = finding.kind, finding.references
    if finding.cut is not None and finding.cut.ours and not matched and action != TEMPFAIL:
        action, cause = TEMPFAIL, Cause.CHECK_UNFINISHED
        reason += f"; {OUR_CUT} ({finding.cut.value})"
    if action == REJECT and cause in OUR_FAULT:
        action = TEMPFAIL  # our fault never costs a real bounce
    if action == REJECT and not finding.form:
        action, reason = TAG, reason + "; only a heuristic matched, so tagged, not rejected"
    if action == REJECT:
        return Decision(REJECT, reason, True, kind, refs, matched,
                        reply=reply(REJECT, policy.reject_text), cause=cause, outcome=REJECT)
    if action == TEMPFAIL:
        return Decision(TEMPFAIL, reason, True, kind, refs, matched,
                        reply=reply(TEMPFAIL, policy.tempfail_text), cause=cause, outcome=TEMPFAIL)
    if action == TAG:
        return Decision(ACCEPT, "tagged: " + reason, True, kind, refs, matched,
                        trace=f"unverified ({kind}; {reason})", cause=cause, outcome=TAG)
    trace = f"pass ({kind}; {reason})" if matched else None
    return Decision(ACCEPT, reason, True, kind, refs, matched, trace=trace, matches=matches,
                    cause=cause, outcome=ACCEPT)


def unreachable(policy: Policy, finding: Finding, error: str) -> Decision:
    action = policy.unreachable_action
    return _finish(policy, action, Cause.UNREACHABLE, f"ledger unreachable ({error})", finding)


def catching_up(policy: Policy, finding: Finding) -> Decision:
    """A refusal that a spooled, not yet replayed record could overturn: 451, ask again later."""
    return _finish(policy, TEMPFAIL, Cause.CATCHING_UP,
                   "the ledger is catching up on records kept during an outage", finding)


def budget_spent(policy: Policy, finding: Finding) -> Decision:
    """The original's last bounce was taken by a bounce decided at the same moment."""
    return _finish(policy, unmatched_action(policy, finding.kind), Cause.BUDGET_EXHAUSTED,
                   "the original has already had as many bounces as it can cause", finding)


def no_reference_action(policy: Policy, kind: str) -> str:
    if policy.no_reference_action is not None:
        return policy.no_reference_action
    return policy.no_reference.get(kind, policy.no_reference.get("unknown", TAG))


def unmatched_action(policy: Policy, kind: str) -> str:
    return policy.unmatched.get(kind) or policy.unmatched_action


def _envelope(recipients: Sequence[str], pairs: Mapping[str, Sequence[str]]) -> str | None:
    """The envelope-check reason when every recipient recently wrote to an original recipient.

    The reason names no address: it is stored in the decision log, which keeps
    no address in clear.
    """
    if not recipients or not all(pairs.get(rcpt) for rcpt in recipients):
        return None
    named = len({addr for rcpt in recipients for addr in pairs[rcpt]})
    return f"envelope: the recipient recently wrote to the original's recipient ({named} found)"


def per_recipient(policy: Policy, finding: Finding, match: Match,
                  via: Mapping[EntryHash, str] | None) -> int:
    """The bounces per recorded recipient a match may take: fewer through a weak reference."""
    return budget_of(policy, finding, via.get(match.entry) if via is not None else None)


def budget_of(policy: Policy, finding: Finding, reference: str | None) -> int:
    """The bounces per recorded recipient an entry found through ``reference`` may take.

    Known before the lookup, so the claim can ride in the lookup's own call.
    """
    if finding.weak and reference in finding.weak:
        return min(WEAK_MATCHES_PER_RECIPIENT, policy.matches_per_recipient)
    return policy.matches_per_recipient


def _cut_short(policy: Policy, finding: Finding) -> Decision | None:
    """The answer for a reading cut before any reference was found (None: not that case)."""
    if finding.cut is None or finding.references:
        return None
    if finding.cut.ours:
        return _finish(policy, TEMPFAIL, Cause.CHECK_UNFINISHED,
                       f"{OUR_CUT} ({finding.cut.value}) before any reference was found", finding)
    return _finish(policy, unmatched_action(policy, finding.kind), Cause.TRUNCATED,
                   f"the reading was cut ({finding.cut.value}) before any reference was found", finding)


def decide(
    policy: Policy,
    finding: Finding,
    recipients: Sequence[str],
    found: Mapping[str, Sequence[Match]],
    pairs: Mapping[str, Sequence[str]] | None = None,
    via: Mapping[EntryHash, str] | None = None,
) -> Decision:
    """Decide a candidate.

    ``found`` maps each envelope recipient to the ledger entries that matched
    one of the finding's references bound to that recipient; ``pairs`` maps
    each envelope recipient to the original recipients it has a recorded
    (sender, recipient) pair with; ``via`` maps a looked-up entry to the
    reference it stands for (a weak reference's match has a smaller budget).
    """
    pairs = pairs or {}
    early = _cut_short(policy, finding)
    if early is not None:
        return early
    if not finding.references:
        envelope = _envelope(recipients, pairs)
        if envelope:
            return _finish(policy, ACCEPT, Cause.ENVELOPE, envelope, finding, matched=True)
        if finding.recipients_of_original:
            return _finish(policy, unmatched_action(policy, finding.kind), Cause.RECIPIENTS_UNMATCHED,
                           f"no recorded mail to the original's recipient(s) "
                           f"({len(finding.recipients_of_original)} checked)", finding)
        return _finish(policy, no_reference_action(policy, finding.kind), Cause.NO_REFERENCE,
                       f"{finding.kind} without a reference to an original", finding)
    if not recipients:
        return _finish(policy, unmatched_action(policy, finding.kind), Cause.NO_RECIPIENTS,
                       "no recipients", finding)
    chosen: list[Match] = []
    exhausted = False
    for rcpt in recipients:
        usable = [m for m in found.get(rcpt, ())
                  if m.matches < max(1, m.recipients) * per_recipient(policy, finding, m, via)]
        if found.get(rcpt) and not usable:
            exhausted = True
        if not usable:
            break
        chosen.append(usable[0])
    else:
        days = sorted({m.date for m in chosen})
        return _finish(policy, ACCEPT, Cause.MATCHED, f"original sent {', '.join(days)}", finding,
                       matched=True, matches=tuple(chosen))
    if exhausted:
        return budget_spent(policy, finding)
    # No envelope rescue here: the bounce names its original, and that original
    # is not ours. (A forger can bounce a quoted fake ID off a real correspondent.)
    if len(recipients) > 1 and chosen:
        cause, reason = Cause.PARTIAL, "not every recipient sent the original"
    else:
        cause, reason = Cause.UNMATCHED, f"no reference is in the ledger ({len(finding.references)} checked)"
    return _finish(policy, unmatched_action(policy, finding.kind), cause, reason, finding)
