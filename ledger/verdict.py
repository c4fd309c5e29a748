"""The inbound check from end to end: screen, parse, detect, look up, decide.

The inbound milter and ``sender-ledger check`` both call :class:`Inspector`,
so what the command line says of a file is what the milter would do with it.
That includes the stream scan past the parse cap (``ledger.check.stream``):
the milter feeds a :class:`Scanner` from :meth:`Inspector.scanner` as the body
arrives and hands it over; given only the raw bytes, :meth:`Inspector.inspect`
runs the same scanner over them, so the same bytes get the same answer.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Callable, Iterable
from dataclasses import replace

from redis.client import Pipeline

from ledger import addresses
from ledger.check import Candidate, Cut, Envelope, Finding, Limits, examine, parse, screen
from ledger.check.patterns import bounce_subject
from ledger.check.relays import trusted_relay
from ledger.check.stream import DEFAULT_CAP, Scanner
from ledger.config import Config
from ledger.decide import (
    LEDGER_DEPENDENT,
    REJECT,
    Decision,
    Policy,
    budget_spent,
    catching_up,
    decide,
    heuristic_only,
    ordinary,
    ordinary_again,
    per_recipient,
    srs,
    unreachable,
)
from ledger.exceptions import RecipientExceptions, RelayList
from ledger.hashing import MESSAGE, PAIR, EntryHash, Hasher
from ledger.spool import Spool
from ledger.srs import SrsChecker
from ledger.store import CLAIMED, GONE, Ledger, LedgerUnavailable, Match

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
    overturn into a 451; ``later`` takes the bounce counts Redis could not
    take at once, so a slow write never loses one; ``srs`` (the forwarder's
    secrets, if configured) judges recipients that are SRS addresses."""

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
        """Decide one message. ``candidate`` is the header-stage verdict, if known.

        ``scanner`` is the stream scan of the whole message when the caller
        holds only a prefix in ``raw`` (the milter past ``max_bytes``); without
        one, ``raw`` is scanned here when the reading was cut. With ``claim``
        (the milter) an accepted bounce is counted against its original's
        budget atomically, as part of the decision; without it (``check``)
        nothing is written. ``headers_cut``: the caller kept only the first
        header fields (the milter keeps ``max_bytes`` of them), so the
        reading counts as cut by the byte cap even if ``raw`` is short.
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
        # [inbound.exceptions] trusted_relays: read the returned Received chain only when some are set.
        relay = trusted_relay(parsed, self.policy.trusted_relays)
        decision = self._decide(envelope, finding, claim, relay)
        if heuristic_only(candidate.strong, envelope.null_sender, finding,
                          bounce_subject(parsed.decoded_header("Subject"))):
            return ordinary_again(decision)
        return decision

    def _decide(self, envelope: Envelope, finding: Finding, claim: bool, relay: bool = False) -> Decision:
        """Look the finding's references (or original recipients) up and decide."""
        recipients = [addresses.normalise(r) for r in envelope.recipients]
        if self.srs is not None:
            now = time.time()
            verdicts = {r: self.srs.check(r, now) for r in recipients}
            judged = [v for v in verdicts.values() if v is not None]
            if judged:
                decision = srs(self.policy, finding, judged)
                others = [r for r, v in verdicts.items() if v is None]
                if not others or not decision.matched:
                    return decision
                recipients = others  # the SRS ones are ours: the rest decide as ever
        return self._lookup(recipients, finding, claim, relay)

    def _lookup(self, recipients: list[str], finding: Finding, claim: bool, relay: bool) -> Decision:
        """Decide by the ledger: references bound to each recipient, else recorded pairs."""
        wanted: dict[EntryHash, str] = {}
        via: dict[EntryHash, str] = {}  # which reference each entry stands for (weak ones have less budget)
        for rcpt in recipients:
            for ref in finding.references:
                entry = self.hasher.message(ref, rcpt)
                wanted[entry], via[entry] = rcpt, ref
        # The envelope check only ever decides a bounce without a reference: ask for
        # pairs only then, so a referenced bounce costs no pair probes.
        wanted_pairs: dict[EntryHash, tuple[str, str]] = {}
        for rcpt in recipients if not finding.references else ():
            for other in finding.recipients_of_original:
                wanted_pairs[self.hasher.pair(rcpt, other)] = (rcpt, other)
        if not wanted and not wanted_pairs:
            return decide(self.policy, finding, recipients, {}, relay=relay)
        try:
            hits = self.ledger.find_kinds({MESSAGE: list(wanted), PAIR: list(wanted_pairs)})
        except LedgerUnavailable as exc:
            return unreachable(self.policy, finding, str(exc).splitlines()[0][:120])
        found: dict[str, list[Match]] = {}
        for entry, match in hits.get(MESSAGE, {}).items():
            found.setdefault(wanted[entry], []).append(match)
        pairs: dict[str, list[str]] = {}
        for entry in hits.get(PAIR, {}):
            rcpt, other = wanted_pairs[entry]
            pairs.setdefault(rcpt, []).append(other)
        decision = decide(self.policy, finding, recipients, found, pairs, via, relay)
        if decision.action == REJECT and decision.cause in LEDGER_DEPENDENT and self._catching_up():
            return catching_up(self.policy, finding)
        if claim and decision.matches:
            return self._claim(decision, finding, recipients, pairs, via, relay)
        return decision

    def _catching_up(self) -> bool:
        """Records of ours may still wait in a spool (here, or being drained anywhere)."""
        if self.spool is not None and self.spool.pending():
            return True
        try:
            return self.ledger.catching_up()
        except LedgerUnavailable:
            return True  # cannot tell: a 451 costs a retry, a wrong 550 costs a bounce

    def _claim(self, decision: Decision, finding: Finding, recipients: list[str],
               pairs: dict[str, list[str]], via: dict[EntryHash, str], relay: bool = False) -> Decision:
        """Take the accepted bounce's units of budget; a lost race turns the accept into a refusal."""
        matches = decision.matches
        token = uuid.uuid4().hex  # a retry of this claim (the reply was lost) counts once
        budgets = [per_recipient(self.policy, finding, m, via) for m in matches]
        try:
            results = self.ledger.claim(matches, self.policy.matches_per_recipient, token=token,
                                        budgets=budgets)
        except LedgerUnavailable as exc:
            # The lookup saw the original within budget: accept, and count it when Redis can.
            if self.later is None or not self.later(lambda pipe: self._queue_counts(pipe, matches, token)):
                log.warning("could not count a match (%s): the bounce is accepted uncounted", exc)
            return decision
        if all(r == CLAIMED for r in results):
            return decision
        taken = [m for m, r in zip(matches, results, strict=True) if r == CLAIMED]
        if taken:
            try:
                self.ledger.unclaim(taken)
            except LedgerUnavailable as exc:
                log.warning("could not give back %d count(s): %s", len(taken), exc)
        if any(r == GONE for r in results):  # expired between lookup and claim
            return decide(self.policy, finding, recipients, {}, pairs, relay=relay)
        return budget_spent(self.policy, finding)

    def _queue_counts(self, pipe: Pipeline, matches: tuple[Match, ...], token: str) -> None:
        for match in matches:
            self.ledger.queue_count(pipe, match, token=token)

    def count(self, decision: Decision) -> None:
        """Count an accepted bounce against its originals' budgets (best effort; replay, tests).

        The milter does not call this: ``inspect(..., claim=True)`` counts as it decides.
        """
        if not decision.matches:
            return
        try:
            self.ledger.claim(decision.matches, 0)
        except LedgerUnavailable as exc:
            log.warning("could not count a match: %s", exc)


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
