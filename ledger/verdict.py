"""The inbound check from end to end: screen, parse, detect, look up, decide.

The inbound milter and ``sender-ledger check`` both call :class:`Inspector`,
so what the command line says of a file is what the milter would do with it.
That includes the stream scan past the parse cap (``ledger.check.stream``):
the milter feeds a :class:`Scanner` from :meth:`Inspector.scanner` as the body
arrives and hands it over; given only the raw bytes, :meth:`Inspector.inspect`
runs the same scanner over them, so the same bytes get the same answer.

The caller owns the round trip. :meth:`Inspector.prepare` reads the message
(no I/O) and returns either a final :class:`Decision` or a :class:`Pending`;
the caller opens one :class:`~ledger.trip.RoundTrip`, :meth:`Pending.queue`
puts the lookup (with the claim of the bounce budget folded into the same
Redis function call) and the catching-up flag on it, the caller may add its
own commands (the milter's bookkeeping), runs it once, and
:meth:`Pending.decide` turns the replies into the decision. A real or forged
DSN costs one network round trip; only rare cases cost a second one (Redis
lost our code; a multi-recipient bounce whose claims must be given back
without a bookkeeper; the flag on Redis Cluster, where it lives on another
node and is asked only for a refusal it could overturn).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace

from redis.client import Pipeline

from ledger import addresses
from ledger.check import Candidate, Cut, Envelope, Finding, Limits, examine, parse, screen
from ledger.check.patterns import bounce_subject
from ledger.check.relays import trusted_relay
from ledger.check.stream import DEFAULT_CAP, Scanner
from ledger.config import Config
from ledger.decide import (
    ACCEPT,
    LEDGER_DEPENDENT,
    REJECT,
    Decision,
    Policy,
    budget_of,
    catching_up,
    decide,
    heuristic_only,
    ordinary,
    ordinary_again,
    srs,
    unreachable,
)
from ledger.errors import LedgerUnavailable
from ledger.exceptions import RecipientExceptions, RelayList
from ledger.hashing import MESSAGE, PAIR, EntryHash, Hasher
from ledger.match import Match
from ledger.spool import Spool
from ledger.srs import SrsChecker
from ledger.store import Claim, Ledger, Lookup, LookupResult, flag_raised
from ledger.trip import RoundTrip

log = logging.getLogger("sender-ledger.inbound")


def policy_from(cfg: Config) -> Policy:
    return Policy(
        unmatched_action=cfg.inbound.unmatched_action,
        no_reference=cfg.inbound.no_reference.as_dict(),
        unmatched=cfg.inbound.unmatched.as_dict(),
        unreachable_action=cfg.inbound.unreachable_action,
        matches_per_recipient=cfg.ledger.matches_per_recipient,
        reject_text=cfg.inbound.reject_text,
        tempfail_text=cfg.inbound.tempfail_text,
        exception_recipients=RecipientExceptions.parse(cfg.inbound.exceptions.recipients),
        trusted_relays=RelayList.parse(cfg.inbound.exceptions.trusted_relays),
        relay_action=cfg.inbound.exceptions.relay_action,
    )


def limits_from(cfg: Config) -> Limits:
    return Limits(
        max_bytes=cfg.inbound.max_bytes,
        max_depth=cfg.inbound.max_mime_depth,
        max_parts=cfg.inbound.max_mime_parts,
        parse_seconds=cfg.inbound.parse_seconds,
    )


# Ledger commands handed to someone who writes them later (the observer's bookkeeper).
Later = Callable[[Callable[[Pipeline], None]], bool]

# Read limits the sender controls: past them the stream scan may still find the original.
_SCANNABLE = (Cut.BYTES, Cut.PARTS, Cut.DEPTH)
SCAN_CHUNK = 64 * 1024


class Inspector:
    """Decide candidates. ``spool`` (this host's outbound spool, if any) and the
    drain's Redis flag turn a refusal that a not-yet-replayed record could
    overturn into a 451; ``later`` takes the ledger writes that need not hold
    the answer (claims to give back), so a slow write never loses one; ``srs``
    (the forwarder's secrets, if configured) judges recipients that are SRS addresses."""

    def __init__(self, ledger: Ledger, hasher: Hasher, policy: Policy, max_bytes: int,
                 limits: Limits | None = None, scan_bytes: int = DEFAULT_CAP,
                 spool: Spool | None = None, later: Later | None = None,
                 srs: SrsChecker | None = None) -> None:
        self.ledger = ledger
        self.hasher = hasher
        self.policy = policy
        self.max_bytes = max_bytes
        self.scan_bytes = scan_bytes
        base = limits or Limits()
        self.limits = Limits(max_bytes, base.max_depth, base.max_parts, base.parse_seconds)
        self.spool = spool
        self.later = later
        self.srs = srs

    def scanner(self) -> Scanner:
        """A stream scanner for one message, to be fed the raw message from its first byte."""
        return Scanner(self.scan_bytes, self.limits.max_depth)

    def trip(self) -> RoundTrip:
        """A round trip on the ledger's Redis, for a caller to fill and run."""
        return RoundTrip(self.ledger.client)

    def _scanned(self, finding: Finding, raw: bytes, scanner: Scanner | None,
                 own_id: str | None) -> Finding:
        """A cut finding without references, with the returned message's ID from the stream scan."""
        if scanner is None:
            scanner = self.scanner()
            for start in range(0, min(len(raw), self.scan_bytes), SCAN_CHUNK):
                scanner.feed(raw[start:start + SCAN_CHUNK])
                if scanner.done:
                    break
        scanner.close()
        refs = tuple(r for r in scanner.references() if r != own_id)
        if not refs:
            return finding
        return replace(finding, references=refs, detector=f"{finding.detector}+stream")

    @staticmethod
    def screen(mail_from: str, headers: Iterable[tuple[str, str]]) -> Candidate | None:
        return screen(mail_from, headers)

    def inspect(self, envelope: Envelope, raw: bytes, candidate: Candidate | None = None,
                scanner: Scanner | None = None, claim: bool = False,
                headers_cut: bool = False) -> Decision:
        """Decide one message on a round trip of its own (``check``, ``replay``, tests).

        See :meth:`prepare` for the arguments. With ``claim`` (as the milter)
        an accepted bounce is counted against its original's budget
        atomically, as part of the lookup; without it nothing is written.
        """
        work = self.prepare(envelope, raw, candidate, scanner, claim, headers_cut)
        if isinstance(work, Decision):
            return work
        trip = self.trip()
        work.queue(trip)
        return work.decide()

    def prepare(self, envelope: Envelope, raw: bytes, candidate: Candidate | None = None,
                scanner: Scanner | None = None, claim: bool = False,
                headers_cut: bool = False) -> Decision | Pending:
        """Read one message (no I/O): a final decision, or what the ledger must be asked.

        ``candidate`` is the header-stage verdict, if known. ``scanner`` is
        the stream scan of the whole message when the caller holds only a
        prefix in ``raw`` (the milter past ``max_bytes``); without one,
        ``raw`` is scanned here when the reading was cut. ``headers_cut``: the
        caller kept only the first header fields (the milter keeps
        ``max_bytes`` of them), so the reading counts as cut by the byte cap
        even if ``raw`` is short.
        """
        parsed = parse(raw, envelope, limits=self.limits)
        if headers_cut:
            parsed.mark_cut(Cut.BYTES)
        if candidate is None:
            candidate = screen(envelope.mail_from, parsed.message.items())
        if candidate is None:
            return ordinary()
        finding = examine(parsed) or Finding("unknown", (), form=False, detector="screen", cut=parsed.cut)
        if not finding.references and finding.cut in _SCANNABLE:
            finding = self._scanned(finding, raw, scanner, parsed.own_id)
        weak_signal = heuristic_only(candidate.strong, envelope.null_sender, finding,
                                     bounce_subject(parsed.decoded_header("Subject")))
        # [inbound.exceptions] trusted_relays: read the returned Received chain only when some are set.
        relay = trusted_relay(parsed, self.policy.trusted_relays)
        recipients = [addresses.normalise(r) for r in envelope.recipients]
        if self.srs is not None:
            now = time.time()
            verdicts = {r: self.srs.check(r, now) for r in recipients}
            judged = [v for v in verdicts.values() if v is not None]
            if judged:
                decision = srs(self.policy, finding, judged)
                others = [r for r, v in verdicts.items() if v is None]
                if not others or not decision.matched:
                    return ordinary_again(decision) if weak_signal else decision
                recipients = others  # the SRS ones are ours: the rest decide as ever
        pending = Pending(self, recipients, finding, claim, weak_signal, relay)
        if pending.lookup.empty:
            return pending.conclude(decide(self.policy, finding, pending.recipients, {}, relay=relay))
        return pending

    def spool_waiting(self) -> bool:
        """Records of this host wait in its outbound spool."""
        return self.spool is not None and self.spool.pending()


@dataclass
class _Wanted:
    """What one looked-up entry stands for."""

    rcpt: str
    ref: str = ""
    other: str = ""


class Pending:
    """A candidate read and waiting for its round trip: the lookup it needs, then the decision."""

    def __init__(self, inspector: Inspector, recipients: list[str], finding: Finding, claim: bool,
                 weak_signal: bool, relay: bool = False) -> None:
        self.inspector = inspector
        self.finding = finding
        self.weak_signal = weak_signal  # heuristic_only: ordinary mail unless the ledger knows it
        self.relay = relay  # the returned original left through a trusted relay (decide, step 6)
        self.recipients = recipients  # normalised; SRS recipients already judged are left out
        hasher, policy = inspector.hasher, inspector.policy
        self.wanted: dict[EntryHash, _Wanted] = {}
        claims: dict[EntryHash, Claim] = {}
        for group, rcpt in enumerate(self.recipients):
            for ref in finding.references:
                entry = hasher.message(ref, rcpt)
                self.wanted[entry] = _Wanted(rcpt, ref=ref)
                if claim:
                    claims[entry] = Claim(budget_of(policy, finding, ref), group)
        # The envelope check only ever decides a bounce without a reference: ask for
        # pairs only then, so a referenced bounce costs no pair probes.
        self.wanted_pairs: dict[EntryHash, _Wanted] = {}
        for rcpt in self.recipients if not finding.references else ():
            for other in finding.recipients_of_original:
                self.wanted_pairs[hasher.pair(rcpt, other)] = _Wanted(rcpt, other=other)
        self.lookup: Lookup = inspector.ledger.lookup(
            {MESSAGE: list(self.wanted), PAIR: list(self.wanted_pairs)}, claims=claims or None)
        self.trip: RoundTrip | None = None
        self._flag: int | None = None  # index of the catching-up flag's reply on the trip

    def queue(self, trip: RoundTrip) -> None:
        """Queue the lookup (and the catching-up flag, where it shares the connection) on ``trip``."""
        self.trip = trip
        self.lookup.queue(trip)
        if trip.single_node:
            self._flag = trip.mark()
            self.inspector.ledger.queue_catching_up(trip.pipe)
        if self.lookup.claims:
            # A lost reply may hide claims that were taken: give them back later.
            trip.on_failure(self._release_lost)

    def decide(self) -> Decision:
        """The decision, once the trip has run (it is run here if the caller has not)."""
        inspector, finding = self.inspector, self.finding
        assert self.trip is not None, "queue() first"
        try:
            result = self.lookup.result(self.trip)
        except LedgerUnavailable as exc:
            return self.conclude(unreachable(inspector.policy, finding, str(exc).splitlines()[0][:120]))
        decision = decide(inspector.policy, finding, self.recipients, *self._found(result), self.relay)
        self._give_back(result, decision)
        if decision.action == REJECT and decision.cause in LEDGER_DEPENDENT and self._catching_up():
            return self.conclude(catching_up(inspector.policy, finding))
        return self.conclude(decision)

    def conclude(self, decision: Decision) -> Decision:
        if self.weak_signal:
            return ordinary_again(decision)
        return decision

    def _found(self, result: LookupResult) -> tuple[dict[str, list[Match]], dict[str, list[str]],
                                                     dict[EntryHash, str]]:
        """Matches per recipient (claimed ones first: decide takes the first usable), pairs, via."""
        claimed = {m.entry for m in result.claimed}
        found: dict[str, list[Match]] = {}
        for entry, match in sorted(result.found.get(MESSAGE, {}).items(),
                                   key=lambda item: item[0] not in claimed):
            found.setdefault(self.wanted[entry].rcpt, []).append(match)
        pairs: dict[str, list[str]] = {}
        for entry in result.found.get(PAIR, {}):
            wanted = self.wanted_pairs[entry]
            pairs.setdefault(wanted.rcpt, []).append(wanted.other)
        via = {entry: wanted.ref for entry, wanted in self.wanted.items()}
        return found, pairs, via

    def _give_back(self, result: LookupResult, decision: Decision) -> None:
        """Claims the decision does not keep (another recipient had no match; a second bucket's)."""
        kept = {m.entry for m in decision.matches} if decision.action == ACCEPT else set()
        extra = [m for m in result.claimed if m.entry not in kept]
        if not extra:
            return
        ledger, token = self.inspector.ledger, result.token

        def release(pipe: Pipeline) -> None:
            ledger.queue_release(pipe, token, extra)

        self._hand_over(release, f"could not give back {len(extra)} count(s)")

    def _release_lost(self) -> None:
        ledger, token, buckets = self.inspector.ledger, self.lookup.token, self.lookup.claimed_buckets()

        def release(pipe: Pipeline) -> None:
            ledger.queue_release(pipe, token, buckets=buckets)

        self._hand_over(release, "could not give back the counts of a lost reply")

    def _hand_over(self, job: Callable[[Pipeline], None], what: str) -> None:
        """To the bookkeeper (rides on a later round trip), else on a round trip of its own."""
        later = self.inspector.later
        if later is not None and later(job):
            return
        try:
            trip = RoundTrip(self.inspector.ledger.client)
            job(trip.pipe)
            trip.replies(0, trip.mark())
        except LedgerUnavailable as exc:
            log.warning("%s: %s", what, exc)

    def _catching_up(self) -> bool:
        """Records of ours may still wait in a spool (here, or being drained anywhere)."""
        if self.inspector.spool_waiting():
            return True
        if self._flag is not None and self.trip is not None:
            try:
                return flag_raised(self.trip.replies(self._flag, self._flag + 1)[0])
            except LedgerUnavailable:
                return True
        try:
            return self.inspector.ledger.catching_up()
        except LedgerUnavailable:
            return True  # cannot tell: a 451 costs a retry, a wrong 550 costs a bounce


def log_decision(envelope: Envelope, decision: Decision, logger: logging.Logger = log) -> None:
    """One line per decision: queue id, client, envelope, kind, outcome, cause, reason."""
    logger.info(
        "decision qid=%s client=%s from=<%s> rcpt=%s kind=%s action=%s cause=%s refs=%d reason=%r",
        envelope.queue_id or "-",
        envelope.client or "-",
        envelope.mail_from,
        ",".join(f"<{r}>" for r in envelope.recipients) or "-",
        decision.kind or "-",
        decision.outcome,
        str(decision.cause).replace(" ", "_"),
        len(decision.references),
        decision.reason,
    )
