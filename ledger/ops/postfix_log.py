"""Reading Postfix mail logs: files (plain or gzipped), lines, queue-id events.

Two line formats are understood, both as syslog writes them and as Postfix's
own ``maillog_file`` (postlogd) does:

* traditional: ``Nov 27 07:32:03 host postfix/cleanup[6996]: QID: message-id=<...>``
  (local time, no year: the year is taken from the file's modification time);
* RFC 3339: ``2026-11-27T07:32:03.123456+00:00 host postfix/cleanup[6996]: ...``.

Only what ``backfill`` needs is turned into an :class:`Event`; everything else
is counted and dropped, line by line, so a log of any size is read in constant
memory.
"""

from __future__ import annotations

import gzip
import os
import re
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import IO

SECONDS_PER_DAY = 86400
_MONTHS = {m: i for i, m in enumerate(
    ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"), 1)}

_TAG = r"(?P<host>\S+) (?P<prog>[^\s\[\]:]+)(?:\[\d+\])?: (?P<msg>.*)$"
_TRADITIONAL = re.compile(
    r"^(?P<mon>[A-Z][a-z]{2}) +(?P<day>\d{1,2}) (?P<hms>\d\d:\d\d:\d\d)(?:\.\d+)? " + _TAG)
_ISO = re.compile(
    r"^(?P<ts>\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?(?:Z|[+-]\d\d:?\d\d)?) " + _TAG)
# Short queue ids are upper-case hex; long ones (enable_long_queue_ids) use a
# vowel-free alphabet with 'z' as separator. Neither can spell "warning" or "NOQUEUE".
_SAFE = "0-9B-DF-HJ-NP-TV-Zb-df-hj-np-tv-y"
_QID = re.compile(rf"^(?P<qid>[0-9A-F]{{6,}}|[{_SAFE}]{{6,}}z[{_SAFE}]+): (?P<rest>.*)$")
_QMGR_FROM = re.compile(r"^from=<(?P<addr>[^<>]*)>, size=\d+, nrcpt=(?P<nrcpt>\d+)")
_TO = re.compile(r"^to=<(?P<addr>[^<>]*)>,")
_ORIGIN_PICKUP = re.compile(r"^(?:uid=\d+ |sender=)")

# Event kinds.
ORIGIN = "origin"  # smtpd "client=", pickup "uid=... from=": where the message came in
MESSAGE_ID = "message-id"  # cleanup
REFUSED = "refused"  # cleanup milter-reject / reject / discard: never queued
QUEUED = "queued"  # qmgr "from=<...>, size=..., nrcpt=N (queue active)"
DELIVERY = "delivery"  # a delivery agent's "to=<...>"
REMOVED = "removed"  # qmgr/postsuper: the lifecycle is over
MALFORMED = "malformed"  # a line about a queue id that is cut short or garbled


@dataclass(frozen=True)
class Event:
    kind: str
    qid: str
    day: int
    prog: str
    value: str = ""
    count: int = 0


class LogError(Exception):
    """A log file cannot be read."""


def open_log(path: str) -> IO[bytes]:
    """Open a log file, transparently gunzipping it (detected by its magic bytes)."""
    try:
        fh = open(path, "rb")  # noqa: SIM115 - returned to the caller, who closes it
        magic = fh.read(2)
        fh.seek(0)
    except OSError as exc:
        raise LogError(f"{path}: {exc.strerror}") from None
    if magic == b"\x1f\x8b":
        return gzip.open(fh)  # type: ignore[return-value]
    return fh


class DayClock:
    """Turns a log timestamp into a UTC day number, with year inference.

    Traditional syslog stamps carry neither year nor zone: they are local time,
    and a stamp more than two days after ``reference`` (the file's mtime)
    belongs to the year before (a December line in a January file).
    """

    def __init__(self, reference: float) -> None:
        self.reference = reference
        self.year = time.localtime(reference).tm_year
        self._cache: dict[tuple[int, int, int], int] = {}

    def hour_start(self, month: int, day: int, hour: int) -> float:
        """Epoch seconds of a local (month, day, hour), the year inferred."""
        stamp = self._local(self.year, month, day, hour)
        if stamp > self.reference + 2 * SECONDS_PER_DAY:
            stamp = self._local(self.year - 1, month, day, hour)
        return stamp

    def traditional(self, month: int, day: int, hms: str) -> int:
        key = (month, day, int(hms[:2]))
        cached = self._cache.get(key)
        if cached is None:
            if len(self._cache) > 10000:
                self._cache.clear()
            cached = self._cache[key] = int(self.hour_start(*key) // SECONDS_PER_DAY)
        return cached

    @staticmethod
    def _local(year: int, month: int, day: int, hour: int) -> float:
        try:
            return datetime(year, month, day, hour).timestamp()
        except ValueError:  # Feb 29 in a non-leap year: a garbled line, day still close
            return datetime(year, month, min(day, 28), hour).timestamp()

    @staticmethod
    def iso(stamp: str) -> int | None:
        try:
            return int(datetime.fromisoformat(stamp).timestamp() // SECONDS_PER_DAY)
        except ValueError:
            return None


@dataclass
class LineCounts:
    lines: int = 0
    unrecognised: int = 0  # not a syslog line at all
    malformed: int = 0  # a queue-id line we need, cut short or garbled


def _event(prog: str, qid: str, rest: str, day: int) -> Event | None:
    """The backfill-relevant event of one ``QID: rest`` message, if any."""
    service = prog.rsplit("/", 1)[-1]
    if rest.startswith("client=") and service in ("smtpd", "qmqpd"):
        return Event(ORIGIN, qid, day, prog)
    if service == "pickup" and _ORIGIN_PICKUP.match(rest):
        return Event(ORIGIN, qid, day, prog)
    if service == "cleanup":
        if rest.startswith("message-id="):
            value = rest[len("message-id="):].strip()
            if value.startswith("<") and ">" not in value:
                return Event(MALFORMED, qid, day, prog, value)
            return Event(MESSAGE_ID, qid, day, prog, value)
        if rest.startswith(("milter-reject:", "reject:", "discard:", "milter-discard:")):
            return Event(REFUSED, qid, day, prog, rest.split(":", 1)[0])
        return None
    if rest == "removed":
        return Event(REMOVED, qid, day, prog)
    if service == "qmgr" and rest.startswith("from=<"):
        match = _QMGR_FROM.match(rest)
        if match is None:
            if "status=expired" in rest:
                return None
            return Event(MALFORMED, qid, day, prog, rest)
        return Event(QUEUED, qid, day, prog, match["addr"], int(match["nrcpt"]))
    if rest.startswith("to=<"):
        match = _TO.match(rest)
        if match is None:
            return Event(MALFORMED, qid, day, prog, rest)
        return Event(DELIVERY, qid, day, prog, match["addr"])
    return None


def _dated(line: str, clock: DayClock) -> tuple[str, str, int] | None:
    """(program, message, day) of a traditional or RFC 3339 syslog line, or None."""
    match = _TRADITIONAL.match(line)
    if match is not None:
        month = _MONTHS.get(match["mon"])
        if month is None:
            return None
        return match["prog"], match["msg"], clock.traditional(month, int(match["day"]), match["hms"])
    match = _ISO.match(line)
    if match is None:
        return None
    day = clock.iso(match["ts"])
    return None if day is None else (match["prog"], match["msg"], day)


def message_event(prog: str, msg: str, day: int, counts: LineCounts) -> Event | None:
    """The event of one program's message (``QID: ...``), if backfill needs it.

    Shared by the file reader below and the journal reader (``follow --journal``),
    which gets program and message as separate fields.
    """
    qmatch = _QID.match(msg)
    if qmatch is None:
        return None
    event = _event(prog, qmatch["qid"], qmatch["rest"], day)
    if event is not None and event.kind == MALFORMED:
        counts.malformed += 1
    return event


def line_event(raw: bytes, clock: DayClock, counts: LineCounts) -> Event | None:
    """The event of one raw log line, if any; counts the line."""
    counts.lines += 1
    dated = _dated(raw.decode("utf-8", "replace").rstrip("\r\n"), clock)
    if dated is None:
        counts.unrecognised += 1
        return None
    return message_event(*dated, counts)


def events(stream: IO[bytes], clock: DayClock, counts: LineCounts) -> Iterator[Event]:
    """The backfill events of one log stream, in order; counts every line."""
    for raw in stream:
        event = line_event(raw, clock, counts)
        if event is not None:
            yield event


def first_timestamp(path: str, max_lines: int = 200) -> float:
    """When a log file starts (its first dated line), to read rotated files oldest first.

    Unknown (unreadable, no dated line) sorts by the file's mtime.
    """
    try:
        reference = os.stat(path).st_mtime
        with open_log(path) as fh:
            clock = DayClock(reference)
            for _, raw in zip(range(max_lines), fh, strict=False):
                line = raw.decode("utf-8", "replace")
                match = _TRADITIONAL.match(line)
                if match and match["mon"] in _MONTHS:
                    h, m, s = (int(x) for x in match["hms"].split(":"))
                    return clock.hour_start(_MONTHS[match["mon"]], int(match["day"]), h) + m * 60 + s
                match = _ISO.match(line)
                if match:
                    try:
                        return datetime.fromisoformat(match["ts"]).timestamp()
                    except ValueError:
                        continue
        return reference
    except (OSError, EOFError, gzip.BadGzipFile, LogError):
        return 0.0
