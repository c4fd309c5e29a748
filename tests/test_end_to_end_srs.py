"""End to end: the bounce of forwarded mail, to a postsrsd-written SRS address, through Postfix.

A private site of its own (Redis, both milters, smtp-sinks, Postfix) with a
private postsrsd: mail from a stranger arrives at the forwarder's listener,
Postfix's cleanup has postsrsd rewrite its envelope sender into an SRS address
of the site, the next hop refuses the recipient, and Postfix's bounce daemon
writes a real DSN to that SRS address. The DSN, handed to the MX listener with
``MAIL FROM:<>``, is accepted (its original never passed the outbound milter);
the same DSN to a tampered SRS address is refused with 550 during SMTP.
"""

from __future__ import annotations

import json
import os
import re
import smtplib
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from ledger.redis_client import connect
from testbed import PrivateSite
from testbed.postfix import SITE_DOMAIN
from testbed.postsrsd import PrivatePostsrsd
from tests.conftest import SECRET
from tests.test_end_to_end import strip_sink_headers, submit, wait_for_file, wait_until
from tests.test_nothing_in_clear import dump

pytestmark = pytest.mark.postfix

STRANGER = "bob@remote.example"


@pytest.fixture(scope="module")
def srs_site(scratch: Path) -> Iterator[tuple[PrivateSite, PrivatePostsrsd]]:
    base = scratch / "srs-site"
    base.mkdir()
    os.chmod(base, 0o755)  # Postfix's smtpd (user postfix) must reach the milter sockets
    postsrsd = PrivatePostsrsd(base / "postsrsd", SITE_DOMAIN, ["e2e-srs-secret-5d0c1e9a"]).start()
    try:
        site = PrivateSite(base / "site", SECRET, srs_table=postsrsd.forward_table,
                           config_extra=f'[srs]\nsecret_file = "{postsrsd.secret_file}"\n')
        (base / "site").mkdir()
        os.chmod(base / "site", 0o755)
        site.start()
        try:
            yield site, postsrsd
        finally:
            site.stop()
    finally:
        postsrsd.stop()


def forwarded_dsn(site: PrivateSite) -> tuple[str, bytes]:
    """Forward a stranger's mail to a failing recipient; return its SRS address and Postfix's DSN."""
    mid = f"<fwd-{uuid.uuid4().hex}@remote.example>"
    raw = (f"From: Bob <{STRANGER}>\r\nTo: nobody@fail.test\r\nSubject: forwarded\r\n"
           f"Message-ID: {mid}\r\n\r\nhello through a forwarder\r\n").encode()
    assert site.postfix.forward_port is not None
    submit(site.postfix.forward_port, STRANGER, ["nobody@fail.test"], raw)
    dumped = wait_for_file(site.capture, mid).read_bytes()
    assert b"X-Mail-Args: <>" in dumped and b"multipart/report" in dumped
    rcpt = re.search(rb"X-Rcpt-Args: <([^>]+)>", dumped)
    assert rcpt is not None, dumped[:400]
    return rcpt.group(1).decode(), strip_sink_headers(dumped)


def test_a_real_dsn_to_a_postsrsd_address_is_accepted_and_to_a_tampered_one_refused(
        srs_site: tuple[PrivateSite, PrivatePostsrsd]) -> None:
    site, postsrsd = srs_site
    address, dsn = forwarded_dsn(site)
    assert address.startswith("SRS0=") and address.endswith(f"={STRANGER.split('@')[0]}@{SITE_DOMAIN}")
    assert postsrsd.reverse(address) == STRANGER  # postsrsd wrote it for this very sender
    submit(site.postfix.mx_port, "", [address], dsn)  # raises on any refusal
    delivered = wait_for_file(site.capture, "X-Sender-Ledger: pass (dsn; srs:").read_text()
    assert f"X-Rcpt-Args: <{address}>" in delivered

    hash_ = address[5:9]
    tampered = address.replace(hash_, ("Q" if hash_[0] not in "Qq" else "R") + hash_[1:], 1)
    with pytest.raises(smtplib.SMTPDataError) as refused:
        submit(site.postfix.mx_port, "", [tampered], dsn.replace(address.encode(), tampered.encode()))
    assert refused.value.smtp_code == 550
    assert refused.value.smtp_error.startswith(b"5.7.1 Backscatter refused")
    log = site.inbound.log_text()
    assert "cause=srs_forged" in log and "cause=srs " in log
    # Redis (counters, decision log) holds the causes, and nothing of the decoded original
    client = connect(site.redis.url)
    try:
        wait_until(lambda: b"cause:srs forged" in dump(client), "the refusal's counters")
        stored = dump(client)
        assert b"cause:srs" in stored
        for clear in (address, tampered, "remote.example", "=bob"):
            assert clear.lower().encode() not in stored.lower(), clear
    finally:
        client.close()
    stats = subprocess.run([sys.executable, "-m", "ledger", "stats", "--json", "--config",
                            str(site.config)], capture_output=True, text=True, timeout=60)
    assert stats.returncode == 0, stats.stderr
    causes = json.loads(stats.stdout)["days"][0]["causes"]
    assert causes["srs"] == 1 and causes["srs forged"] == 1
