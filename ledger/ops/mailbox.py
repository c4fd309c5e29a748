"""Reading mailboxes for ``replay``: mbox files and Maildir directories, streamed.

Each message is read up to a byte cap (the rest is skipped, not held), so a
mailbox with huge attachments costs the cap per message, not its size.

mbox: a message starts at a ``From `` line at the start of the file or after
an empty line; ``>From `` (and ``>>From ``...) lines in a body are unquoted by
one ``>`` (mboxrd). Maildir: the files of ``new/`` and ``cur/``, by name
(delivery order).
"""

from __future__ import annotations

import email.utils
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

_QUOTED_FROM = re.compile(rb"^>+From ")
_FROM_LINE_DATE = re.compile(rb"^From \S+ +(.+?)\s*$")
_MAILDIR_STAMP = re.compile(r"^(\d{9,11})\.")


class MailboxError(Exception):
    """A mailbox cannot be found or read."""


@dataclass(frozen=True)
class MailItem:
    """One message of a mailbox: where it is, its (capped) bytes, and when it was delivered."""

    label: str
    raw: bytes
    truncated: bool
    delivered: float | None  # epoch seconds from the mbox From_ line / Maildir name, if any
    position: int  # progress: bytes read (mbox) or files read (Maildir)


class Mailbox:
    """An mbox file or a Maildir, detected from what ``path`` is."""

    def __init__(self, path: str, max_bytes: int) -> None:
        self.path = path
        self.max_bytes = max_bytes
        p = Path(path)
        if p.is_dir():
            if not (p / "cur").is_dir() and not (p / "new").is_dir():
                raise MailboxError(f"{path}: a directory but not a Maildir (no cur/ or new/)")
            self.kind = "maildir"
            self._files = sorted(
                (f for sub in ("new", "cur") if (p / sub).is_dir()
                 for f in (p / sub).iterdir() if f.is_file() and not f.name.startswith(".")),
                key=lambda f: f.name)
            self.total = len(self._files)
        elif p.is_file():
            self.kind = "mbox"
            self._files = []
            self.total = p.stat().st_size
            with open(p, "rb") as fh:
                head = fh.read(5)
            if head and head != b"From ":
                raise MailboxError(f"{path}: not an mbox (does not start with a 'From ' line)")
        else:
            raise MailboxError(f"{path}: no such mailbox (an mbox file or a Maildir directory)")

    def __iter__(self) -> Iterator[MailItem]:
        try:
            if self.kind == "maildir":
                yield from self._maildir()
            else:
                yield from self._mbox()
        except OSError as exc:
            raise MailboxError(f"{self.path}: {exc.strerror or exc}") from None

    def _maildir(self) -> Iterator[MailItem]:
        for index, path in enumerate(self._files, 1):
            with open(path, "rb") as fh:
                raw = fh.read(self.max_bytes + 1)
            stamp = _MAILDIR_STAMP.match(path.name)
            yield MailItem(f"{path.parent.name}/{path.name}", raw[: self.max_bytes],
                           len(raw) > self.max_bytes, float(stamp.group(1)) if stamp else None, index)

    def _mbox(self) -> Iterator[MailItem]:
        chunks: list[bytes] = []
        size = 0
        truncated = False
        number = 0
        delivered: float | None = None
        previous_blank = True
        position = 0
        with open(self.path, "rb") as fh:
            for line in fh:
                position += len(line)
                if previous_blank and line.startswith(b"From "):
                    if number:
                        yield self._item(number, chunks, truncated, delivered, position - len(line))
                    number += 1
                    chunks, size, truncated = [], 0, False
                    delivered = _from_line_date(line)
                    previous_blank = False
                    continue
                previous_blank = line in (b"\n", b"\r\n")
                if _QUOTED_FROM.match(line):
                    line = line[1:]
                keep = line[: max(0, self.max_bytes - size)]
                if keep:
                    chunks.append(keep)
                    size += len(keep)
                if len(keep) < len(line):
                    truncated = True
            if number:
                yield self._item(number, chunks, truncated, delivered, position)

    def _item(self, number: int, chunks: list[bytes], truncated: bool, delivered: float | None,
              position: int) -> MailItem:
        raw = b"".join(chunks)
        # The blank line before the next From_ line belongs to the mbox, not the message.
        if raw.endswith(b"\r\n\r\n"):
            raw = raw[:-2]
        elif raw.endswith(b"\n\n"):
            raw = raw[:-1]
        return MailItem(f"#{number}", raw, truncated, delivered, position)


def _from_line_date(line: bytes) -> float | None:
    """The asctime date of an mbox ``From sender date`` line, as epoch seconds."""
    match = _FROM_LINE_DATE.match(line)
    if not match:
        return None
    text = match.group(1).decode("ascii", "replace")
    for fmt in ("%a %b %d %H:%M:%S %Y", "%a %b %d %H:%M:%S %z %Y"):
        try:
            return datetime.strptime(" ".join(text.split()), fmt).timestamp()
        except ValueError:
            continue
    return None


def header_date(value: str | None) -> float | None:
    """A ``Date:`` header as epoch seconds, or None when missing or unparsable."""
    if not value:
        return None
    try:
        parsed = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if parsed is None:
        return None
    try:
        return parsed.timestamp()
    except (OverflowError, OSError, ValueError):
        return None

