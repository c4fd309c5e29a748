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
from ledger.check.message import Envelope, Limits, ParsedMessage, parse

log = logging.getLogger("sender-ledger.check")


def examine(message: ParsedMessage, detectors: tuple[Detector, ...] = DETECTORS) -> Finding | None:
    """The first detector's finding, cleaned: never the bounce's own ID, never our own user.

    A detector that fails on hostile input is skipped; a finding reached after
    such a failure is demoted to a heuristic, so our own fault can never cause
    a rejection.
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
            continue
        if finding is not None:
            refs = tuple(r for r in finding.references if r != own)
            rcpts = tuple(r for r in finding.recipients_of_original if r and r not in ours)
            return replace(finding, references=refs, recipients_of_original=rcpts,
                           form=finding.form and not failed)
    return None


__all__ = ["Candidate", "Envelope", "Finding", "Limits", "ParsedMessage", "Screener", "examine", "parse",
           "screen"]
