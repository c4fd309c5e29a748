"""Backfill: record the mail a domain sent, as its old Postfix logs tell it.

So that bounces of mail sent before sender-ledger was installed are not
refused. Per queue id, the log lines of one message are joined::

    smtpd "client=" / pickup "uid= from="   where it came in (must be an outbound service)
    cleanup "message-id=<...>"              the Message-ID
    qmgr "from=<...>, nrcpt=N"              envelope sender and recipient count
    delivery agents "to=<...>"              recipients (alias expansion may add some)
    qmgr "removed"                          lifecycle over: record it, forget the queue id

(the rules live in :mod:`ledger.ops.assemble`, shared with ``follow``).

Debian 12 logs Postfix to the systemd journal only (no /var/log/mail.log without
rsyslog): :meth:`Backfill.read_journal` takes ``journalctl -o json`` output instead
(:mod:`ledger.ops.journal`, the parser ``follow --journal`` uses), with the same rules.

A message is recorded on the UTC day its first line was logged, exactly as
the outbound milter would have recorded it (the same
:meth:`~ledger.record.Recorder.record`, gathered in batches of ``BATCH`` entries
per round trip). Memory is bounded by the messages in flight, not by the log's size.
"""

from __future__ import annotations

import gzip
import os
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import IO

from ledger.days import date_of
from ledger.ops import journal
from ledger.ops import postfix_log as plog
from ledger.ops.assemble import MAX_PENDING, Assembler, Ready, Tally
from ledger.record import RecordBatch, Recorder

__all__ = ["MAX_PENDING", "Backfill", "FileReport", "Report", "day_name"]

BATCH = 2000  # entries per Redis round trip


def day_name(day: int) -> str:
    return date_of(day)


@dataclass
class FileReport:
    path: str
    lines: int = 0
    error: str | None = None


@dataclass
class Report(Tally):
    """What backfill took and what it skipped (``messages``, ``skipped``: see Tally), and why."""

    files: list[FileReport] = field(default_factory=list)
    unrecognised_lines: int = 0
    malformed_lines: int = 0
    recorded: int = 0
    new_entries: int = 0
    unfinished_recorded: int = 0
    days: Counter[int] = field(default_factory=Counter)

    def as_dict(self) -> dict[str, object]:
        return {
            "files": [{"path": f.path, "lines": f.lines, "error": f.error} for f in self.files],
            "lines": sum(f.lines for f in self.files),
            "unrecognised_lines": self.unrecognised_lines,
            "malformed_lines": self.malformed_lines,
            "messages": self.messages,
            "recorded": self.recorded,
            "recorded_unfinished": self.unfinished_recorded,
            "new_entries": self.new_entries,
            "skipped": dict(self.skipped.most_common()),
            "days": {day_name(d): n for d, n in sorted(self.days.items())},
        }


PROGRESS_EVERY = 256  # events between two progress calls


def file_size(path: str) -> int:
    """The size on disk (compressed, for a .gz): what :func:`raw_position` counts in."""
    try:
        return os.stat(path).st_size
    except OSError:
        return 0


def raw_position(stream: IO[bytes]) -> int:
    """How far into the file on disk ``stream`` has read (for a gzip stream: the compressed file)."""
    inner = stream.fileobj if isinstance(stream, gzip.GzipFile) else stream
    try:
        return int(inner.tell()) if inner is not None else 0
    except (OSError, ValueError):
        return 0


class Backfill:
    """Feed it log files; it records what passed through an outbound service."""

    def __init__(self, recorder: Recorder, outbound_services: Iterable[str], dry_run: bool = False,
                 on_progress: Callable[[int, int], None] | None = None) -> None:
        """``on_progress(bytes read, messages recorded)`` is called as the files are read."""
        self.recorder = recorder
        self.on_progress = on_progress
        self._done = 0  # bytes of the files read before the current one
        self.report = Report()
        self._assembler = Assembler(outbound_services, self._record, self.report)
        self._batch = RecordBatch(None if dry_run else recorder.ledger, BATCH)

    @property
    def outbound(self) -> frozenset[str]:
        return self._assembler.outbound

    def read(self, paths: Iterable[str]) -> Report:
        """Read every file, oldest first (by its first dated line), then settle the rest."""
        ordered = sorted(paths, key=plog.first_timestamp)
        for path in ordered:
            self._read_file(path)
            self._done += file_size(path)
        self._assembler.finish()
        self._batch.flush()
        self.report.new_entries = self._batch.new
        return self.report

    def read_journal(self, streams: Iterable[tuple[str, IO[bytes]]]) -> Report:
        """Read ``journalctl -o json`` output, one (name, stream) at a time, in the order given
        (journalctl gives entries oldest first), then settle the rest."""
        for name, stream in streams:
            entry = FileReport(name)
            self.report.files.append(entry)
            counts = plog.LineCounts()
            try:
                for line in stream:
                    parsed = journal.parse(line, counts)
                    event = journal.event(parsed, counts) if parsed is not None else None
                    if event is not None:
                        self._assembler.apply(event)
            except OSError as exc:
                entry.error = f"{name}: read stopped after {counts.lines} lines: {exc}"
            entry.lines = counts.lines
            self.report.unrecognised_lines += counts.unrecognised
            self.report.malformed_lines += counts.malformed
        self._assembler.finish()
        self._batch.flush()
        self.report.new_entries = self._batch.new
        return self.report

    def _read_file(self, path: str) -> None:
        entry = FileReport(path)
        self.report.files.append(entry)
        counts = plog.LineCounts()
        try:
            with plog.open_log(path) as stream:
                clock = plog.DayClock(os.stat(path).st_mtime)
                for n, event in enumerate(plog.events(stream, clock, counts)):
                    self._assembler.apply(event)
                    if self.on_progress is not None and not n % PROGRESS_EVERY:
                        self.on_progress(self._done + raw_position(stream), self.report.recorded)
        except plog.LogError as exc:
            entry.error = str(exc)
        except (EOFError, gzip.BadGzipFile, OSError) as exc:
            entry.error = f"{path}: read stopped after {counts.lines} lines: {exc}"
        entry.lines = counts.lines
        self.report.unrecognised_lines += counts.unrecognised
        self.report.malformed_lines += counts.malformed

    def _record(self, ready: Ready) -> None:
        # The milter's own record (same entries, pairs and recipient count), gathered in batches.
        result = self.recorder.record(ready.sent, day=ready.day, recipients=ready.recipients,
                                      into=self._batch)
        if not result.entries:
            self.report.skipped[result.reason] += 1
            return
        self.report.recorded += 1
        self.report.days[ready.day] += 1
        if ready.at_end:
            self.report.unfinished_recorded += 1
