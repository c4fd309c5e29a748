"""The README's demonstration command must keep working: run it for real."""

from __future__ import annotations

import subprocess
import sys

import pytest

pytestmark = pytest.mark.postfix


def test_demo_accepts_the_real_dsn_and_refuses_the_forged_one() -> None:
    result = subprocess.run([sys.executable, "-m", "testbed.demo"], capture_output=True,
                            text=True, timeout=300)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-2000:]
    out = result.stdout
    assert "delivered with: X-Sender-Ledger: pass (dsn;" in out
    assert "    S: 550 5.7.1 Backscatter refused" in out
    assert "== Result: real DSN accepted (250); forged DSN refused during SMTP: 550 5.7.1" in out
    assert "== Stopping everything the demo started" in out
