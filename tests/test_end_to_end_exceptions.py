"""[inbound.exceptions] end to end, through a private Postfix with its own site.

The site's plain listener (no milter) stands for an outbound relay the ledger
cannot see: it is renamed ``relay.example.test``, so the Received line it writes
into the mail it passes names it, and Postfix's own bounce daemon returns that
line in the DSN. The exception recipient is a user who also sends elsewhere.
"""

from __future__ import annotations

import smtplib
import subprocess
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from testbed import PrivateSite
from tests.conftest import SECRET
from tests.test_end_to_end import message, strip_sink_headers, submit, wait_for_file

pytestmark = pytest.mark.postfix

RELAY = "relay.example.test"
EXTRA = (f'[inbound.exceptions]\nrecipients = ["bob@example.test"]\ntrusted_relays = ["{RELAY}"]\n')


@pytest.fixture(scope="module")
def site(scratch: Path) -> Iterator[PrivateSite]:
    base = scratch / "exceptions-site"
    base.mkdir()
    base.chmod(0o755)
    testbed = PrivateSite(base, SECRET, baseline_listener=True, config_extra=EXTRA).start()
    try:
        pf = testbed.postfix
        assert pf.plain_port is not None
        rename = f"127.0.0.1:{pf.plain_port}/inet/myhostname={RELAY}"
        subprocess.run(["postconf", "-c", str(pf.etc), "-P", rename], check=True, capture_output=True)
        subprocess.run(["postfix", "-c", str(pf.etc), "reload"], check=True, capture_output=True, timeout=60)
        time.sleep(3)  # postfix reload is asynchronous
        yield testbed
    finally:
        testbed.stop()


def dsn_via(site: PrivateSite, port: int, sender: str) -> tuple[str, bytes]:
    """Send a message through ``port`` to a failing recipient; Postfix's DSN for it."""
    mid = f"<around-{uuid.uuid4().hex}@example.test>"
    submit(port, sender, ["nobody@fail.test"], message(mid, "nobody@fail.test"))
    raw = wait_for_file(site.capture, mid, timeout=45).read_bytes()
    assert b"X-Mail-Args: <>" in raw
    return mid, strip_sink_headers(raw)


def code_of(site: PrivateSite, rcpt: str, dsn: bytes) -> int:
    try:
        submit(site.postfix.mx_port, "", [rcpt], dsn)
    except smtplib.SMTPDataError as exc:
        return exc.smtp_code
    return 250


def test_a_bounce_of_mail_that_left_through_a_trusted_relay_is_tagged(site: PrivateSite) -> None:
    mid, dsn = dsn_via(site, site.postfix.plain_port or 0, "alice@example.test")
    assert f"by {RELAY}".encode() in dsn  # the relay's own Received line, returned by the bounce daemon
    assert code_of(site, "alice@example.test", dsn) == 250
    delivered = wait_for_file(site.capture, "X-Sender-Ledger: unverified (dsn; the returned original left "
                                            "through a trusted relay").read_text()
    assert mid in delivered
    # the same bounce whose returned chain names another relay: refused, though the bounce's
    # own header (written by the MX and prepended here) names the trusted relay
    forged = (f"Received: from {RELAY} (localhost [127.0.0.1]) by mx.example.test; x\r\n".encode()
              + dsn.replace(f"by {RELAY}".encode(), b"by stranger.example.net")
              .replace(b"nobody@fail.test", b"someone@fail.test"))
    assert code_of(site, "alice@example.test", forged) == 550


def test_unmatched_bounces_to_an_exception_recipient_are_tagged_to_others_refused(site: PrivateSite) -> None:
    # bob also sends through another provider: a bounce of such mail matches nothing here
    mid, dsn = dsn_via(site, site.postfix.plain_port or 0, "bob@example.test")
    elsewhere = dsn.replace(f"by {RELAY}".encode(), b"by smtp.provider.example")
    assert code_of(site, "bob@example.test", elsewhere) == 250
    wait_for_file(site.capture, "X-Sender-Ledger: unverified (dsn; the recipient is an exception")
    to_alice = elsewhere.replace(b"bob@example.test", b"alice@example.test")
    assert code_of(site, "alice@example.test", to_alice) == 550
    assert mid  # the DSN was of a message never recorded


def test_real_bounces_still_match_on_the_exception_site(site: PrivateSite) -> None:
    mid, dsn = dsn_via(site, site.postfix.submission_port, "bob@example.test")
    assert code_of(site, "bob@example.test", dsn) == 250
    assert mid in wait_for_file(site.capture, "X-Sender-Ledger: pass (dsn;").read_text()
