"""Decide: from what was found and what the ledger says, the SMTP answer.

Pure logic, no I/O: every branch is a unit test. The rules, in the order of
docs/policy.md, which also states the defaults (R = the envelope recipients,
our users):

S. with SRS configured, an envelope recipient that looks like an SRS
   address decides by itself (:func:`srs`): not valid -> the unmatched
   action (cause ``srs forged``/``srs expired``/``srs malformed``); every
   such recipient valid -> accept (``srs``), and the other recipients, if
   any, are decided by the steps below;
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
5. else (nothing to check) -> the per-kind ``no_reference`` setting;
6. an answer of steps 0, 2 (not a spent budget), 4 or 5 that is not ``accept``
   meets ``[inbound.exceptions]``: a returned original that left through a
   trusted relay -> ``relay_action`` (tag by default; cause "trusted relay"),
   else every R an exception recipient -> tag (cause "exception recipient").
   Our own fault (a tempfail) stays a tempfail.

Step 0 exists because the sender chooses the size and shape of what we read;
our own fault is never a 550, and never a tag either. Every decision carries
a :class:`Cause` from a fixed set (the table in docs/policy.md).

``reject`` only ever comes out for a recognised backscatter form: a
heuristic alone is tagged. The ledger could not be asked -> tempfail (or
accept, if so configured): our fault must never cost a real bounce.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from enum import StrEnum

from ledger.check.detectors.base import Finding
from ledger.config import ExceptionSettings, NoReferenceSettings, UnmatchedSettings
from ledger.exceptions import RecipientExceptions, RelayList
from ledger.hashing import EntryHash
from ledger.match import Match
from ledger.srs import SrsStatus, SrsVerdict

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
    EXCEPTION_RECIPIENT = "exception recipient"  # unmatched, to an [inbound.exceptions] recipient
    TRUSTED_RELAY = "trusted relay"       # unmatched, the original left through a trusted relay
    SRS = "srs"                           # to a valid SRS address of ours: a bounce of forwarded mail
    SRS_FORGED = "srs forged"             # to an SRS address whose hash is not ours
    SRS_EXPIRED = "srs expired"           # to an SRS address of ours older than srs.max_age_days
    SRS_MALFORMED = "srs malformed"       # to an address that starts like SRS and cannot be read


# Causes that are our side's fault, not the message's: never a 550.
OUR_FAULT = frozenset({Cause.UNREACHABLE, Cause.INTERNAL_ERROR, Cause.CATCHING_UP,
                       Cause.CHECK_UNFINISHED})
# The answers [inbound.exceptions] may soften (step 6): a bounce that matches nothing of ours.
# Not a spent budget: the ledger knows that original, and has had enough bounces of it.
EXCEPTABLE = frozenset({Cause.TRUNCATED, Cause.UNMATCHED, Cause.PARTIAL, Cause.RECIPIENTS_UNMATCHED,
                        Cause.NO_REFERENCE, Cause.NO_RECIPIENTS})
# Causes an exception gave (counted apart in `stats`).
EXCEPTION_CAUSES = (Cause.EXCEPTION_RECIPIENT, Cause.TRUSTED_RELAY)
# The causes whose action is the configured unmatched action (``unmatched_action``, or its kind's
# exception): a tag trial's "would have been refused" are these, for a recognised form.
UNMATCHED_PATH = frozenset({Cause.UNMATCHED, Cause.PARTIAL, Cause.BUDGET_EXHAUSTED,
                            Cause.RECIPIENTS_UNMATCHED, Cause.NO_RECIPIENTS, Cause.TRUNCATED,
                            Cause.SRS_FORGED, Cause.SRS_EXPIRED, Cause.SRS_MALFORMED})
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
    # [inbound.exceptions] (step 6): recipients whose unmatched backscatter is tagged, relays
    # whose returned originals count as ours, and what such a bounce gets (tag or accept).
    exception_recipients: RecipientExceptions = field(default_factory=RecipientExceptions)
    trusted_relays: RelayList = field(default_factory=RelayList)
    relay_action: str = ExceptionSettings().relay_action


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
    # What ``unmatched_action = "reject"`` would have answered: 550 (True) or not. A tag trial's
    # report counts these (would_refuse); in reject mode it is True for every 550.
    would_reject: bool = False

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
    if finding.cut is not None and finding.cut.ours and not matched and action != TEMPFAIL:
        action, cause = TEMPFAIL, Cause.CHECK_UNFINISHED
        reason += f"; {OUR_CUT} ({finding.cut.value})"
    if would_refuse(policy, finding, cause, action):
        return replace(_answer(policy, action, cause, reason, finding, matched, matches), would_reject=True)
    return _answer(policy, action, cause, reason, finding, matched, matches)


def would_refuse(policy: Policy, finding: Finding, cause: Cause, action: str) -> bool:
    """Whether reject mode (``unmatched_action = "reject"``) would answer this decision 550.

    A refusal now is one; else a decision on the unmatched path whose kind has no
    exception of its own would be, for a recognised form (a heuristic alone is tagged).
    """
    if action == REJECT and cause not in OUR_FAULT and finding.form:
        return True
    if cause not in UNMATCHED_PATH or not finding.form:
        return False
    return (policy.unmatched.get(finding.kind) or REJECT) == REJECT


def _answer(
    policy: Policy, action: str, cause: Cause, reason: str, finding: Finding, matched: bool,
    matches: tuple[Match, ...],
) -> Decision:
    """The Decision of a final action (accept|tag|reject|tempfail) and cause."""
    kind, refs = finding.kind, finding.references
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
    if cause == Cause.TRUSTED_RELAY:  # accepted as ours on the relay's word: say so in the header
        trace = f"relay ({kind}; {reason})"
    return Decision(ACCEPT, reason, True, kind, refs, matched, trace=trace, matches=matches,
                    cause=cause, outcome=ACCEPT)


RELAY_REASON = "the returned original left through a trusted relay"
EXCEPTION_REASON = "the recipient is an exception"


def _unmatched(policy: Policy, action: str, cause: Cause, reason: str, finding: Finding,
               recipients: Sequence[str], relay: bool) -> Decision:
    """Finish an answer of steps 0, 2, 4 or 5, applying ``[inbound.exceptions]`` (step 6).

    Only a refusal or a tag is softened (an ``accept`` stays as it is); the trusted
    relay comes first, because it says the original is ours. Our own side's cut still
    makes a tempfail (``_finish``): an exception never hides our fault.
    """
    if action != ACCEPT and cause in EXCEPTABLE:
        if relay and policy.trusted_relays:
            return _finish(policy, policy.relay_action, Cause.TRUSTED_RELAY, f"{RELAY_REASON} ({reason})",
                           finding)
        if policy.exception_recipients.cover_all(recipients):
            return _finish(policy, TAG, Cause.EXCEPTION_RECIPIENT, f"{EXCEPTION_REASON} ({reason})",
                           finding)
    return _finish(policy, action, cause, reason, finding)


def unreachable(policy: Policy, finding: Finding, error: str) -> Decision:
    action = policy.unreachable_action
    return _finish(policy, action, Cause.UNREACHABLE, f"ledger unreachable ({error})", finding)


def catching_up(policy: Policy, finding: Finding) -> Decision:
    """A refusal that a spooled, not yet replayed record could overturn: 451, ask again later."""
    return _finish(policy, TEMPFAIL, Cause.CATCHING_UP,
                   "the ledger is catching up on records kept during an outage", finding)


def budget_spent(policy: Policy, finding: Finding) -> Decision:
    """The original has had all the bounces its budget allows (recipients x matches_per_recipient)."""
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


def _cut_short(policy: Policy, finding: Finding, recipients: Sequence[str],
               relay: bool) -> Decision | None:
    """The answer for a reading cut before any reference was found (None: not that case)."""
    if finding.cut is None or finding.references:
        return None
    if finding.cut.ours:
        return _finish(policy, TEMPFAIL, Cause.CHECK_UNFINISHED,
                       f"{OUR_CUT} ({finding.cut.value}) before any reference was found", finding)
    return _unmatched(policy, unmatched_action(policy, finding.kind), Cause.TRUNCATED,
                      f"the reading was cut ({finding.cut.value}) before any reference was found", finding,
                      recipients, relay)


# An SRS recipient that is not valid -> the cause of its refusal.
SRS_REFUSALS: dict[SrsStatus, Cause] = {
    SrsStatus.FORGED: Cause.SRS_FORGED,
    SrsStatus.EXPIRED: Cause.SRS_EXPIRED,
    SrsStatus.MALFORMED: Cause.SRS_MALFORMED,
}


def srs(policy: Policy, finding: Finding, verdicts: Sequence[SrsVerdict]) -> Decision:
    """Decide a candidate to SRS addresses (docs/policy.md, "Forwarded mail (SRS)").

    ``verdicts`` are those of the envelope recipients that look like SRS
    addresses. One that is not valid refuses the message like an unmatched
    bounce (the unmatched action of its kind), with the cause naming why: it
    was sent to a forwarding address we never wrote, or wrote too long ago.
    Else every one is ours, and the bounce is of mail we forwarded: accepted
    as matched, with nothing counted (the ledger never saw the forwarded mail).
    The reasons name no address: the decoded original stays out of every log.
    """
    for verdict in verdicts:
        cause = SRS_REFUSALS.get(verdict.status)
        if cause is not None:
            return _finish(policy, unmatched_action(policy, finding.kind), cause,
                           f"{cause}: the recipient is not a valid SRS address of ours "
                           f"({verdict.why})", finding)
    oldest = max((v.age_days or 0 for v in verdicts), default=0)
    return _finish(policy, ACCEPT, Cause.SRS,
                   f"srs: a bounce of forwarded mail (SRS address of ours, {oldest} day(s) old)",
                   finding, matched=True)


def decide(
    policy: Policy,
    finding: Finding,
    recipients: Sequence[str],
    found: Mapping[str, Sequence[Match]],
    pairs: Mapping[str, Sequence[str]] | None = None,
    via: Mapping[EntryHash, str] | None = None,
    relay: bool = False,
) -> Decision:
    """Decide a candidate.

    ``found`` maps each envelope recipient to the ledger entries that matched
    one of the finding's references bound to that recipient; ``pairs`` maps
    each envelope recipient to the original recipients it has a recorded
    (sender, recipient) pair with; ``via`` maps a looked-up entry to the
    reference it stands for (a weak reference's match has a smaller budget);
    ``relay`` says the returned original left through one of the policy's
    trusted relays (``ledger.check.relays``).
    """
    pairs = pairs or {}
    early = _cut_short(policy, finding, recipients, relay)
    if early is not None:
        return early
    if not finding.references:
        envelope = _envelope(recipients, pairs)
        if envelope:
            return _finish(policy, ACCEPT, Cause.ENVELOPE, envelope, finding, matched=True)
        if finding.recipients_of_original:
            return _unmatched(policy, unmatched_action(policy, finding.kind), Cause.RECIPIENTS_UNMATCHED,
                              f"no recorded mail to the original's recipient(s) "
                              f"({len(finding.recipients_of_original)} checked)", finding, recipients, relay)
        return _unmatched(policy, no_reference_action(policy, finding.kind), Cause.NO_REFERENCE,
                          f"{finding.kind} without a reference to an original", finding, recipients, relay)
    if not recipients:
        return _unmatched(policy, unmatched_action(policy, finding.kind), Cause.NO_RECIPIENTS,
                          "no recipients", finding, recipients, relay)
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
    return _unmatched(policy, unmatched_action(policy, finding.kind), cause, reason, finding,
                      recipients, relay)
