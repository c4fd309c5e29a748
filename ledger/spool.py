"""The outbound spool: records the ledger could not take now, kept until it can.

A message sent while Redis is down, hung or failing over must still have its
bounces recognised later, so the outbound milter never drops a record: when
the ledger refuses one, its already-hashed entries (never a Message-ID or an
address in clear) are appended here, with their day, and replayed into Redis
in the background as soon as it answers again. Replaying is idempotent
(``HSETNX``): a record written twice counts once.

Layout: ``<spool_dir>/seg-<unix ms>-<pid>-<n>.jsonl``, one JSON line per
record::

    {"d": <UTC day>, "t": <unix time>, "k": [[<kind>, <recipients>, ["<bucket hex>:<field hex>", ...]], ...]}

Invariants and costs:

* every append is written and ``fsync``'d before the milter answers (a
  spooled record survives a crash of the milter or of the host); a new
  segment's directory entry is fsync'd too;
* a segment is written by one process, which holds an exclusive ``flock`` on
  it while it is the active segment; a replayer only replays segments it can
  lock, so it never reads a half-written one, and two replayers never replay
  the same segment at once;
* the spool is bounded by ``outbound.spool_max_bytes``: a warning is logged
  once it is 80 % full, and a record that does not fit is refused with a
  clear error (the caller logs it as lost);
* a torn last line (a crash mid-write) or a line that does not parse is
  skipped with a warning; the rest of its segment still replays.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import logging
import os
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from ledger.hashing import EntryHash

log = logging.getLogger("sender-ledger.spool")

SEGMENT_PREFIX = "seg-"
SEGMENT_SUFFIX = ".jsonl"
SEGMENT_MAX_BYTES = 4 * 1024 * 1024  # rotate the active segment past this size
WARN_RATIO = 0.8

# (kind, recipients, entries): what Ledger.record_kinds takes.
Batch = tuple[bytes, Sequence[EntryHash], int]


class SpoolError(Exception):
    """The spool cannot take a record (full, or the disk refused it)."""


@dataclass(frozen=True)
class SpooledRecord:
    """One record as the spool keeps it: its day, when it was spooled, its batches."""

    day: int
    spooled_at: float
    batches: tuple[tuple[bytes, tuple[EntryHash, ...], int], ...]

    def to_line(self) -> bytes:
        kinds = [[kind.decode(), recipients, [e.hex() for e in entries]]
                 for kind, entries, recipients in self.batches]
        return json.dumps({"d": self.day, "t": round(self.spooled_at, 3), "k": kinds},
                          separators=(",", ":")).encode() + b"\n"

    @classmethod
    def from_line(cls, line: bytes) -> SpooledRecord:
        """Parse one line; raises ValueError (or KeyError/TypeError) on anything malformed."""
        raw = json.loads(line)
        batches = []
        for kind, recipients, entries in raw["k"]:
            parsed = []
            for text in entries:
                bucket, _, field = str(text).partition(":")
                value = bytes.fromhex(field)
                if len(value) != 8:
                    raise ValueError(f"entry field of {len(value)} bytes")
                parsed.append(EntryHash(int(bucket, 16), value))
            batches.append((str(kind).encode(), tuple(parsed), int(recipients)))
        return cls(int(raw["d"]), float(raw["t"]), tuple(batches))


@dataclass(frozen=True)
class SpoolStatus:
    """What ``sender-ledger spool``, ``doctor``, ``stats`` and the metrics show."""

    directory: str
    records: int
    bytes: int
    segments: int
    oldest: float | None  # unix time of the oldest spooled record, None when empty
    max_bytes: int

    def age(self, now: float | None = None) -> float:
        if self.oldest is None:
            return 0.0
        return max(0.0, (time.time() if now is None else now) - self.oldest)

    def as_dict(self) -> dict[str, object]:
        return {"directory": self.directory, "records": self.records, "bytes": self.bytes,
                "segments": self.segments, "oldest_age_seconds": round(self.age(), 1),
                "max_bytes": self.max_bytes}


class Spool:
    """Append records durably; list and claim segments for replay. Thread-safe."""

    def __init__(self, directory: str | Path, max_bytes: int) -> None:
        self.directory = Path(directory)
        self.max_bytes = max_bytes
        self._lock = threading.Lock()
        self._active: IO[bytes] | None = None
        self._active_path: Path | None = None
        self._serial = 0
        self._warned = False
        # name -> ((size, mtime), records, oldest): a segment is counted again only when it changed.
        self._counts: dict[str, tuple[tuple[int, int], int, float | None]] = {}

    # -- writing ---------------------------------------------------------------
    def append(self, day: int, batches: Sequence[Batch], now: float | None = None) -> None:
        """Write one record and fsync it. Raises SpoolError when it cannot be kept."""
        record = SpooledRecord(day, time.time() if now is None else now,
                               tuple((k, tuple(e), r) for k, e, r in batches))
        line = record.to_line()
        with self._lock:
            used = self.bytes_used()
            if used + len(line) > self.max_bytes:
                raise SpoolError(f"spool {self.directory} is full ({used} of {self.max_bytes} bytes)")
            if not self._warned and used + len(line) > WARN_RATIO * self.max_bytes:
                self._warned = True
                log.warning("spool %s is %d%% full (%d of %d bytes): is the ledger down for long?",
                            self.directory, 100 * (used + len(line)) // self.max_bytes, used,
                            self.max_bytes)
            try:
                handle = self._segment_for_append()
                handle.write(line)
                handle.flush()
                os.fsync(handle.fileno())
            except OSError as exc:
                self._close_active()
                raise SpoolError(f"cannot write to spool {self.directory}: {exc.strerror or exc}") from exc
            if self._active_path is not None and handle.tell() >= SEGMENT_MAX_BYTES:
                self._close_active()

    def _segment_for_append(self) -> IO[bytes]:
        if self._active is not None:
            return self._active
        self.directory.mkdir(parents=True, exist_ok=True, mode=0o750)
        self._serial += 1
        path = self.directory / (f"{SEGMENT_PREFIX}{int(time.time() * 1000):013d}-{os.getpid()}"
                                 f"-{self._serial}{SEGMENT_SUFFIX}")
        handle = open(path, "ab")  # noqa: SIM115  # kept open while active
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
        dir_fd = os.open(self.directory, os.O_RDONLY)
        try:
            os.fsync(dir_fd)  # the new name survives a host crash too
        finally:
            os.close(dir_fd)
        self._active, self._active_path = handle, path
        return handle

    def _close_active(self) -> None:
        if self._active is not None:
            with contextlib.suppress(OSError):
                self._active.close()  # releases the flock: the segment may now be replayed
        self._active = self._active_path = None

    def seal(self) -> None:
        """Close the active segment so that it can be replayed."""
        with self._lock:
            self._close_active()

    def close(self) -> None:
        self.seal()

    # -- reading ---------------------------------------------------------------
    def segments(self) -> list[Path]:
        """Segment files, oldest first."""
        try:
            names = [e.name for e in os.scandir(self.directory)
                     if e.name.startswith(SEGMENT_PREFIX) and e.name.endswith(SEGMENT_SUFFIX)]
        except OSError:  # not made yet (or not a directory: append says so)
            return []
        return [self.directory / n for n in sorted(names)]

    def bytes_used(self) -> int:
        total = 0
        for path in self.segments():
            try:
                total += path.stat().st_size
            except FileNotFoundError:
                continue
        return total

    def pending(self) -> bool:
        """True when any record waits for the ledger (cheap: one directory listing)."""
        for path in self.segments():
            try:
                if path.stat().st_size > 0:
                    return True
            except FileNotFoundError:
                continue
        return False

    def status(self) -> SpoolStatus:
        records, size, oldest = 0, 0, None
        segments = self.segments()
        live: set[str] = set()
        for path in segments:
            try:
                info = path.stat()
            except FileNotFoundError:
                continue
            current = (info.st_size, info.st_mtime_ns)
            live.add(path.name)
            cached = self._counts.get(path.name)
            if cached is None or cached[0] != current:
                count, first = _count(path)
                cached = (current, count, first)
                self._counts[path.name] = cached
            size += info.st_size
            records += cached[1]
            if cached[2] is not None and (oldest is None or cached[2] < oldest):
                oldest = cached[2]
        for name in set(self._counts) - live:
            del self._counts[name]
        return SpoolStatus(str(self.directory), records, size, len(live), oldest, self.max_bytes)

    def claim(self) -> Iterator[Segment]:
        """Segments no writer holds, oldest first, each locked for the caller while yielded."""
        for path in self.segments():
            try:
                handle = open(path, "rb")  # noqa: SIM115  # closed by Segment.release
            except FileNotFoundError:
                continue
            try:
                fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                handle.close()  # an active segment, or another replayer has it
                continue
            if not path.exists():  # replayed and removed between listing and locking
                handle.close()
                continue
            segment = Segment(path, handle)
            try:
                yield segment
            finally:
                segment.release()


class Segment:
    """A claimed segment: read its records, then remove it once they are in the ledger."""

    def __init__(self, path: Path, handle: IO[bytes]) -> None:
        self.path = path
        self._handle = handle
        self.skipped = 0

    def records(self) -> list[SpooledRecord]:
        out: list[SpooledRecord] = []
        self._handle.seek(0)
        for number, line in enumerate(self._handle, start=1):
            if not line.endswith(b"\n"):
                log.warning("spool %s: line %d is torn (a crash mid-write?), skipped", self.path, number)
                self.skipped += 1
                continue
            try:
                out.append(SpooledRecord.from_line(line))
            except (ValueError, KeyError, TypeError) as exc:
                log.warning("spool %s: line %d is not a record (%s), skipped", self.path, number, exc)
                self.skipped += 1
        return out

    def remove(self) -> None:
        self.path.unlink(missing_ok=True)
        dir_fd = os.open(self.path.parent, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)

    def release(self) -> None:
        with contextlib.suppress(OSError):
            self._handle.close()


def _count(path: Path) -> tuple[int, float | None]:
    """Records in a segment and the spool time of its first one."""
    count, first = 0, None
    try:
        with open(path, "rb") as fh:
            for line in fh:
                if not line.endswith(b"\n"):
                    continue
                count += 1
                if first is None:
                    with contextlib.suppress(ValueError, KeyError, TypeError):
                        first = float(json.loads(line)["t"])
    except FileNotFoundError:
        return 0, None
    return count, first
