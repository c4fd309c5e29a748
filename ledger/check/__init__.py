"""Check: recognise backscatter and find the references to the original in it.

``screen`` looks at the envelope and headers only (cheap, decides whether the
body is needed at all); ``examine`` runs the detector pipeline on a parsed
candidate.
"""

from __future__ import annotations

from dataclasses import replace

from ledger.check.candidate import Candidate, screen
from ledger.check.detectors import DETECTORS, Detector, Finding
from ledger.check.message import Envelope, ParsedMessage, parse


def examine(message: ParsedMessage, detectors: tuple[Detector, ...] = DETECTORS) -> Finding | None:
    """The first detector's finding, with the bounce's own Message-ID removed."""
    own = message.own_id
    for detector in detectors:
        finding = detector.detect(message)
        if finding is not None:
            refs = tuple(r for r in finding.references if r != own)
            return replace(finding, references=refs)
    return None


__all__ = ["Candidate", "Envelope", "Finding", "ParsedMessage", "examine", "parse", "screen"]
