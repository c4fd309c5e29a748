"""The follower's state file: where to resume reading after a restart.

JSON, one object::

    {"version": 1, "files": {"<path>": {"dev": D, "ino": I, "offset": N}}, "journal": {"cursor": "..."}}

The position of a file is the start of the first line of its oldest message
not yet recorded (or, with none in flight, the end of what was read); the
journal's cursor is the entry just before such a line. No Message-ID and no
address is ever written here.

Written atomically (a temporary file in the same directory, ``fsync``, rename,
``fsync`` of the directory): a crash leaves the old state or the new one,
never a torn one. An unreadable state file is an error, not a silent restart
from scratch.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path

from ledger.ops.tail import Position

VERSION = 1


class StateError(Exception):
    """The state file exists but cannot be read or written."""


@dataclass
class State:
    files: dict[str, Position] = field(default_factory=dict)
    cursor: str | None = None

    def as_json(self) -> bytes:
        return json.dumps({"version": VERSION,
                           "files": {p: pos.as_dict() for p, pos in sorted(self.files.items())},
                           "journal": {"cursor": self.cursor}}, indent=1).encode() + b"\n"


def load(path: str) -> State:
    try:
        raw = json.loads(Path(path).read_bytes())
    except FileNotFoundError:
        return State()
    except OSError as exc:
        raise StateError(f"{path}: {exc.strerror}") from None
    except ValueError as exc:
        raise StateError(f"{path}: not a follow state file ({exc})") from None
    if not isinstance(raw, dict) or raw.get("version") != VERSION:
        raise StateError(f"{path}: not a version {VERSION} follow state file")
    state = State()
    files = raw.get("files")
    if isinstance(files, dict):
        for name, value in files.items():
            position = Position.from_dict(value)
            if position is not None:
                state.files[str(name)] = position
    journal = raw.get("journal")
    if isinstance(journal, dict) and isinstance(journal.get("cursor"), str):
        state.cursor = journal["cursor"]
    return state


def save(path: str, state: State) -> None:
    """Replace the state file atomically and durably."""
    target = Path(path)
    temporary = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    try:
        target.parent.mkdir(parents=True, exist_ok=True, mode=0o750)
        with open(temporary, "wb") as fh:
            fh.write(state.as_json())
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(temporary, target)
        dir_fd = os.open(target.parent, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)
    except OSError as exc:
        temporary.unlink(missing_ok=True)
        raise StateError(f"{path}: cannot write the follow state: {exc.strerror or exc}") from None
