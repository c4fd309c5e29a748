"""Messages and envelopes shared by the observe tests."""

from __future__ import annotations

from ledger.check import Envelope
from ledger.record import SentMessage

SENDER = "alice@example.test"


def sent(message_id: str, sender: str = SENDER) -> SentMessage:
    return SentMessage(mail_from=sender, recipients=["bob@fail.test"], message_id=f"<{message_id}>",
                       from_header=f"Alice <{sender}>")


def dsn(original_id: str, own_id: str = "bounce-1@mx.fail.test", failed: str = "bob@fail.test") -> bytes:
    """A minimal RFC 3464 DSN returning the original's headers (sent to ``failed``)."""
    return (
        "From: MAILER-DAEMON@mx.fail.test\r\n"
        f"To: <{SENDER}>\r\n"
        "Subject: Undelivered Mail Returned to Sender\r\n"
        f"Message-ID: <{own_id}>\r\n"
        "MIME-Version: 1.0\r\n"
        'Content-Type: multipart/report; report-type=delivery-status; boundary="B"\r\n'
        "\r\n"
        "--B\r\nContent-Type: text/plain\r\n\r\nYour message could not be delivered.\r\n"
        "--B\r\nContent-Type: message/delivery-status\r\n\r\n"
        "Reporting-MTA: dns; mx.fail.test\r\n\r\n"
        f"Final-Recipient: rfc822; {failed}\r\nAction: failed\r\nStatus: 5.1.1\r\n"
        "--B\r\nContent-Type: text/rfc822-headers\r\n\r\n"
        f"From: Alice <{SENDER}>\r\nTo: {failed}\r\nMessage-ID: <{original_id}>\r\n"
        "Subject: hello\r\n"
        "--B--\r\n"
    ).encode()


def bounce_envelope(queue_id: str = "4AbC1") -> Envelope:
    return Envelope(mail_from="", recipients=[SENDER], client="mx.fail.test[192.0.2.7]",
                    queue_id=queue_id)
