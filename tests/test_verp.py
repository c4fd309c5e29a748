"""VERP: list mail sent with a per-recipient envelope sender, and its bounces to that address.

A list server on the domain sends each recipient's copy with its own sender
(``list-bounces+user=example.org@our.domain``), either writing it itself (one
transaction per recipient, as Mailman does) or asking Postfix for it with the
``XVERP`` parameter of ``MAIL FROM``. A bounce comes back to that address: it must
match, and a bounce to a VERP address of a recipient the message never went to
must not. The end-to-end tests go through the private Postfix and its own
bounce daemon.
"""

from __future__ import annotations

import smtplib
import time
import uuid

import pytest

from ledger import addresses
from ledger.check import Envelope
from ledger.config import load_config
from ledger.record import Recorder, SentMessage
from ledger.services import hasher_for, open_ledger
from ledger.verdict import Inspector
from testbed import PrivateSite, SmtpSink
from tests import messages
from tests.test_end_to_end import strip_sink_headers, submit

LIST = "list-bounces@example.test"


def test_the_verp_form_is_postfixs() -> None:
    assert addresses.verp(LIST, "User@Example.org") == "list-bounces+user=example.org@example.test"
    assert addresses.verp("<List-Bounces@Example.TEST>", "u@x.example", "-+") == (
        "list-bounces-u+x.example@example.test")
    assert addresses.xverp_delimiters(("SIZE=100", "XVERP")) == "+="
    assert addresses.xverp_delimiters(("xverp=-+",)) == "-+"
    assert addresses.xverp_delimiters(("XVERP=+",)) is None  # not two characters: no VERP
    assert addresses.xverp_delimiters(("SIZE=100", "BODY=8BITMIME")) is None


def list_copy(message_id: str, rcpt: str) -> bytes:
    return (f"From: Alice <alice@example.test>\r\nTo: team@lists.example.test\r\nSubject: list post\r\n"
            f"List-Id: <team.lists.example.test>\r\nMessage-ID: {message_id}\r\n\r\n"
            f"hello {rcpt}\r\n").encode()


def verdict(inspector: Inspector, rcpt: str, original: bytes, failed: str) -> tuple[str, str]:
    d = inspector.inspect(Envelope("", [rcpt]), messages.dsn(original, rcpt=rcpt, failed=failed))
    return d.outcome, str(d.cause)


def test_list_written_verp_senders_match_their_own_bounces(recorder: Recorder, inspector: Inspector) -> None:
    mid = "<post-1@lists.example.test>"
    rcpts = ["ann@example.org", "ben@example.net"]
    for rcpt in rcpts:  # one transaction per recipient, each with its VERP sender
        recorder.record(SentMessage(addresses.verp(LIST, rcpt), [rcpt], mid, "alice@example.test"))
    for rcpt in rcpts:
        verp = addresses.verp(LIST, rcpt)
        assert verdict(inspector, verp, list_copy(mid, rcpt), rcpt) == ("accept", "matched")
    stranger = addresses.verp(LIST, "stranger@example.com")
    assert verdict(inspector, stranger, list_copy(mid, "x"), "stranger@example.com") == (
        "reject", "unmatched")


def test_an_xverp_message_is_recorded_for_each_recipients_sender(recorder: Recorder,
                                                                 inspector: Inspector) -> None:
    """Before: only list-bounces@ itself was recorded, and every bounce to a VERP address refused."""
    mid = "<post-2@lists.example.test>"
    rcpts = ["ann@example.org", "ben@example.net", "cid@example.com"]
    result = recorder.record(SentMessage(LIST, rcpts, mid, "alice@example.test", verp="+="))
    assert len(result.entries) == 2 + len(rcpts)  # list-bounces@, alice@ (From), one per VERP sender
    assert len(result.pairs) == 2 * len(rcpts) + len(rcpts)  # a VERP sender pairs with its own rcpt
    for rcpt in rcpts:
        verp = addresses.verp(LIST, rcpt)
        assert verdict(inspector, verp, list_copy(mid, rcpt), rcpt) == ("accept", "matched")
    wrong = addresses.verp(LIST, "dan@example.org")
    assert verdict(inspector, wrong, list_copy(mid, "x"), "dan@example.org") == ("reject", "unmatched")
    # without a Message-ID the envelope check pairs each VERP sender with its own recipient only
    bare = recorder.entries(SentMessage(LIST, rcpts, None, None, verp="+="))
    hasher = recorder.hasher
    assert hasher.pair(addresses.verp(LIST, rcpts[0]), rcpts[0]) in bare.pairs
    assert hasher.pair(addresses.verp(LIST, rcpts[0]), rcpts[1]) not in bare.pairs


