"""scripts/manpage.py: the man page says what the argparse help says (pure, no server)."""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from ledger.cli import build_parser
from scripts.manpage import escape, render

SCRIPT = Path(__file__).resolve().parent.parent / "scripts" / "manpage.py"


def subparsers(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    [action] = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    return dict(action.choices)


def test_every_command_and_option_is_on_the_page() -> None:
    parser = build_parser()
    page = render(parser, "9.9", "2026-12-01")
    assert page.startswith('.TH SENDER-LEDGER 1 "2026-12-01" "sender-ledger 9.9" "User Commands"\n')
    for name, sub in subparsers(parser).items():
        assert f"\n.SS {name}\n" in page
        for action in sub._actions:
            for option in action.option_strings:
                if option not in ("-h", "--help"):
                    assert escape(option) in page, f"{name} {option}"
    # the options every command takes are listed once, not thirteen times
    assert page.count("\\fB\\-\\-config FILE\\fR") == 1
    for section in ("NAME", "SYNOPSIS", "COMMON OPTIONS", "COMMANDS", "FILES", "ENVIRONMENT", "EXIT STATUS"):
        assert f"\n.SH {section}\n" in page
    assert "/etc/sender\\-ledger/sender\\-ledger.toml" in page


def test_roff_escapes() -> None:
    assert escape("a-b \\n") == "a\\-b \\en"
    assert escape(".not a request\n'nor this") == "\\&.not a request\n\\&'nor this"


def test_the_script_writes_a_page_groff_reads_cleanly(tmp_path: Path) -> None:
    out = tmp_path / "sender-ledger.1"
    result = subprocess.run([sys.executable, str(SCRIPT), "-o", str(out)], capture_output=True, text=True,
                            timeout=60, env={"PATH": "/usr/bin:/bin", "SOURCE_DATE_EPOCH": "1796083200"})
    assert result.returncode == 0, result.stderr
    assert '"2026-12-01"' in out.read_text().splitlines()[0]  # reproducible: the date is the given one
    if shutil.which("groff") is None:
        pytest.skip("groff is not installed")
    check = subprocess.run(["groff", "-man", "-ww", "-z", str(out)], capture_output=True, text=True,
                           timeout=60)
    assert check.returncode == 0 and not check.stderr, check.stderr
