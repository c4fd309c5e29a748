"""Follow: record the mail a domain sends from its Postfix logs, live.

For a relay where no milter can be installed, and as a second safety net for
the outbound milter (a message recorded by both is stored once: HSETNX).
What it records and why it skips are backfill's rules, shared through
:class:`ledger.ops.assemble.Assembler` (with ``early``: a message is recorded
as soon as its origin, Message-ID, qmgr ``from=`` and a ``to=`` line for each
of its ``nrcpt`` recipients are in, else at ``removed``, else when its queue id
has been quiet for ``expire_seconds``).

Records go through :meth:`ledger.record.Recorder.record` with the outbound
spool: during a Redis outage they are spooled (fsync'd) and the drainer
replays them; only a full or failing spool loses one, and that is logged.

Restarts lose and duplicate nothing: the state file keeps, per source, where
the oldest message not yet recorded began (:mod:`ledger.ops.follow_state`);
after a restart, lines from there on are read again. A message recorded
before the restart is then recorded again, which the ledger ignores, and the
day counter ``recorded`` only counts a record whose entries were new.

Costs: per poll (every ``interval`` seconds) one read per file; per message
one Redis round trip; per checkpoint (at most once a second, when anything
moved) one small fsync'd file. Memory: the assemblers' messages in flight
(bounded, see :data:`ledger.ops.assemble.MAX_PENDING`).
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from ledger.errors import LedgerUnavailable
from ledger.ops import follow_state, journal
from ledger.ops import postfix_log as plog
from ledger.ops.assemble import Assembler, Ready, Tally
from ledger.ops.tail import FileTail, Position
from ledger.record import Recorder

log = logging.getLogger("sender-ledger.follow")

INTERVAL = 0.2  # seconds between polls of the files
CHECKPOINT_SECONDS = 1.0
EXPIRE_SECONDS = 3600.0  # a queue id quiet this long is settled (e.g. a held message)


@dataclass
class FollowReport(Tally):
    """What the follower read and did since it started."""

    lines: int = 0
    unrecognised_lines: int = 0
    malformed_lines: int = 0
    recorded: int = 0  # records written to the ledger or spooled
    new: int = 0  # of the written ones, those not in the ledger before (the day counter's)
    spooled: int = 0
    lost: int = 0
    expired: int = 0

    def summary(self, in_flight: int) -> str:
        return (f"{self.lines} lines, {self.messages} messages: {self.recorded} recorded "
                f"({self.new} new, {self.spooled} spooled), {self.lost} lost, "
                f"{sum(self.skipped.values())} skipped; {in_flight} in flight")


class _FileSource:
    def __init__(self, path: str, tail: FileTail, assembler: Assembler) -> None:
        self.path = path
        self.tail = tail
        self.assembler = assembler
        self.counts = plog.LineCounts()
        self._clock = plog.DayClock(time.time())

    def poll(self, now: float) -> bool:
        lines = self.tail.poll(now)
        if not lines:
            return False
        if now - self._clock.reference > 3600:
            self._clock = plog.DayClock(now)  # traditional stamps: the year of now
        for position, raw in lines:
            event = plog.line_event(raw, self._clock, self.counts)
            if event is not None:
                self.assembler.apply(event, position, now)
        return True

    def checkpoint(self) -> Position | None:
        mark = self.assembler.oldest_mark()
        return mark if isinstance(mark, Position) else self.tail.position()


@dataclass(frozen=True)
class _Before:
    """A journal mark: the cursor of the entry before a message's first one."""

    cursor: str | None


class _JournalSource:
    def __init__(self, reader: journal.LineReader, assembler: Assembler, cursor: str | None) -> None:
        self.reader = reader
        self.assembler = assembler
        self.counts = plog.LineCounts()
        self.cursor = cursor  # of the last entry read

    def poll(self, timeout: float, now: float) -> bool:
        lines = self.reader.read(timeout)
        for line in lines:
            entry = journal.parse(line, self.counts)
            if entry is None:
                continue
            before = _Before(self.cursor)
            if entry.cursor is not None:
                self.cursor = entry.cursor
            event = journal.event(entry, self.counts)
            if event is not None:
                self.assembler.apply(event, before, now)
        return bool(lines)

    def checkpoint(self) -> str | None:
        mark = self.assembler.oldest_mark()
        return mark.cursor if isinstance(mark, _Before) else self.cursor


