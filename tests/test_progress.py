"""Progress on a terminal, silence elsewhere: the long commands run as processes with their
stderr on a pseudo-terminal (the pty module) and on a pipe, against the private Redis."""

from __future__ import annotations

import io
import os
import pty
import select
import subprocess
import sys
import time
from pathlib import Path

import pytest
import redis

from ledger.config import load_config
from ledger.ops.progress import Progress, wanted
from ledger.services import recorder_for
from tests.conftest import write_config
from tests.observe_helpers import sent
from tests.test_backfill import message_lines, write_log

ROOT = Path(__file__).resolve().parent.parent
BAR = b"\r"  # every redraw starts with a carriage return


def command(config: Path, *argv: str) -> list[str]:
    return [sys.executable, "-m", "ledger", *argv[:1], "--config", str(config), *argv[1:]]


def on_terminal(argv: list[str], stdin: bytes = b"") -> tuple[int, bytes, bytes]:
    """Run with stderr on a pty; returns (status, stdout, what the terminal showed)."""
    master, slave = pty.openpty()
    proc = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=slave, cwd=ROOT)
    os.close(slave)
    out, _ = proc.communicate(stdin, timeout=120)
    shown = b""
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        ready, _, _ = select.select([master], [], [], 0.5)
        if not ready:
            break
        try:
            chunk = os.read(master, 65536)
        except OSError:  # EIO: the writer has gone and everything was read
            break
        if not chunk:
            break
        shown += chunk
    os.close(master)
    return proc.returncode, out, shown


def on_pipe(argv: list[str], stdin: bytes = b"") -> tuple[int, bytes, bytes]:
    proc = subprocess.run(argv, input=stdin, capture_output=True, cwd=ROOT, timeout=120, check=False)
    return proc.returncode, proc.stdout, proc.stderr


@pytest.fixture()
def cfg_path(tmp_path: Path, redis_server, redis_client: redis.Redis) -> Path:  # type: ignore[no-untyped-def]
    path = write_config(tmp_path / "sender-ledger.toml", redis_server.url)
    recorder = recorder_for(load_config(str(path)))
    for n in range(30):
        recorder.record(sent(f"m{n}@example.test"))
    return path


def test_wanted_follows_the_terminal() -> None:
    master, slave = pty.openpty()
    with os.fdopen(slave, "w") as tty:
        assert wanted(False, tty) and wanted(True, io.StringIO())
    os.close(master)
    assert not wanted(False, io.StringIO())


def test_progress_without_a_total_shows_a_count() -> None:
    out = io.StringIO()
    bar = Progress(out, True, "export", 0, unit="entries")
    bar.update(0, 7)
    bar.done(0, 9)
    assert out.getvalue().endswith("\rexport 9 entries\n") and "[" not in out.getvalue()


@pytest.mark.parametrize("name", ["export", "import", "purge", "backfill", "report"])
def test_long_commands_show_progress_on_a_terminal_only(name: str, cfg_path: Path, tmp_path: Path) -> None:
    stdin = b""
    if name == "export":
        argv = command(cfg_path, "export")
        label = b"export"
    elif name == "import":
        stdin = on_pipe(command(cfg_path, "export"))[1]
        argv = command(cfg_path, "import")
        label = b"import stdin"
    elif name == "purge":
        argv = command(cfg_path, "purge", "--older-than", "0", "--dry-run")
        label = b"purge"
    elif name == "backfill":
        lines = [li for n in range(40) for li in message_lines(
            f"Q{n:04X}", "postfix/submission/smtpd", f"<b{n}@example.test>", "alice@example.test",
            ["bob@fail.test"])]
        log = write_log(tmp_path / "mail.log", lines)
        argv = command(cfg_path, "backfill", "--service", "postfix/submission/smtpd", str(log))
        label = b"backfill"
    else:
        argv = command(cfg_path, "report")
        label = b"report: reading the log"
    code, out, shown = on_terminal(argv, stdin)
    assert code == 0, shown
    assert BAR + label in shown, shown
    assert BAR not in out  # the bar goes to the terminal, never into the output
    code, out_piped, err = on_pipe(argv, stdin)
    assert code == 0, err
    assert BAR not in err and label + b" [" not in err
    if name == "export":  # the same export either way: the header, the messages, their one pair
        assert len(out.splitlines()) == len(out_piped.splitlines()) == 1 + 30 + 1
    if name == "backfill":
        assert b"recorded" in shown and b"100%" in shown
