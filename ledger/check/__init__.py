"""Check: recognise backscatter and find the references to the original in it.

``screen`` looks at the envelope and headers only (cheap, decides whether the
body is needed at all); ``examine`` runs the detector pipeline on a parsed
candidate.
"""

from __future__ import annotations

import logging
from dataclasses import replace

from ledger import addresses
from ledger.check.candidate import Candidate, Screener, screen
from ledger.check.detectors import DETECTORS, Detector, Finding
from ledger.check.message import Cut, Envelope, Limits, ParsedMessage, parse

log = logging.getLogger("sender-ledger.check")


def examine(message: ParsedMessage, detectors: tuple[Detector, ...] = DETECTORS) -> Finding | None:
    """The first detector's finding, cleaned: never the bounce's own ID, never our own user.

    The finding carries why the reading stopped short (``message.cut``). A
    detector that fails on hostile input is skipped and the finding is marked
    ``Cut.FAILED``: our own fault then answers tempfail (or accept on a
    ledger match), never a rejection and never a tag (which would let the
    failure turn a refusal into an accept). Nothing found after a failure is
    still a finding, of kind ``unknown``.
    """
    own = message.own_id
    ours = {addresses.normalise(r) for r in message.envelope.recipients}
    failed = False
    for detector in detectors:
        try:
            finding = detector.detect(message)
        except Exception:  # a bug meeting bad input: log it, go on, never reject because of it
            log.exception("detector %s failed", getattr(detector, "name", detector))
            failed = True
            message.mark_cut(Cut.FAILED)
            continue
        if finding is not None:
            message.note_limits()
            refs = tuple(r for r in finding.references if r != own)
            rcpts = tuple(r for r in finding.recipients_of_original if r and r not in ours)
            weak = tuple(r for r in refs if "@" not in r)  # only a returned section's Message-ID gives one
            return replace(finding, references=refs, recipients_of_original=rcpts, cut=message.cut, weak=weak)
    message.note_limits()
    if failed:
        return Finding("unknown", (), form=False, detector="failed", cut=message.cut)
    return None


__all__ = ["Candidate", "Cut", "Envelope", "Finding", "Limits", "ParsedMessage", "Screener", "examine",
           "parse", "screen"]
