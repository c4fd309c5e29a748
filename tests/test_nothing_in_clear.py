"""Nothing in clear at rest: after a run through every decision path, no address or ID in Redis.

The ledger holds keyed hashes; the counters hold fixed field names; the
decision log holds masked addresses (a keyed hash at the domain, by default)
and reasons that name nothing. This test drives the real milters through
Postfix down every path, then dumps every Redis key and value and searches
them, and the outbound spool, for every address and Message-ID it used.
"""

from __future__ import annotations

import smtplib
import time
import uuid

import pytest
import redis

from ledger.config import load_config
from ledger.services import open_ledger
from testbed import PrivateSite
from tests.test_end_to_end import (
    forge,
    in_ledger,
    message,
    real_dsn_for,
    strip_sink_headers,
    submit,
    wait_for_file,
    wait_until,
)

pytestmark = pytest.mark.postfix


def dump(client: redis.Redis) -> bytes:
    """Every key and every value in the Redis, as one blob."""
    out: list[bytes] = []
    for key in client.scan_iter(count=1000):
        out.append(key)
        kind = client.type(key)
        if kind == b"hash":
            for field, value in client.hgetall(key).items():
                out += [field, value]
        elif kind == b"stream":
            for _, entry in client.xrange(key):
                for field, value in entry.items():
                    out += [field, value]
        elif kind == b"string":
            out.append(client.get(key) or b"")
        elif kind in (b"set", b"zset", b"list"):
            members = (client.smembers(key) if kind == b"set" else
                       client.zrange(key, 0, -1) if kind == b"zset" else client.lrange(key, 0, -1))
            out += list(members)
        else:
            raise AssertionError(f"unexpected key type {kind!r} for {key!r}")
    return b"\n".join(out)


def refused(port: int, raw: bytes, rcpt: str = "alice@example.test") -> int:
    with pytest.raises(smtplib.SMTPDataError) as caught:
        submit(port, "", [rcpt], raw)
    return caught.value.smtp_code


def no_reference_dsn(failed: str) -> bytes:
    """A DSN that names the failed recipient but returns nothing of the original."""
    return (
        "From: MAILER-DAEMON@mx.far.test\r\nTo: alice@example.test\r\n"
        "Subject: Undelivered Mail Returned to Sender\r\n"
        f"Message-ID: <noref-{uuid.uuid4().hex}@mx.far.test>\r\nMIME-Version: 1.0\r\n"
        'Content-Type: multipart/report; report-type=delivery-status; boundary="B"\r\n\r\n'
        "--B\r\nContent-Type: text/plain\r\n\r\nDelivery failed.\r\n"
        "--B\r\nContent-Type: message/delivery-status\r\n\r\nReporting-MTA: dns; mx.far.test\r\n\r\n"
        f"Final-Recipient: rfc822; {failed}\r\nAction: failed\r\nStatus: 5.1.1\r\n--B--\r\n"
    ).encode()


def test_no_address_or_message_id_in_clear_anywhere_in_redis(testbed: PrivateSite) -> None:
    mx = testbed.postfix.mx_port
    used_ids: list[str] = []
    # 1. Redis down: outbound mail is spooled, a bounce is tempfailed (counted later).
    mid_down = f"<clear-down-{uuid.uuid4().hex}@example.test>"
    used_ids.append(mid_down)
    testbed.redis.stop()
    try:
        submit(testbed.postfix.submission_port, "alice@example.test", ["nobody@fail.test"],
               message(mid_down, "nobody@fail.test"))
        down_dsn = strip_sink_headers(wait_for_file(testbed.capture, mid_down).read_bytes())
        assert refused(mx, down_dsn) == 451
    finally:
        testbed.redis.start()
    wait_until(lambda: in_ledger(testbed, mid_down), "the spool to be replayed")
    ledger = open_ledger(load_config(str(testbed.config)))
    wait_until(lambda: not ledger.catching_up(), "the catching-up flag to lapse")
    # 2. A real DSN matched (and its budget spent), a forged one refused.
    mid, dsn = real_dsn_for(testbed)
    used_ids.append(mid)
    submit(mx, "", ["alice@example.test"], down_dsn)
    for _ in range(3):
        submit(mx, "", ["alice@example.test"], dsn)
    assert refused(mx, dsn) == 550  # budget exhausted: 1 recipient x 3
    forged = forge(dsn, mid)
    assert refused(mx, forged) == 550
    # 3. No reference: the envelope check accepts one, the other is tagged.
    submit(mx, "", ["alice@example.test"], no_reference_dsn("nobody@fail.test"))
    assert refused(mx, no_reference_dsn("carol.never@far.test")) == 550
    tagged = no_reference_dsn("").replace(b"Final-Recipient: rfc822; \r\n", b"")
    submit(mx, "", ["alice@example.test"], tagged)
    # 4. An autoreply to an unknown thread (refused) and ordinary mail (not touched).
    auto_id = f"<auto-{uuid.uuid4().hex}@far.test>"
    used_ids.append(auto_id)
    autoreply = (f"From: Bob <bob.far@far.test>\r\nTo: alice@example.test\r\nSubject: Out of office\r\n"
                 f"Auto-Submitted: auto-replied\r\nMessage-ID: {auto_id}\r\n"
                 f"In-Reply-To: <thread-{uuid.uuid4().hex}@example.test>\r\n\r\nAway.\r\n").encode()
    with pytest.raises(smtplib.SMTPDataError):
        submit(mx, "bob.far@far.test", ["alice@example.test"], autoreply)
    submit(mx, "carol@far.test", ["alice@example.test"],
           message(f"<ordinary-{uuid.uuid4().hex}@far.test>", "alice@example.test"))

    time.sleep(0.5)  # the milters' bookkeepers write just after their answers
    client = ledger.client
    wait_until(lambda: client.exists(f"{ledger.namespace}:{{obs}}:log") == 1, "the decision log")
    blob = dump(client).lower()
    addresses = ["alice@example.test", "nobody@fail.test", "stranger@fail.test", "carol.never@far.test",
                 "bob.far@far.test", "carol@far.test"]
    for address in addresses:
        assert address.encode() not in blob, address
        assert address.split("@")[0].encode() + b"@" not in blob, address  # not even the local part
    for mid_text in used_ids:
        assert mid_text.strip("<>").lower().encode() not in blob, mid_text
        assert mid_text.strip("<>").split("@")[0].lower().encode() not in blob, mid_text
    spooled = b"".join(p.read_bytes() for p in (testbed.base / "spool").glob("*"))
    assert b"alice" not in spooled and b"example" not in spooled
