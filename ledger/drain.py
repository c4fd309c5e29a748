"""Drain the outbound spool into the ledger once Redis answers again.

The outbound milter runs one :class:`Drainer` thread; ``sender-ledger spool
flush`` calls :func:`drain` once. Draining never touches the mail path: the
milter keeps answering while it runs, and a message that fails to record
meanwhile is simply appended to a fresh segment.

While a drain is under way it keeps a short-lived flag in Redis
(:meth:`ledger.store.Ledger.mark_catching_up`): an inbound check that would
refuse a bounce answers 451 instead while the flag stands, because the
bounce's original may be one of the records not yet replayed.
"""

from __future__ import annotations

import logging
import threading
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field

from ledger.errors import LedgerUnavailable
from ledger.spool import Segment, Spool, SpooledRecord
from ledger.store import Ledger

log = logging.getLogger("sender-ledger.spool")

BATCH = 500  # records per round trip
# How long the flag outlives the last replayed batch: long enough for a lookup
# that started before the batch landed to be answered 451, short enough that
# forged bounces are refused again seconds after the drain.
CATCHING_UP_SECONDS = 5.0


@dataclass
class DrainResult:
    """What one drain did."""

    replayed: int = 0  # records written to the ledger
    new: int = 0  # of those, records that were not there yet (the rest had landed after all)
    skipped: int = 0  # malformed or torn lines
    segments: int = 0  # segments emptied and removed
    error: str | None = None  # why it stopped early (the ledger failed again)
    new_by_day: Counter[int] = field(default_factory=Counter)


def drain(spool: Spool, ledger: Ledger, *, seal: bool = True) -> DrainResult:
    """Replay every segment no writer holds; stop at the first ledger error.

    A segment is removed only once all its records are in the ledger; a
    failure halfway leaves it whole, and the next drain writes it again
    (idempotent).
    """
    result = DrainResult()
    if not spool.segments():
        return result
    try:
        # Raise the flag first: it also tells whether Redis answers at all, so an
        # outage does not seal (and so multiply) segments every second.
        ledger.mark_catching_up(CATCHING_UP_SECONDS)
    except LedgerUnavailable as exc:
        result.error = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        return result
    if seal:
        spool.seal()  # our own active segment becomes replayable
    for segment in spool.claim():
        try:
            _replay_segment(segment, ledger, result)
        except LedgerUnavailable as exc:
            result.error = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            break
    return result


def _replay_segment(segment: Segment, ledger: Ledger, result: DrainResult) -> None:
    records = segment.records()
    ledger.mark_catching_up(CATCHING_UP_SECONDS)
    for start in range(0, len(records), BATCH):
        chunk: list[SpooledRecord] = records[start:start + BATCH]
        counts = ledger.record_many([(r.day, r.batches) for r in chunk])
        ledger.mark_catching_up(CATCHING_UP_SECONDS)
        for record, new in zip(chunk, counts, strict=True):
            result.replayed += 1
            if new:
                result.new += 1
                result.new_by_day[record.day] += 1
    segment.remove()
    result.segments += 1
    result.skipped += segment.skipped


class Drainer:
    """A daemon thread that drains the spool whenever it holds records and Redis answers.

    ``on_result`` is told of every drain that replayed something (the
    observer counts the records as recorded on their day).
    """

    def __init__(self, spool: Spool, ledger: Ledger, interval: float = 1.0,
                 on_result: Callable[[DrainResult], None] | None = None) -> None:
        self.spool = spool
        self.ledger = ledger
        self.interval = interval
        self.on_result = on_result
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._thread = threading.Thread(target=self._run, name="spool-drainer", daemon=True)
        self._last_error: str | None = None

    def start(self) -> Drainer:
        self._thread.start()
        return self

    def wake(self) -> None:
        """Drain soon (a record was just spooled)."""
        self._wake.set()

    def stop(self, timeout: float = 5.0) -> None:
        self._stop.set()
        self._wake.set()
        self._thread.join(timeout)

    def _run(self) -> None:
        while not self._stop.is_set():
            self._wake.wait(self.interval)
            self._wake.clear()
            if self._stop.is_set():
                break
            try:
                self.run_once()
            except Exception:  # the drainer must outlive any bug: the spool keeps the records
                log.exception("spool drain failed")

    def run_once(self) -> DrainResult | None:
        """One drain if anything is pending; logs what happened."""
        if not self.spool.pending():
            return None
        result = drain(self.spool, self.ledger)
        if result.replayed or result.skipped:
            log.info("replayed %d record(s) from the spool %s (%d new, %d already in the ledger, "
                     "%d unreadable line(s) skipped)", result.replayed, self.spool.directory,
                     result.new, result.replayed - result.new, result.skipped)
            if self.on_result is not None:
                self.on_result(result)
        if result.error and result.error != self._last_error:
            log.warning("spool %s: ledger still unavailable, records kept: %s",
                        self.spool.directory, result.error)
        self._last_error = result.error
        return result
