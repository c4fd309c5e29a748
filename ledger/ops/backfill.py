"""Backfill: record the mail a domain sent, as its old Postfix logs tell it.

So that bounces of mail sent before sender-ledger was installed are not
refused. Per queue id, the log lines of one message are joined::

    smtpd "client=" / pickup "uid= from="   where it came in (must be an outbound service)
    cleanup "message-id=<...>"              the Message-ID
    qmgr "from=<...>, nrcpt=N"              envelope sender and recipient count
    delivery agents "to=<...>"              recipients (alias expansion may add some)
    qmgr "removed"                          lifecycle over: record it, forget the queue id

A message is recorded on the UTC day its first line was logged, exactly as
the outbound milter would have recorded it (same :class:`~ledger.record.Recorder`
entries). Memory is bounded by the messages in flight, not by the log's size.
"""

from __future__ import annotations

import gzip
import os
import time
from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field

from ledger import msgid
from ledger.hashing import MESSAGE, PAIR, EntryHash
from ledger.ops import postfix_log as plog
from ledger.record import Recorder, SentMessage
from ledger.store import RECIPIENT_CAP, Ledger

MAX_PENDING = 200_000  # queue ids in flight; past this the oldest are settled early
BATCH = 2000  # entries per Redis round trip


def day_name(day: int) -> str:
    return time.strftime("%Y-%m-%d", time.gmtime(day * 86400))


@dataclass
class _Pending:
    day: int
    origin: str | None = None
    message_id: str | None = None
    mail_from: str | None = None
    nrcpt: int = 0
    recipients: set[str] = field(default_factory=set)


@dataclass
class FileReport:
    path: str
    lines: int = 0
    error: str | None = None


@dataclass
class Report:
    """What backfill took and what it skipped, and why."""

    files: list[FileReport] = field(default_factory=list)
    unrecognised_lines: int = 0
    malformed_lines: int = 0
    messages: int = 0
    recorded: int = 0
    new_entries: int = 0
    unfinished_recorded: int = 0
    skipped: Counter[str] = field(default_factory=Counter)
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


class _Writer:
    """Batches entries by (kind, day, recipients) so a big log costs few round trips."""

    def __init__(self, ledger: Ledger | None) -> None:
        self.ledger = ledger
        self.pending: dict[tuple[bytes, int, int], list[EntryHash]] = defaultdict(list)
        self.size = 0
        self.new = 0

    def add(self, entries: Iterable[EntryHash], day: int, recipients: int, kind: bytes = MESSAGE) -> None:
        group = self.pending[(kind, day, min(max(1, recipients), RECIPIENT_CAP))]
        before = len(group)
        group.extend(entries)
        self.size += len(group) - before
        if self.size >= BATCH:
            self.flush()

    def flush(self) -> None:
        if self.ledger is not None:
            for (kind, day, recipients), entries in self.pending.items():
                new = self.ledger.record(entries, recipients=recipients, kind=kind, day=day)
                if kind == MESSAGE:
                    self.new += new
        self.pending.clear()
        self.size = 0


class Backfill:
    """Feed it log files; it records what passed through an outbound service."""

    def __init__(self, recorder: Recorder, outbound_services: Iterable[str], dry_run: bool = False) -> None:
        self.recorder = recorder
        self.outbound = frozenset(outbound_services)
        self.report = Report()
        self._pending: dict[str, _Pending] = {}
        self._writer = _Writer(None if dry_run else recorder.ledger)

    def read(self, paths: Iterable[str]) -> Report:
        """Read every file, oldest first (by its first dated line), then settle the rest."""
        ordered = sorted(paths, key=plog.first_timestamp)
        for path in ordered:
            self._read_file(path)
        for qid in list(self._pending):
            self._settle(qid, at_end=True)
        self._writer.flush()
        self.report.new_entries = self._writer.new
        return self.report

    def _read_file(self, path: str) -> None:
        entry = FileReport(path)
        self.report.files.append(entry)
        counts = plog.LineCounts()
        try:
            with plog.open_log(path) as stream:
                clock = plog.DayClock(os.stat(path).st_mtime)
                for event in plog.events(stream, clock, counts):
                    self._apply(event)
        except plog.LogError as exc:
            entry.error = str(exc)
        except (EOFError, gzip.BadGzipFile, OSError) as exc:
            entry.error = f"{path}: read stopped after {counts.lines} lines: {exc}"
        entry.lines = counts.lines
        self.report.unrecognised_lines += counts.unrecognised
        self.report.malformed_lines += counts.malformed

    def _apply(self, event: plog.Event) -> None:
        kind = event.kind
        if kind == plog.MALFORMED:
            return
        state = self._pending.get(event.qid)
        if kind == plog.ORIGIN:
            if state is not None:  # the queue id was reused: settle the old message first
                self._settle(event.qid, at_end=True)
            self._pending[event.qid] = _Pending(day=event.day, origin=event.prog)
            self._bound()
            return
        if state is None:
            if kind in (plog.REMOVED, plog.DELIVERY):
                return
            state = self._pending[event.qid] = _Pending(day=event.day)
            self._bound()
        if kind == plog.MESSAGE_ID:
            if state.message_id is None:
                state.message_id = event.value
        elif kind == plog.QUEUED:
            state.mail_from = event.value
            state.nrcpt = max(state.nrcpt, event.count)
        elif kind == plog.DELIVERY:
            if len(state.recipients) < RECIPIENT_CAP:
                state.recipients.add(event.value.lower())
        elif kind == plog.REFUSED:
            del self._pending[event.qid]
            self.report.messages += 1
            self.report.skipped[f"refused before queueing ({event.value})"] += 1
        elif kind == plog.REMOVED:
            self._settle(event.qid, at_end=False)

    def _bound(self) -> None:
        while len(self._pending) > MAX_PENDING:
            self._settle(next(iter(self._pending)), at_end=True)

    def _skip(self, reason: str) -> None:
        self.report.skipped[reason] += 1

    def _settle(self, qid: str, at_end: bool) -> None:
        """The message's lifecycle is over (or the log is): record it or say why not."""
        state = self._pending.pop(qid)
        self.report.messages += 1
        if state.mail_from == "":
            self._skip("null sender (a bounce or notification of our own)")
        elif state.origin is None:
            self._skip("no origin line (made by Postfix itself, or logged before the first file)")
        elif state.origin not in self.outbound:
            self._skip(f"came in through {state.origin} (not an outbound service)")
        elif state.mail_from is None:
            self._skip("never queued: no qmgr from= line" + (" by the end of the logs" if at_end else ""))
        elif state.message_id is None:
            self._skip("no message-id= line")
        elif msgid.normalise(state.message_id) is None:
            self._skip("unusable Message-ID")
        else:
            self._record(state, at_end)

    def _record(self, state: _Pending, at_end: bool) -> None:
        recipients = max(state.nrcpt, len(state.recipients), 1)
        sent = SentMessage(mail_from=state.mail_from or "", recipients=sorted(state.recipients),
                           message_id=state.message_id)
        result = self.recorder.entries(sent)
        if not result.entries:
            self._skip(result.reason)
            return
        self._writer.add(result.entries, state.day, recipients)
        self._writer.add(result.pairs, state.day, 1, PAIR)  # for the envelope check
        self.report.recorded += 1
        self.report.days[state.day] += 1
        if at_end:
            self.report.unfinished_recorded += 1
