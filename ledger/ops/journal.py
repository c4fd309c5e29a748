"""Read Postfix's lines from the systemd journal: ``journalctl -o json`` entries.

One JSON object per line (journalctl's export as JSON); the fields used are
``MESSAGE`` (a string, or an array of bytes when it is not UTF-8),
``SYSLOG_IDENTIFIER`` (``postfix/cleanup``, ``postfix/submission/smtpd``: the
same program names as in a mail log), ``__REALTIME_TIMESTAMP`` (microseconds
since the epoch, UTC: the day needs no year inference) and ``__CURSOR`` (where
to resume: ``journalctl --after-cursor``). A line that is not such an object
is counted and skipped.

:class:`LineReader` reads lines from a pipe with a timeout (``select``), so a
follower blocked on a quiet journal still does its periodic work.
"""

from __future__ import annotations

import json
import os
import select
from dataclasses import dataclass

from ledger.ops import postfix_log as plog

MAX_LINE = 1024 * 1024  # one journal entry as JSON; a longer one is dropped


@dataclass(frozen=True)
class Entry:
    cursor: str | None
    prog: str
    message: str
    day: int


def parse(line: bytes, counts: plog.LineCounts) -> Entry | None:
    """One ``journalctl -o json`` line, or None (counted as unrecognised) if it is not one."""
    counts.lines += 1
    try:
        raw = json.loads(line)
        message = raw.get("MESSAGE")
        if isinstance(message, list):  # not UTF-8: journalctl gives the bytes
            message = bytes(message).decode("utf-8", "replace")
        prog = raw.get("SYSLOG_IDENTIFIER")
        stamp = int(raw["__REALTIME_TIMESTAMP"])
        cursor = raw.get("__CURSOR")
    except (ValueError, KeyError, TypeError, AttributeError):
        counts.unrecognised += 1
        return None
    if not isinstance(message, str) or not isinstance(prog, str):
        counts.unrecognised += 1
        return None
    return Entry(cursor if isinstance(cursor, str) else None, prog, message,
                 stamp // 1_000_000 // plog.SECONDS_PER_DAY)


def event(entry: Entry, counts: plog.LineCounts) -> plog.Event | None:
    """The backfill event of a journal entry: the same rules as for a log line."""
    return plog.message_event(entry.prog, entry.message, entry.day, counts)


class LineReader:
    """Complete lines from a pipe's file descriptor, waiting at most ``timeout`` per call."""

    def __init__(self, fd: int) -> None:
        self.fd = fd
        self.eof = False
        self._buffer = b""
        self._skipping = False  # inside an over-long line

    def read(self, timeout: float) -> list[bytes]:
        if self.eof:
            return []
        ready, _, _ = select.select([self.fd], [], [], timeout)
        if not ready:
            return []
        chunk = os.read(self.fd, 256 * 1024)
        if not chunk:
            self.eof = True
            return []
        data = self._buffer + chunk
        lines = data.split(b"\n")
        self._buffer = lines.pop()
        out: list[bytes] = []
        for line in lines:
            if self._skipping:
                self._skipping = False
                continue
            out.append(line)
        if len(self._buffer) > MAX_LINE:
            self._buffer, self._skipping = b"", True
        return out
