"""Detectors, one per backscatter family, tried in order (most specific first)."""

from __future__ import annotations

from ledger.check.detectors.autoreply import AutoreplyDetector
from ledger.check.detectors.base import Detector, Finding
from ledger.check.detectors.dsn import DsnDetector
from ledger.check.detectors.mdn import MdnDetector
from ledger.check.detectors.nullsender import NullSenderDetector

DETECTORS: tuple[Detector, ...] = (
    DsnDetector(),
    MdnDetector(),
    AutoreplyDetector(),
    NullSenderDetector(),
)

__all__ = ["DETECTORS", "Detector", "Finding"]