class Follower:
    """Reads its sources, records what they say was sent, keeps its state file."""

    def __init__(self, recorder: Recorder, outbound_services: Iterable[str], state_path: str,
                 count_new: Callable[[int], None] | None = None,
                 on_spooled: Callable[[], None] | None = None,
                 expire_seconds: float = EXPIRE_SECONDS) -> None:
        self.recorder = recorder
        self.outbound = tuple(outbound_services)
        self.state_path = state_path
        self.state = follow_state.load(state_path)
        self.count_new = count_new
        self.on_spooled = on_spooled
        self.expire_seconds = expire_seconds
        self.report = FollowReport()
        self.files: list[_FileSource] = []
        self.journal: _JournalSource | None = None
        self._dirty = True
        self._saved_at = 0.0

    def _assembler(self) -> Assembler:
        return Assembler(self.outbound, self._record, self.report, early=True)

    def add_file(self, path: str, from_start: bool = False) -> FileTail:
        tail = FileTail(path, self.state.files.get(path), from_start)
        if not os.path.exists(path):
            log.warning("%s does not exist (yet): waiting for it", path)
        if tail.lost_on_resume:
            log.warning("%s: the file it was reading when it stopped is gone (rotated and "
                        "compressed?): lines it had not read there are not recorded; "
                        "run backfill on the rotated file", path)
        self.files.append(_FileSource(path, tail, self._assembler()))
        return tail

    def add_journal(self, fd: int) -> None:
        self.journal = _JournalSource(journal.LineReader(fd), self._assembler(), self.state.cursor)

    # -- running ---------------------------------------------------------------
    def step(self, timeout: float = INTERVAL) -> bool:
        """One poll of every source; False once the journal input has ended."""
        now = time.time()
        moved = False
        for source in self.files:
            moved |= source.poll(now)
        if self.journal is not None:
            moved |= self.journal.poll(timeout, time.time())
            if self.journal.reader.eof:
                self._dirty = True
                return False
        elif timeout > 0:
            time.sleep(timeout)
        for assembler in self._assemblers():
            self.report.expired += assembler.expire(now - self.expire_seconds)
        self._dirty |= moved
        if self._dirty and time.monotonic() - self._saved_at >= CHECKPOINT_SECONDS:
            self.checkpoint()
        return True

    def run(self, keep_going: Callable[[], bool], status_every: float | None = None) -> None:
        last_status = time.monotonic()
        while keep_going() and self.step():
            if status_every and time.monotonic() - last_status >= status_every:
                last_status = time.monotonic()
                log.info("follow: %s", self.report.summary(self.in_flight()))

    def close(self) -> None:
        """Write the state a last time (nothing is settled early: a restart goes on from it)."""
        self._dirty = True
        self.checkpoint()
        for source in self.files:
            source.tail.close()

    def in_flight(self) -> int:
        return sum(len(a) for a in self._assemblers())

    def _assemblers(self) -> list[Assembler]:
        found = [s.assembler for s in self.files]
        return found + ([self.journal.assembler] if self.journal is not None else [])

    def checkpoint(self) -> None:
        self._update_counts()
        for source in self.files:
            position = source.checkpoint()
            if position is not None:
                self.state.files[source.path] = position
        if self.journal is not None:
            self.state.cursor = self.journal.checkpoint()
        follow_state.save(self.state_path, self.state)
        self._dirty = False
        self._saved_at = time.monotonic()

    def _update_counts(self) -> None:
        counts = [s.counts for s in self.files] + ([self.journal.counts] if self.journal else [])
        self.report.lines = sum(c.lines for c in counts)
        self.report.unrecognised_lines = sum(c.unrecognised for c in counts)
        self.report.malformed_lines = sum(c.malformed for c in counts)

    # -- recording -------------------------------------------------------------
    def _record(self, ready: Ready) -> None:
        try:
            result = self.recorder.record(ready.sent, day=ready.day, recipients=ready.recipients)
        except LedgerUnavailable as exc:  # SpoolFailed too: the spool could not keep it
            self.report.lost += 1
            log.error("a message of day %s went unrecorded (LOST): %s", ready.day,
                      str(exc).splitlines()[0] if str(exc) else type(exc).__name__)
            return
        if not result.entries:
            if not ready.again:
                self.report.skipped[result.reason] += 1
            return
        if ready.again:
            return  # more pairs for a message already counted
        self.report.recorded += 1
        if result.spooled is not None:
            self.report.spooled += 1
            if self.on_spooled is not None:
                self.on_spooled()
        elif result.new:
            self.report.new += 1
            if self.count_new is not None:
                self.count_new(ready.day)
