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
from collections.abc import Callable, Iterable
from dataclasses import replace

import redis
from redis.client import Pipeline

from ledger import addresses
from ledger.check import Candidate, Cut, Envelope, Finding, Limits, examine, parse, screen
from ledger.check.stream import DEFAULT_CAP, Scanner
from ledger.config import Config
from ledger.decide import Decision, Policy, decide, ordinary, unreachable
from ledger.hashing import MESSAGE, PAIR, EntryHash, Hasher
from ledger.store import Ledger, LedgerUnavailable, Match

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
    )


def limits_from(cfg: Config) -> Limits:
    return Limits(
        max_bytes=cfg.inbound.max_bytes,
        max_depth=cfg.inbound.max_mime_depth,
        max_parts=cfg.inbound.max_mime_parts,
        parse_seconds=cfg.inbound.parse_seconds,
    )


# Read limits the sender controls: past them the stream scan may still find the original.
_SCANNABLE = (Cut.BYTES, Cut.PARTS, Cut.DEPTH)
SCAN_CHUNK = 64 * 1024


class Inspector:
    def __init__(self, ledger: Ledger, hasher: Hasher, policy: Policy, max_bytes: int,
                 limits: Limits | None = None, scan_bytes: int = DEFAULT_CAP) -> None:
        self.ledger = ledger
        self.hasher = hasher
        self.policy = policy
        self.max_bytes = max_bytes
        self.scan_bytes = scan_bytes
        base = limits or Limits()
        self.limits = Limits(max_bytes, base.max_depth, base.max_parts, base.parse_seconds)

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
                scanner: Scanner | None = None) -> Decision:
        """Decide one message. ``candidate`` is the header-stage verdict, if known.

        ``scanner`` is the stream scan of the whole message when the caller
        holds only a prefix in ``raw`` (the milter past ``max_bytes``); without
        one, ``raw`` is scanned here when the reading was cut.
        """
        parsed = parse(raw, envelope, limits=self.limits)
        if candidate is None:
            # str(): the compat32 parser returns Header objects for 8-bit header values
            candidate = screen(envelope.mail_from, [(n, str(v)) for n, v in parsed.message.items()])
        if candidate is None:
            return ordinary()
        finding = examine(parsed) or Finding("unknown", (), form=False, detector="screen", cut=parsed.cut)
        if not finding.references and finding.cut in _SCANNABLE:
            finding = self._scanned(finding, raw, scanner, parsed.own_id)
        recipients = [addresses.normalise(r) for r in envelope.recipients]
        wanted: dict[EntryHash, str] = {}
        for rcpt in recipients:
            for ref in finding.references:
                wanted[self.hasher.message(ref, rcpt)] = rcpt
        # The envelope check only ever decides a bounce without a reference: ask for
        # pairs only then, so a referenced bounce costs no pair probes.
        wanted_pairs: dict[EntryHash, tuple[str, str]] = {}
        for rcpt in recipients if not finding.references else ():
            for other in finding.recipients_of_original:
                wanted_pairs[self.hasher.pair(rcpt, other)] = (rcpt, other)
        if not wanted and not wanted_pairs:
            return decide(self.policy, finding, recipients, {})
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
        return decide(self.policy, finding, recipients, found, pairs)

    def count_hook(self, decision: Decision) -> Callable[[Pipeline], None] | None:
        """The commands that count an accepted bounce, for another round trip to carry."""
        if not decision.matches:
            return None

        def hook(pipe: Pipeline) -> None:
            for match in decision.matches:
                self.ledger.queue_count(pipe, match)
        return hook

    def count(self, decision: Decision) -> None:
        """Count an accepted bounce against its originals' budgets (best effort)."""
        hook = self.count_hook(decision)
        if hook is None:
            return
        try:
            pipe = self.ledger.client.pipeline(transaction=False)
            hook(pipe)
            pipe.execute()
        except redis.RedisError as exc:
            log.warning("could not count a match: %s", exc)


def log_decision(envelope: Envelope, decision: Decision, logger: logging.Logger = log) -> None:
    """One line per decision: queue id, client, envelope, kind, action, reason."""
    logger.info(
        "decision qid=%s client=%s from=<%s> rcpt=%s kind=%s action=%s refs=%d reason=%r",
        envelope.queue_id or "-",
        envelope.client or "-",
        envelope.mail_from,
        ",".join(f"<{r}>" for r in envelope.recipients) or "-",
        decision.kind or "-",
        decision.action,
        len(decision.references),
        decision.reason,
    )
