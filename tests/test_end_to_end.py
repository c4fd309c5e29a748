"""End to end through a private Postfix: outbound records, the MX refuses forged bounces.

The flow of the product, for real: mail leaves through the submission
listener (outbound milter), Postfix's own bounce daemon writes the DSN for it,
and that DSN and a forged one are handed to the MX listener (inbound milter)
with ``MAIL FROM:<>``. The SMTP client must see the verdict in the transaction.
"""

from __future__ import annotations

import os
import re
import signal
import smtplib
import time
import uuid
from collections.abc import Callable
from pathlib import Path

import pytest

from ledger.config import load_config
from ledger.services import hasher_for, open_ledger
from testbed import PrivateSite, SmtpSink
from tests import messages

pytestmark = pytest.mark.postfix


def wait_for_file(sink: SmtpSink, marker: str, timeout: float = 30.0) -> Path:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for path in sink.messages():
            if marker in path.read_text(errors="replace"):
                return path
        time.sleep(0.1)
    raise AssertionError(f"no message containing {marker!r} arrived")


def strip_sink_headers(raw: bytes) -> bytes:
    """Drop the X-Client/X-Mail/X-Rcpt lines smtp-sink prepends to its dumps."""
    lines = raw.split(b"\n")
    while lines and re.match(rb"X-(Client-Addr|Client-Proto|Helo-Args|Mail-Args|Rcpt-Args):", lines[0]):
        lines.pop(0)
    return b"\n".join(lines).replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")


def submit(port: int, mail_from: str, rcpts: list[str], raw: bytes) -> None:
    with smtplib.SMTP("127.0.0.1", port, timeout=30) as smtp:
        smtp.sendmail(mail_from, rcpts, raw)


def message(message_id: str, to: str, subject: str = "e2e") -> bytes:
    return (f"From: Alice <alice@example.test>\r\nTo: {to}\r\nSubject: {subject}\r\n"
            f"Message-ID: {message_id}\r\n\r\nhello\r\n").encode()


def in_ledger(testbed: PrivateSite, message_id: str, sender: str = "alice@example.test") -> bool:
    cfg = load_config(str(testbed.config))
    entry = hasher_for(cfg).message(message_id.strip("<>").lower(), sender)
    return entry in open_ledger(cfg).find([entry])


def real_dsn_for(testbed: PrivateSite) -> tuple[str, bytes]:
    """Send a message to a recipient that fails and return Postfix's DSN for it."""
    mid = f"<e2e-{uuid.uuid4().hex}@example.test>"
    submit(testbed.postfix.submission_port, "alice@example.test", ["nobody@fail.test"],
           message(mid, "nobody@fail.test"))
    dsn_file = wait_for_file(testbed.capture, mid)
    raw = dsn_file.read_bytes()
    assert b"X-Mail-Args: <>" in raw and b"multipart/report" in raw
    return mid, strip_sink_headers(raw)


def forge(dsn: bytes, mid: str) -> bytes:
    """The DSN with a never-sent Message-ID, bounced by an address alice never wrote to.

    Both must change: with the same failed recipient, the envelope check
    (docs/policy.md step 3: alice did write to it) would rightly accept it.
    """
    forged = dsn.replace(mid.encode(), b"<never-sent-" + uuid.uuid4().hex.encode() + b"@example.test>")
    return forged.replace(b"nobody@fail.test", b"stranger@fail.test")


def test_sent_mail_lands_in_the_ledger_and_its_real_dsn_is_accepted(testbed: PrivateSite) -> None:
    mid, dsn = real_dsn_for(testbed)
    assert in_ledger(testbed, mid)
    submit(testbed.postfix.mx_port, "", ["alice@example.test"], dsn)  # raises on any refusal
    delivered = wait_for_file(testbed.capture, "X-Sender-Ledger: pass (dsn;")
    assert mid in delivered.read_text()


def test_forged_dsn_is_refused_with_550_during_smtp(testbed: PrivateSite) -> None:
    mid, dsn = real_dsn_for(testbed)
    forged = forge(dsn, mid)
    with pytest.raises(smtplib.SMTPDataError) as refused:
        submit(testbed.postfix.mx_port, "", ["alice@example.test"], forged)
    assert refused.value.smtp_code == 550
    assert refused.value.smtp_error.startswith(b"5.7.1 Backscatter refused")


def test_ordinary_mail_passes_untouched(testbed: PrivateSite) -> None:
    mid = f"<plain-{uuid.uuid4().hex}@example.com>"
    raw = (f"From: carol@example.com\r\nTo: alice@example.test\r\nSubject: lunch\r\n"
           f"Message-ID: {mid}\r\n\r\nFriday?\r\n").encode()
    submit(testbed.postfix.mx_port, "carol@example.com", ["alice@example.test"], raw)
    delivered = wait_for_file(testbed.capture, mid).read_text()
    assert "X-Sender-Ledger" not in delivered


