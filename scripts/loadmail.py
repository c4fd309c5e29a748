"""Mail and plumbing shared by the load scripts (memory benchmark, soak).

Messages are built here, sized on demand, in the three shapes the inbound
milter sees: ordinary mail, a DSN returning a message the site sent, and a
forged DSN (a never-sent Message-ID, a recipient never written to). Nothing
here keeps state: every function can be called from many threads.
"""

from __future__ import annotations

import smtplib
from pathlib import Path

USER = "alice@example.test"  # the site's domain (testbed.postfix.SITE_DOMAIN)
LINE = b"Lorem ipsum dolor sit amet, consectetur adipiscing elit, sed do eiusmod.\r\n"


def padding(size: int) -> bytes:
    """About ``size`` bytes of ordinary text lines."""
    return LINE * max(1, size // len(LINE))


def trace_headers(size: int) -> bytes:
    """About ``size`` bytes of header fields (1 KB each), as a long relay chain or a spammer adds."""
    field = b"X-Trace: " + b"t" * 1000 + b"\r\n"
    return field * (size // len(field))


def original(message_id: str, to: str = "bob@example.com", size: int = 0) -> bytes:
    """A message the site sends, ``size`` bytes of body at least."""
    return (f"From: Alice <{USER}>\r\nTo: {to}\r\nSubject: report\r\n"
            f"Message-ID: {message_id}\r\n\r\n").encode() + padding(size)


def dsn(returned: bytes, failed: str, own_id: str, head: int = 0) -> bytes:
    """An RFC 3464 DSN as a remote MTA writes it, returning ``returned`` whole;
    ``head`` bytes of extra header fields on top."""
    return (
        trace_headers(head) +
        b"From: Mail Delivery System <MAILER-DAEMON@mx.example.com>\r\nTo: " + USER.encode() + b"\r\n"
        b"Subject: Undelivered Mail Returned to Sender\r\nMIME-Version: 1.0\r\n"
        b'Content-Type: multipart/report; report-type=delivery-status; boundary="B"\r\n'
        b"Message-ID: " + own_id.encode() + b"\r\n\r\n"
        b"--B\r\nContent-Type: text/plain\r\n\r\n<" + failed.encode() + b">: 550 5.1.1 unknown\r\n"
        b"--B\r\nContent-Type: message/delivery-status\r\n\r\nReporting-MTA: dns; mx.example.com\r\n\r\n"
        b"Final-Recipient: rfc822; " + failed.encode() + b"\r\nAction: failed\r\nStatus: 5.1.1\r\n\r\n"
        b"--B\r\nContent-Type: message/rfc822\r\n\r\n" + returned + b"\r\n--B--\r\n"
    )


def ordinary(n: int, size: int = 0, head: int = 0) -> bytes:
    """Ordinary mail to the site's user (accepted at end of headers); ``head`` bytes of extra
    header fields."""
    return trace_headers(head) + (f"From: carol@example.com\r\nTo: {USER}\r\nSubject: note {n}\r\n"
            f"Message-ID: <note-{n}@example.com>\r\n\r\n").encode() + padding(size)


def session(port: int, mail_from: str, rcpt: str, raw: bytes, timeout: float = 120) -> tuple[int, str]:
    """One SMTP session carrying one message: the final reply (code, text).

    A refusal at MAIL, RCPT or DATA is a reply, not an exception; a broken
    connection is reported as code 0.
    """
    try:
        with smtplib.SMTP("127.0.0.1", port, timeout=timeout) as smtp:
            smtp.ehlo("client.example.net")
            for code, text in (smtp.mail(mail_from), smtp.rcpt(rcpt)):
                if code >= 400:
                    return code, text.decode(errors="replace")
            code, text = smtp.data(raw)
            return code, text.decode(errors="replace")
    except (smtplib.SMTPException, OSError) as exc:
        return 0, str(exc)[:200]


def vm_rss_mb(pid: int) -> float:
    """Resident memory of a process, in MiB (VmRSS of /proc/PID/status)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"no VmRSS for pid {pid}")
