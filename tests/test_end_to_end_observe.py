"""End to end through the private Postfix: what the operator then sees in stats and log."""

from __future__ import annotations

import json
import smtplib
import subprocess
import sys
import time

import pytest

from testbed import PrivateSite
from tests.test_end_to_end import forge, real_dsn_for, submit

pytestmark = pytest.mark.postfix


def cli(testbed: PrivateSite, *argv: str) -> str:
    result = subprocess.run([sys.executable, "-m", "ledger", *argv, "--config", str(testbed.config)],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    return result.stdout


def today_stats(testbed: PrivateSite) -> dict[str, int]:
    day: dict[str, int] = json.loads(cli(testbed, "stats", "--json", "--days", "1"))["days"][0]
    return day


def test_a_refused_bounce_shows_in_log_and_stats(testbed: PrivateSite) -> None:
    before = today_stats(testbed)
    mid, dsn = real_dsn_for(testbed)
    forged = forge(dsn, mid)
    with pytest.raises(smtplib.SMTPDataError):
        submit(testbed.postfix.mx_port, "", ["alice@example.test"], forged)
    submit(testbed.postfix.mx_port, "", ["alice@example.test"], dsn)

    # The log entry and counters of a decision ride a later round trip, or are written by the
    # bookkeeper a quarter of a second later (each worker process has its own): wait for them.
    deadline = time.monotonic() + 15
    after = today_stats(testbed)
    while (after["rejected"] - before["rejected"] < 1 or after["matched"] - before["matched"] < 1) \
            and time.monotonic() < deadline:
        time.sleep(0.2)
        after = today_stats(testbed)
    assert after["recorded"] - before["recorded"] >= 1
    assert after["rejected"] - before["rejected"] == 1
    assert after["matched"] - before["matched"] == 1

    [rejected] = [json.loads(li) for li in cli(testbed, "log", "--json", "--action", "reject",
                                                "-n", "1").splitlines()]
    assert rejected["kind"] == "dsn" and rejected["client"].endswith("[127.0.0.1]")
    assert rejected["queue_id"] and rejected["queue_id"] in testbed.postfix.maillog.read_text()
    assert rejected["mail_from"] == "" and rejected["recipients"][0].endswith("@example.test")
    [accepted] = [json.loads(li) for li in cli(testbed, "log", "--json", "--action", "accept", "-n", "1",
                                                "--since", "5m").splitlines()]
    assert accepted["matched"] and accepted["reason"].startswith("original sent")
    found = json.loads(cli(testbed, "lookup", "--json", mid, "--sender", "alice@example.test"))
    assert found["found"] and found["matches"] >= 1