def test_sendmail_submissions_are_recorded_too(testbed: PrivateSite) -> None:
    mid = f"<pickup-{uuid.uuid4().hex}@example.test>"
    testbed.postfix.sendmail(message(mid, "someone@elsewhere.test"), "alice@example.test",
                             "someone@elsewhere.test")
    testbed.postfix.flush()
    deadline = time.monotonic() + 20
    while not in_ledger(testbed, mid) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert in_ledger(testbed, mid)


def test_with_redis_down_bounces_get_451_and_mail_still_flows(testbed: PrivateSite) -> None:
    mid, real = real_dsn_for(testbed)
    forged = real.replace(mid.encode(), b"<forged-" + uuid.uuid4().hex.encode() + b"@example.test>")
    testbed.redis.stop()
    try:
        for dsn in (real, forged):
            with pytest.raises(smtplib.SMTPDataError) as deferred:
                submit(testbed.postfix.mx_port, "", ["alice@example.test"], dsn)
            assert deferred.value.smtp_code == 451
            assert deferred.value.smtp_error.startswith(b"4.7.1")
        plain_id = f"<down-{uuid.uuid4().hex}@example.com>"
        submit(testbed.postfix.mx_port, "carol@example.com", ["alice@example.test"],
               f"From: carol@example.com\r\nSubject: x\r\nMessage-ID: {plain_id}\r\n\r\nhi\r\n".encode())
        wait_for_file(testbed.capture, plain_id)
        out_id = f"<out-while-down-{uuid.uuid4().hex}@example.test>"
        submit(testbed.postfix.submission_port, "alice@example.test", ["dave@elsewhere.test"],
               message(out_id, "dave@elsewhere.test"))
        wait_for_file(testbed.relay, out_id)
        assert "spooled: the ledger could not take it now" in testbed.outbound.log_text()
    finally:
        testbed.redis.start()  # a fresh, empty Redis (the testbed keeps no data)
    wait_until(lambda: in_ledger(testbed, out_id), "the spooled record to be replayed")
    ledger = open_ledger(load_config(str(testbed.config)))
    wait_until(lambda: not ledger.catching_up(), "the catching-up flag to lapse")
    _, after = real_dsn_for(testbed)
    submit(testbed.postfix.mx_port, "", ["alice@example.test"], after)  # ledger back: accepted again


def wait_until(predicate: Callable[[], bool], what: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.1)


def test_mail_sent_while_redis_is_down_is_spooled_and_its_real_dsns_accepted_later(
        testbed: PrivateSite) -> None:
    """The outage case of the reliability issue: 20 messages sent with Redis down.

    Before the spool, their real DSNs were all refused with 550 once Redis was
    back. Now each record waits in the spool (hashed), is replayed, and every
    real DSN is accepted; a forged one is still refused.
    """
    spool = testbed.base / "spool"
    ids = [f"<outage-{n}-{uuid.uuid4().hex}@example.test>" for n in range(20)]
    testbed.redis.stop()
    try:
        for mid in ids:
            submit(testbed.postfix.submission_port, "alice@example.test", ["nobody@fail.test"],
                   message(mid, "nobody@fail.test"))
        dsns = {mid: strip_sink_headers(wait_for_file(testbed.capture, mid).read_bytes()) for mid in ids}
        spooled = b"".join(p.read_bytes() for p in spool.glob("seg-*.jsonl"))
        assert spooled.count(b"\n") >= len(ids)
        for mid in ids:  # nothing in clear at rest, on disk either
            assert mid.strip("<>").encode() not in spooled
        assert b"alice" not in spooled and b"fail.test" not in spooled
        # A bounce that arrives before the ledger is back waits (451), it is not refused.
        with pytest.raises(smtplib.SMTPDataError) as deferred:
            submit(testbed.postfix.mx_port, "", ["alice@example.test"], dsns[ids[0]])
        assert deferred.value.smtp_code == 451
    finally:
        testbed.redis.start()
    wait_until(lambda: all(in_ledger(testbed, mid) for mid in ids), "the spool to be replayed")
    wait_until(lambda: not any(p.stat().st_size for p in spool.glob("seg-*.jsonl")), "an empty spool")
    assert "replayed" in testbed.outbound.log_text()
    for mid in ids:
        submit(testbed.postfix.mx_port, "", ["alice@example.test"], dsns[mid])  # raises on any refusal
    with pytest.raises(smtplib.SMTPDataError) as waited:
        submit(testbed.postfix.mx_port, "", ["alice@example.test"], forge(dsns[ids[1]], ids[1]))
    ledger = open_ledger(load_config(str(testbed.config)))
    assert waited.value.smtp_code == 451 or not ledger.catching_up()
    wait_until(lambda: not ledger.catching_up(), "the catching-up flag to lapse")
    with pytest.raises(smtplib.SMTPDataError) as refused:
        submit(testbed.postfix.mx_port, "", ["alice@example.test"], forge(dsns[ids[1]], ids[1]))
    assert refused.value.smtp_code == 550


