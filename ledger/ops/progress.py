"""A one-line progress bar on stderr for long runs (only where someone is watching).

Drawn only when :func:`wanted` says so (a terminal, or ``--progress``): a
command whose stderr goes to a file or a pipe (cron, systemd, a script)
writes nothing here. An update costs a clock read; a redraw happens at
most ten times a second.
"""

from __future__ import annotations

import time
from typing import TextIO

WIDTH = 30


class Progress:
    """Redraws ``label [#####.....] 45% N messages`` at most ten times a second.

    With ``total`` 0 (not known beforehand, e.g. keys found by SCAN) it shows
    ``label N messages`` only.
    """

    def __init__(self, stream: TextIO, enabled: bool, label: str, total: int, unit: str = "messages") -> None:
        self.stream = stream
        self.enabled = enabled
        self.label = label
        self.total = max(total, 0)
        self.unit = unit
        self._last = 0.0
        self._width = 0

    def update(self, position: int, count: int, force: bool = False) -> None:
        if not self.enabled:
            return
        now = time.monotonic()
        if not force and now - self._last < 0.1:
            return
        self._last = now
        if self.total:
            fraction = min(1.0, position / self.total)
            filled = int(fraction * WIDTH)
            bar = "#" * filled + "." * (WIDTH - filled)
            line = f"{self.label} [{bar}] {fraction * 100:3.0f}% {count} {self.unit}"
        else:
            line = f"{self.label} {count} {self.unit}"
        self.stream.write("\r" + line.ljust(self._width))
        self._width = len(line)
        self.stream.flush()

    def done(self, position: int, count: int) -> None:
        if self.enabled:
            self.update(position, count, force=True)
            self.stream.write("\n")
            self.stream.flush()


def wanted(force: bool, stream: TextIO) -> bool:
    """Progress is drawn for someone watching: on a terminal, or when asked (``--progress``)."""
    if force:
        return True
    try:
        return stream.isatty()
    except (AttributeError, ValueError):  # a replaced or closed stream
        return False
