"""The interface every detector implements, and what it returns."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from ledger.check.message import Cut, ParsedMessage


@dataclass(frozen=True)
class Finding:
    """What a detector recognised.

    ``kind`` names the backscatter family (``dsn``, ``bounce``, ``virus``,
    ``challenge``, ``subscription``, ``autoreply``, ``mdn``, ``arf``,
    ``unknown``). ``references`` are normalised Message-IDs of the original,
    best first. ``form`` is True when the message has a recognised
    backscatter *form* (which may justify a rejection); False when only a
    heuristic fired (which may at most tag). ``recipients_of_original`` are
    the normalised addresses the original was sent to, when the message
    states them (for the envelope check). ``cut`` says why the reading of the
    message stopped short (None: it was read whole); decide turns a cut
    reading without a reference into the unmatched answer, or a tempfail when
    the cut was our own side's (time budget, failing detector). ``weak`` are
    the references that are only weak matches (a Message-ID without "@",
    taken from the Message-ID field of a returned header section): decide
    gives a match through one of them a smaller bounce budget
    (docs/policy.md, "Weak references").
    """

    kind: str
    references: tuple[str, ...] = ()
    form: bool = True
    detector: str = ""
    recipients_of_original: tuple[str, ...] = ()
    cut: Cut | None = None
    weak: tuple[str, ...] = ()


class Detector(Protocol):
    """Recognise one family of backscatter and find the original's IDs in it."""

    name: str

    def detect(self, message: ParsedMessage) -> Finding | None:
        """A :class:`Finding` if the message is of this family, else None."""
        ...