def test_a_huge_dsn_is_accepted_whole_after_reading_only_its_head(testbed: PrivateSite) -> None:
    # Postfix itself returns only headers past bounce_size_limit; other MTAs return it all.
    mid = f"<e2e-big-{uuid.uuid4().hex}@example.test>"
    body = b"".join(b"line %06d of a large attachment, base64 or not\r\n" % i for i in range(30000))
    sent = message(mid, "bob@example.com").replace(b"hello\r\n", body)
    submit(testbed.postfix.submission_port, "alice@example.test", ["bob@example.com"], sent)
    wait_for_file(testbed.relay, mid)
    dsn = messages.dsn(sent, failed="bob@example.com")
    assert len(dsn) > 1_400_000
    submit(testbed.postfix.mx_port, "", ["alice@example.test"], dsn)
    delivered = wait_for_file(testbed.capture, "line 029999 of a large attachment").read_bytes()
    assert b"X-Sender-Ledger: pass (dsn;" in delivered
    assert len(delivered) > 1_400_000  # the milter's SKIP did not cut the delivered mail short


def test_a_ten_recipient_message_takes_thirty_bounces_and_refuses_the_thirty_first(
        testbed: PrivateSite) -> None:
    """The recipient count the outbound milter records sets the bounce budget (x3 by default)."""
    mid = f"<e2e-budget-{uuid.uuid4().hex}@example.test>"
    rcpts = [f"r{i}@elsewhere.test" for i in range(10)]
    sent = message(mid, ", ".join(rcpts))
    submit(testbed.postfix.submission_port, "alice@example.test", rcpts, sent)
    wait_for_file(testbed.relay, mid)
    assert in_ledger(testbed, mid)
    refused = []
    for i in range(31):
        try:
            submit(testbed.postfix.mx_port, "", ["alice@example.test"],
                   messages.dsn(sent, failed=rcpts[i % 10]))
        except smtplib.SMTPDataError as exc:
            refused.append((i, exc.smtp_code, exc.smtp_error[:5]))
    assert refused == [(30, 550, b"5.7.1")]


def test_a_hung_redis_gives_bounces_451_within_the_timeout_and_mail_still_flows(
        testbed: PrivateSite) -> None:
    """A redis-server that stops answering (SIGSTOP: connections open, no replies), not a
    refused connection. Bounded by redis.socket_timeout + connect_timeout (0.5 s each), once
    more for the single retry, and the observer's best-effort write; asserted generously."""
    cfg = load_config(str(testbed.config))
    budget = 2 * (cfg.redis.socket_timeout + cfg.redis.connect_timeout)
    _, real = real_dsn_for(testbed)
    proc = testbed.redis.proc
    assert proc is not None and proc.poll() is None
    os.kill(proc.pid, signal.SIGSTOP)
    try:
        started = time.monotonic()
        with pytest.raises(smtplib.SMTPDataError) as deferred:
            submit(testbed.postfix.mx_port, "", ["alice@example.test"], real)
        elapsed = time.monotonic() - started
        assert deferred.value.smtp_code == 451
        assert deferred.value.smtp_error.startswith(b"4.7.1")
        assert elapsed < 10, f"451 after {elapsed:.1f}s (timeouts allow about {budget:.1f}s)"
        plain_id = f"<hung-{uuid.uuid4().hex}@example.com>"
        submit(testbed.postfix.mx_port, "carol@example.com", ["alice@example.test"],
               f"From: carol@example.com\r\nSubject: x\r\nMessage-ID: {plain_id}\r\n\r\nhi\r\n".encode())
        wait_for_file(testbed.capture, plain_id)
        out_id = f"<out-while-hung-{uuid.uuid4().hex}@example.test>"
        started = time.monotonic()
        submit(testbed.postfix.submission_port, "alice@example.test", ["dave@elsewhere.test"],
               message(out_id, "dave@elsewhere.test"))
        assert time.monotonic() - started < 10
        wait_for_file(testbed.relay, out_id)
    finally:
        os.kill(proc.pid, signal.SIGCONT)
    # Redis answers again: the record made while it hung is replayed from the spool
    # (a frozen Redis must not lose it either), and the same bounce is accepted.
    wait_until(lambda: in_ledger(testbed, out_id), "the record made while Redis hung")
    submit(testbed.postfix.mx_port, "", ["alice@example.test"], real)
    ledger = open_ledger(cfg)
    wait_until(lambda: not ledger.catching_up(), "the catching-up flag to lapse")  # leave the site healthy
    print(f"hung Redis: 451 after {elapsed:.2f}s (timeouts {budget:.1f}s)")
