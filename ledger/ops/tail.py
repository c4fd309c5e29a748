"""Follow one log file as it is written, across rotation and restarts.

A line is handed out with its :class:`Position` (which file, by device and
inode, and the byte offset where the line starts), so that a follower can
resume after a restart exactly where its oldest unfinished message began.

Rotation is noticed on every poll by ``stat``-ing the path:

* rename + new file (logrotate ``create``, ``postfix logrotate``): the old
  file is kept open and read to its end while the writer may still append to
  it (until it reopens), and the new file is read from its first byte;
* copytruncate: the same inode shrank below the read offset: read it again
  from the start;
* a path that does not exist (yet) is waited for.

Resuming at a position whose inode is no longer the path's (a rotation while
the follower was down) looks for that inode among the path's siblings named
``<name>*`` (``mail.log.1``: logrotate's ``delaycompress`` keeps it plain),
reads it from the offset to its end, then reads the current file from the
start. A rotated file already compressed or deleted cannot be resumed: the
current file is read from the start, and the lines of the old one past the
offset are lost (``backfill`` can still read the compressed file).

Costs: one ``fstat``+``stat`` and one ``read`` per poll; memory is one read
buffer and at most :data:`MAX_LINE` bytes of a partial line.
"""

from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass
from pathlib import Path
from typing import IO

MAX_LINE = 64 * 1024  # a longer "line" is cut (Postfix lines are far shorter)
READ_SIZE = 256 * 1024
OLD_FILE_GRACE = 60.0  # seconds a rotated file is still read for lines its writer adds late


class TailError(Exception):
    """A log file exists but cannot be read (permissions): said once, in one line."""


@dataclass(frozen=True)
class Position:
    """Where a line starts: the file's identity and a byte offset in it."""

    dev: int
    ino: int
    offset: int

    def as_dict(self) -> dict[str, int]:
        return {"dev": self.dev, "ino": self.ino, "offset": self.offset}

    @classmethod
    def from_dict(cls, raw: object) -> Position | None:
        if not isinstance(raw, dict):
            return None
        try:
            return cls(int(raw["dev"]), int(raw["ino"]), int(raw["offset"]))
        except (KeyError, TypeError, ValueError):
            return None


class _Open:
    """One open file being read: its handle, identity, offset and partial line."""

    def __init__(self, handle: IO[bytes], offset: int) -> None:
        info = os.fstat(handle.fileno())
        self.handle = handle
        self.dev, self.ino = info.st_dev, info.st_ino
        self.offset = offset  # of the first byte not yet handed out (start of ``partial``)
        self.partial = b""
        self.retired_at: float | None = None  # when it was rotated away
        handle.seek(offset)

    def position(self, offset: int | None = None) -> Position:
        return Position(self.dev, self.ino, self.offset if offset is None else offset)

    def lines(self) -> list[tuple[Position, bytes]]:
        """Every complete line appended since the last call."""
        out: list[tuple[Position, bytes]] = []
        while True:
            chunk = self.handle.read(READ_SIZE)
            if not chunk:
                return out
            data = self.partial + chunk
            start = 0
            while True:
                end = data.find(b"\n", start)
                if end < 0:
                    break
                out.append((self.position(self.offset + start), data[start:end + 1]))
                start = end + 1
            if len(data) - start > MAX_LINE:  # bounded memory: hand the cut line out as it is
                out.append((self.position(self.offset + start), data[start:]))
                start = len(data)
            self.offset += start
            self.partial = data[start:]

    def size(self) -> int:
        return os.fstat(self.handle.fileno()).st_size

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self.handle.close()


class FileTail:
    """Read the lines a log path gets, in order, across rotation."""

    def __init__(self, path: str, resume: Position | None = None, from_start: bool = False) -> None:
        self.path = path
        self.rotations = 0
        self.truncations = 0
        self.lost_on_resume = False  # the resume file was gone: its unread lines are lost
        self._files: list[_Open] = []  # the rotated-away ones first, the current one last
        self._open_first(resume, from_start)

    # -- opening ---------------------------------------------------------------
    def _open_first(self, resume: Position | None, from_start: bool) -> None:
        current = self._stat(self.path)
        if resume is not None:
            if current is not None and (current.st_dev, current.st_ino) == (resume.dev, resume.ino):
                self._open(self.path, resume.offset if resume.offset <= current.st_size else 0)
                return
            old = self._sibling(resume)
            if old is not None:
                self._open(old, resume.offset)
            else:
                self.lost_on_resume = True
            if current is not None:
                self._open(self.path, 0)
            return
        if current is not None:
            self._open(self.path, 0 if from_start else current.st_size)

    def _open(self, path: str, offset: int) -> None:
        try:
            handle = open(path, "rb")  # noqa: SIM115 - kept open while followed
        except FileNotFoundError:
            return  # rotated away between stat and open: the next poll opens the new one
        except OSError as exc:
            raise TailError(f"{path}: {exc.strerror or exc}") from None
        opened = _Open(handle, min(offset, os.fstat(handle.fileno()).st_size))
        if self._files and (self._files[-1].dev, self._files[-1].ino) == (opened.dev, opened.ino):
            opened.close()
            return
        self._files.append(opened)

    def _sibling(self, resume: Position) -> str | None:
        folder = Path(self.path).parent
        name = Path(self.path).name
        try:
            entries = list(os.scandir(folder))
        except OSError:
            return None
        for entry in entries:
            if entry.name.startswith(name) and entry.name != name:
                with contextlib.suppress(OSError):
                    info = entry.stat(follow_symlinks=False)
                    if (info.st_dev, info.st_ino) == (resume.dev, resume.ino):
                        return entry.path
        return None

    @staticmethod
    def _stat(path: str) -> os.stat_result | None:
        try:
            return os.stat(path)
        except OSError:
            return None

    # -- reading ---------------------------------------------------------------
    def poll(self, now: float) -> list[tuple[Position, bytes]]:
        """Lines appended since the last poll: a rotated file's rest first, then the new file's."""
        out: list[tuple[Position, bytes]] = []
        for opened in self._files:
            out.extend(opened.lines())
        self._check_rotation(out, now)
        return out

    def _check_rotation(self, out: list[tuple[Position, bytes]], now: float) -> None:
        current = self._stat(self.path)
        latest = self._files[-1] if self._files else None
        if current is None:
            return
        if latest is None or (current.st_dev, current.st_ino) != (latest.dev, latest.ino):
            if latest is not None:
                latest.retired_at = now
                self.rotations += 1
            self._open(self.path, 0)
            if self._files and self._files[-1] is not latest:
                out.extend(self._files[-1].lines())
        elif current.st_size < latest.offset + len(latest.partial):  # copytruncate
            self.truncations += 1
            latest.handle.seek(0)
            latest.offset, latest.partial = 0, b""
            out.extend(latest.lines())
        for opened in list(self._files[:-1]):
            if opened.retired_at is not None and now - opened.retired_at > OLD_FILE_GRACE:
                out.extend(opened.lines())
                opened.close()
                self._files.remove(opened)

    def position(self) -> Position | None:
        """Where reading stands: the first byte not handed out, in the oldest file not read to its end."""
        for opened in self._files[:-1]:
            with contextlib.suppress(OSError):
                if opened.partial or opened.offset < opened.size():
                    return opened.position()
        return self._files[-1].position() if self._files else None

    def close(self) -> None:
        for opened in self._files:
            opened.close()
        self._files.clear()