# -- end to end, through the private Postfix ---------------------------------------------
def dsn_to(sink: SmtpSink, marker: str, envelope_rcpt: str, timeout: float = 45.0) -> bytes:
    """The DSN Postfix's bounce daemon delivered for ``marker``, checking it went to ``envelope_rcpt``."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for path in sink.messages():
            raw = path.read_bytes()
            if marker.encode() in raw and b"X-Mail-Args: <>" in raw:
                assert f"X-Rcpt-Args: <{envelope_rcpt}>".encode() in raw, raw[:400]
                return strip_sink_headers(raw)
        time.sleep(0.2)
    raise AssertionError(f"no DSN for {marker!r} arrived")


def in_ledger(testbed: PrivateSite, mid: str, sender: str) -> bool:
    cfg = load_config(str(testbed.config))
    entry = hasher_for(cfg).message(mid.strip("<>").lower(), sender)
    return entry in open_ledger(cfg).find([entry])


def refused(testbed: PrivateSite, rcpt: str, dsn: bytes) -> int:
    try:
        submit(testbed.postfix.mx_port, "", [rcpt], dsn)
    except smtplib.SMTPDataError as exc:
        return exc.smtp_code
    return 0


def wrong_part(dsn: bytes, real: str, wrong: str) -> bytes:
    """The real DSN, forged to a VERP address whose recipient part names someone else."""
    return dsn.replace(real.encode(), wrong.encode())


@pytest.mark.postfix
def test_list_verp_senders_through_postfix(testbed: PrivateSite) -> None:
    tag = uuid.uuid4().hex[:10]
    mid = f"<list-{tag}@example.test>"
    rcpts = [f"m{i}-{tag}@fail.test" for i in range(3)]
    for rcpt in rcpts:  # the list server writes the VERP sender itself, one transaction each
        submit(testbed.postfix.submission_port, addresses.verp(LIST, rcpt), [rcpt], list_copy(mid, rcpt))
    dsns = {rcpt: dsn_to(testbed.capture, rcpt, addresses.verp(LIST, rcpt)) for rcpt in rcpts}
    for rcpt in rcpts:
        verp = addresses.verp(LIST, rcpt)
        assert in_ledger(testbed, mid, verp)
        assert refused(testbed, verp, dsns[rcpt]) == 0
        assert wait_pass(testbed, verp)
    stranger = f"stranger-{tag}@fail.test"
    forged = wrong_part(dsns[rcpts[0]], rcpts[0], stranger)
    assert refused(testbed, addresses.verp(LIST, stranger), forged) == 550


@pytest.mark.postfix
def test_postfix_xverp_through_postfix(testbed: PrivateSite) -> None:
    """One transaction with XVERP: Postfix makes the per-recipient senders, its bounce daemon
    returns each failure to its own; before the outbound milter read XVERP, all were refused."""
    tag = uuid.uuid4().hex[:10]
    mid = f"<xverp-{tag}@example.test>"
    rcpts = [f"x{i}-{tag}@fail.test" for i in range(3)]
    with smtplib.SMTP("127.0.0.1", testbed.postfix.submission_port, timeout=30) as smtp:
        smtp.sendmail(LIST, rcpts, list_copy(mid, "all"), mail_options=["XVERP"])
    for rcpt in rcpts:
        verp = addresses.verp(LIST, rcpt)
        dsn = dsn_to(testbed.capture, rcpt, verp)
        assert in_ledger(testbed, mid, verp)
        assert refused(testbed, verp, dsn) == 0
        assert wait_pass(testbed, verp)
    stranger = f"stranger-{tag}@fail.test"
    forged = wrong_part(dsn, rcpts[-1], stranger)
    assert refused(testbed, addresses.verp(LIST, stranger), forged) == 550


def wait_pass(testbed: PrivateSite, verp: str, timeout: float = 30.0) -> bool:
    """The accepted DSN was delivered to the VERP address with the pass header."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for path in testbed.capture.messages():
            raw = path.read_bytes()
            if f"X-Rcpt-Args: <{verp}>".encode() in raw and b"X-Sender-Ledger: pass (dsn;" in raw:
                return True
        time.sleep(0.2)
    return False
