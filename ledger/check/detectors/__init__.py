"""Detectors, one module per backscatter family, tried in this fixed order.

One name per family: the module, the class (``<Family>Detector``), the
detector's ``name`` and the kind of its findings agree (``dsn.DsnDetector``
finds kind ``dsn``). The bounce family has two detectors in its module: by
wording early, by the null sender alone last.

Most specific first: the RFC report formats are recognised by their MIME
type alone; the notices with ordinary senders (virus, challenge,
subscription) by their system's headers and wording, before the text
bounces, whose generic wording they may share; autoreplies after those,
because challenges also carry ``Auto-Submitted``; and last any null-sender
message no one else recognised.
"""

from __future__ import annotations

from ledger.check.detectors.arf import ArfDetector
from ledger.check.detectors.autoreply import AutoreplyDetector
from ledger.check.detectors.base import Detector, Finding
from ledger.check.detectors.bounce import BounceDetector, NullSenderBounceDetector
from ledger.check.detectors.challenge import ChallengeDetector
from ledger.check.detectors.dsn import DsnDetector
from ledger.check.detectors.mdn import MdnDetector
from ledger.check.detectors.subscription import SubscriptionDetector
from ledger.check.detectors.virus import VirusDetector

DETECTORS: tuple[Detector, ...] = (
    DsnDetector(),
    MdnDetector(),
    ArfDetector(),
    VirusDetector(),
    ChallengeDetector(),
    SubscriptionDetector(),
    BounceDetector(),
    AutoreplyDetector(),
    NullSenderBounceDetector(),
)

__all__ = ["DETECTORS", "Detector", "Finding"]
