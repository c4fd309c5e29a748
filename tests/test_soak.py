"""The soak, bounded for CI: mixed mail through Postfix and both milters, one Redis outage.

scripts/soak.py runs 20,000 messages and prints its figures; here 600 and one
outage (Redis stopped and started again on its saved data), with assertions.
"""

from __future__ import annotations

import os
import secrets
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from scripts import soak
from testbed import PrivateSite

pytestmark = pytest.mark.postfix


@pytest.fixture(scope="module")
def report(scratch: Path) -> Iterator[soak.Report]:
    if shutil.which("postfix") is None:
        pytest.fail("postfix is not installed: run scripts/test, which installs it")
    base = scratch / "soak"
    base.mkdir()
    os.chmod(base, 0o755)
    site = PrivateSite(base, secrets.token_hex(16), keep_relayed=False).start()
    try:
        args = soak.parser().parse_args(["--messages", "600", "--flaps", "1", "--down", "3",
                                         "--retry-seconds", "60"])
        yield soak.run(site, args)
    finally:
        site.stop()


def test_every_message_got_an_answer_and_the_outage_happened(report: soak.Report) -> None:
    generated = sum(sum(report.replies[k].values())
                    for k in (soak.OUTBOUND, soak.BOUNCED_OUT, soak.ORDINARY, soak.FORGED))
    assert generated == 600
    assert len(report.flaps) == 1 and report.flaps[0].startswith("stopped")
    assert report.dsns_captured == report.real_expected > 0
    assert report.replies[soak.ORDINARY][250] == sum(report.replies[soak.ORDINARY].values())


def test_no_forged_bounce_is_accepted(report: soak.Report) -> None:
    forged = report.replies[soak.FORGED]
    assert report.forged_accepted == 0
    assert forged[550] == sum(forged.values()), dict(forged)  # refused, after any 451s


def test_the_milters_log_no_errors(report: soak.Report) -> None:
    assert report.milter_errors == 0


def test_every_real_bounce_is_eventually_accepted(report: soak.Report) -> None:
    assert report.real_refused == 0 and report.gave_up[soak.REAL] == 0
    assert report.real_accepted == report.real_expected
