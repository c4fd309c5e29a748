"""Bounces padded to push the original's Message-ID past every read limit.

Written from the formats' public descriptions: RFC 3464 delivery status
notifications (``multipart/report; report-type=delivery-status``, RFC 3462)
returning the original as ``message/rfc822``, and a qmail-style text bounce
(the original after "--- Below this line is a copy of the message."). The
spammer writes the returned original, and a forger writes all of it, so each
shape is one a sender can choose:

- ``header``: 150 KB of header lines in the returned original before its Message-ID;
- ``text``: a 130 KB first text part before the returned part;
- ``parts``: 70 small MIME parts before it;
- ``deep``: a multipart nested 100 levels deep before it.

The returned original's body always carries IDs that must never count: a
``Message-ID:`` line and a whole attached message (``BODY_ID``).
"""

from __future__ import annotations

SHAPES = ("header", "text", "parts", "deep")
BODY_ID = "<in-the-returned-body@example.test>"
OWN_ID = "<padded-bounce-own@mx.example.com>"


def _crlf(text: str) -> bytes:
    return text.replace("\r\n", "\n").replace("\n", "\r\n").encode("utf-8")


def original(message_id: str, padding: int = 0, sender: str = "alice@example.test",
             to: str = "bob@example.com") -> bytes:
    """A returned original with ``padding`` bytes (or more) of Received lines before its Message-ID."""
    lines = []
    size = 0
    number = 0
    while size < padding:
        line = (f"Received: from relay{number:05d}.example.net (relay{number:05d}.example.net "
                f"[198.51.100.{number % 250}])\n\tby mx.example.com with ESMTP id P{number:08d};\n"
                "\tFri, 27 Nov 2026 09:00:01 +0000\n")
        lines.append(line)
        size += len(line) + line.count("\n")
        number += 1
    return _crlf(
        f"From: Alice <{sender}>\nTo: {to}\nSubject: Quarterly figures\n"
        "Date: Fri, 27 Nov 2026 09:00:00 +0000\n" + "".join(lines)
        + f"Message-ID: {message_id}\nMIME-Version: 1.0\n"
        'Content-Type: multipart/mixed; boundary="inner-boundary"\n\n'
        "--inner-boundary\nContent-Type: text/plain\n\nHello Bob,\n"
        f"Message-ID: {BODY_ID}\n\n"
        "--inner-boundary\nContent-Type: message/rfc822\n\n"
        f"From: alice@example.test\nTo: bob@example.com\nSubject: old\nMessage-ID: {BODY_ID}\n\nold\n"
        "--inner-boundary--\n")


def _nest(levels: int) -> str:
    """A first part that is a multipart nested ``levels`` deep, one small text part inside."""
    opening = "".join(f'Content-Type: multipart/mixed; boundary="nest-{i}"\n\n--nest-{i}\n'
                      for i in range(levels))
    closing = "".join(f"\n--nest-{i}--\n" for i in reversed(range(levels)))
    return opening + "Content-Type: text/plain\n\ndeep inside\n" + closing


def dsn(returned: bytes, shape: str = "", failed: str = "bob@example.com",
        rcpt: str = "alice@example.test") -> bytes:
    """An RFC 3464 DSN returning ``returned``, padded in front of it as ``shape`` says."""
    prose = f"This is the mail system at host mx.example.com.\n\n<{failed}>: 550 5.1.1 User unknown\n"
    if shape == "text":
        prose += "".join(f"Diagnostic transcript line {i:06d} of a very chatty report.\n"
                         for i in range(130 * 1024 // 50))
    parts = [f"Content-Type: text/plain; charset=us-ascii\n\n{prose}"]
    if shape == "parts":
        parts += [f"Content-Type: text/plain\n\nNote {i}.\n" for i in range(70)]
    if shape == "deep":
        parts.insert(0, _nest(100))
    parts.append("Content-Type: message/delivery-status\n\nReporting-MTA: dns; mx.example.com\n\n"
                 f"Final-Recipient: rfc822; {failed}\nAction: failed\nStatus: 5.1.1\n")
    head = (f"From: Mail Delivery System <MAILER-DAEMON@mx.example.com>\nTo: {rcpt}\n"
            "Subject: Undelivered Mail Returned to Sender\nAuto-Submitted: auto-replied\n"
            f"Message-ID: {OWN_ID}\nMIME-Version: 1.0\n"
            'Content-Type: multipart/report; report-type=delivery-status;\n\tboundary="report-boundary"\n\n'
            "This is a MIME-encapsulated message.\n\n")
    body = "".join(f"--report-boundary\n{part}\n" for part in parts)
    return (_crlf(head + body + "--report-boundary\nContent-Type: message/rfc822\n\n") + returned
            + b"\r\n--report-boundary--\r\n")


def padded_dsn(message_id: str, shape: str, failed: str = "bob@example.com") -> bytes:
    """A DSN of ``shape`` returning an original with ID ``message_id`` (header shape: 150 KB padding)."""
    return dsn(original(message_id, 150 * 1024 if shape == "header" else 0, to=failed), shape, failed)


def qmail(message_id: str, padding: int = 150 * 1024, failed: str = "bob@example.com") -> bytes:
    """A qmail-style text bounce quoting an original padded with ``padding`` bytes of headers."""
    return _crlf(
        "From: MAILER-DAEMON@mx.example.com\nTo: alice@example.test\nSubject: failure notice\n"
        f"Message-ID: {OWN_ID}\n\n"
        "Hi. This is the qmail-send program at mx.example.com.\n"
        "I'm afraid I wasn't able to deliver your message to the following addresses.\n"
        "This is a permanent error; I've given up. Sorry it didn't work out.\n\n"
        f"<{failed}>:\nSorry, no mailbox here by that name. (#5.1.1)\n\n"
        "--- Below this line is a copy of the message.\n\n") + original(message_id, padding, to=failed)
