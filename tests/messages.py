"""Builders for the test messages: originals, real-shaped DSNs, autoreplies, MDNs."""

from __future__ import annotations


def original(message_id: str = "<orig-1@example.test>", sender: str = "alice@example.test",
             to: str = "bob@example.com", subject: str = "Quarterly figures") -> bytes:
    mid = f"Message-ID: {message_id}\r\n" if message_id else ""
    return (
        f"From: Alice <{sender}>\r\nTo: {to}\r\nSubject: {subject}\r\n"
        f"Date: Fri, 27 Nov 2026 09:00:00 +0000\r\n{mid}"
        "In-Reply-To: <earlier-thread@example.com>\r\n"
        "References: <root-thread@example.com> <earlier-thread@example.com>\r\n"
        "\r\nHello Bob,\r\nsee <not-a-reference@example.org> in the body.\r\n"
    ).encode()


def dsn(original_message: bytes, rcpt: str = "alice@example.test", failed: str = "bob@example.com",
        own_id: str = "<20261127.ABC123@mx.example.com>", headers_only: bool = False) -> bytes:
    """An RFC 3464 DSN as Postfix writes it, returning the original."""
    part_type = "text/rfc822-headers" if headers_only else "message/rfc822"
    returned = original_message.split(b"\r\n\r\n", 1)[0] + b"\r\n" if headers_only else original_message
    return (
        b"From: Mail Delivery System <MAILER-DAEMON@mx.example.com>\r\n"
        b"Subject: Undelivered Mail Returned to Sender\r\n"
        b"To: " + rcpt.encode() + b"\r\n"
        b"Auto-Submitted: auto-replied\r\nMIME-Version: 1.0\r\n"
        b'Content-Type: multipart/report; report-type=delivery-status;\r\n\tboundary="BOUNDARY"\r\n'
        b"Message-Id: " + own_id.encode() + b"\r\n\r\n"
        b"This is a MIME-encapsulated message.\r\n\r\n--BOUNDARY\r\n"
        b"Content-Type: text/plain; charset=us-ascii\r\n\r\n"
        b"<" + failed.encode() + b">: host mx.example.com said: 550 5.1.1 User unknown\r\n\r\n"
        b"--BOUNDARY\r\nContent-Type: message/delivery-status\r\n\r\n"
        b"Reporting-MTA: dns; mx.example.com\r\n\r\n"
        b"Final-Recipient: rfc822; " + failed.encode() + b"\r\nAction: failed\r\nStatus: 5.1.1\r\n\r\n"
        b"--BOUNDARY\r\nContent-Type: " + part_type.encode() + b"\r\n\r\n"
        + returned + b"\r\n--BOUNDARY--\r\n"
    )


def autoreply(in_reply_to: str = "<orig-1@example.test>", to: str = "alice@example.test") -> bytes:
    return (
        f"From: Bob <bob@example.com>\r\nTo: {to}\r\nSubject: Out of office: Quarterly figures\r\n"
        "Auto-Submitted: auto-replied\r\nMessage-ID: <vacation-77@example.com>\r\n"
        f"In-Reply-To: {in_reply_to}\r\nReferences: {in_reply_to}\r\n"
        "\r\nI am away until Monday.\r\n"
    ).encode()


def mdn(original_id: str = "<orig-1@example.test>", to: str = "alice@example.test") -> bytes:
    return (
        f"From: bob@example.com\r\nTo: {to}\r\nSubject: Read: Quarterly figures\r\n"
        "Message-ID: <mdn-5@example.com>\r\nMIME-Version: 1.0\r\n"
        'Content-Type: multipart/report; report-type=disposition-notification; boundary="B"\r\n'
        "\r\n--B\r\nContent-Type: text/plain\r\n\r\nYour message was displayed.\r\n"
        "--B\r\nContent-Type: message/disposition-notification\r\n\r\n"
        "Reporting-UA: mua.example.com; Mailer 1.0\r\nFinal-Recipient: rfc822; bob@example.com\r\n"
        f"Original-Message-ID: {original_id}\r\n"
        "Disposition: manual-action/MDN-sent-manually; displayed\r\n\r\n--B--\r\n"
    ).encode()


def ordinary(message_id: str = "<hello-9@example.com>", to: str = "alice@example.test") -> bytes:
    return (
        f"From: Carol <carol@example.com>\r\nTo: {to}\r\nSubject: Lunch?\r\n"
        f"Message-ID: {message_id}\r\nIn-Reply-To: <orig-1@example.test>\r\n"
        "\r\nHow about Friday?\r\n"
    ).encode()


def split(raw: bytes) -> tuple[list[tuple[str, str]], bytes]:
    """Headers (unfolded into name/value pairs, as an MTA hands them over) and body."""
    head, _, body = raw.partition(b"\r\n\r\n")
    headers: list[tuple[str, str]] = []
    for line in head.decode().split("\r\n"):
        if line[:1] in (" ", "\t") and headers:
            name, value = headers[-1]
            headers[-1] = (name, value + "\r\n" + line)
        else:
            name, _, value = line.partition(":")
            headers.append((name, value.lstrip()))
    return headers, body
