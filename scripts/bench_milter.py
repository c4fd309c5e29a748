#!/usr/bin/env python3
"""Does the inbound milter keep up with Postfix? Messages per second, with and without it.

Starts a private Redis, both milters and a private Postfix with two identical
smtpd listeners, one with the inbound milter and one without (the baseline),
and sends the same messages to both from concurrent SMTP sessions, rounds
interleaved. Mail is relayed to an smtp-sink that keeps nothing. Four kinds:
ordinary mail (accepted at end of headers), real DSNs whose originals are in
the ledger (parsed, looked up, accepted), forged DSNs (looked up, refused 550)
and, for the outbound side, mail through the recording milter.

    scripts/bench_milter.py [--messages 600] [--sessions 8] [--rounds 3]
"""

from __future__ import annotations

import argparse
import os
import secrets
import shlex
import shutil
import smtplib
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from ledger.config import load_config
from ledger.record import SentMessage
from ledger.services import recorder_for
from ledger.testbed import PrivateSite

USER = "alice@bench.test"


def original(i: int) -> bytes:
    return (f"From: {USER}\r\nTo: bob@example.com\r\nSubject: report {i}\r\n"
            f"Message-ID: <bench-{i}@bench.test>\r\n\r\n" + "Some text of the original.\r\n" * 20).encode()


def dsn(i: int, message_id: str, failed: str = "bob@example.com") -> bytes:
    """A DSN for original i; a forged one names an ID and a recipient never written to."""
    returned = original(i).replace(f"<bench-{i}@bench.test>".encode(), message_id.encode())
    returned = returned.replace(b"bob@example.com", failed.encode())
    return (
        b"From: MAILER-DAEMON@mx.example.com\r\nTo: " + USER.encode() + b"\r\n"
        b"Subject: Undelivered Mail Returned to Sender\r\nMIME-Version: 1.0\r\n"
        b'Content-Type: multipart/report; report-type=delivery-status; boundary="B"\r\n'
        b"Message-ID: <dsn-" + str(i).encode() + b"@mx.example.com>\r\n\r\n"
        b"--B\r\nContent-Type: text/plain\r\n\r\n<" + failed.encode() + b">: 550 5.1.1 unknown\r\n"
        b"--B\r\nContent-Type: message/delivery-status\r\n\r\nReporting-MTA: dns; mx.example.com\r\n\r\n"
        b"Final-Recipient: rfc822; " + failed.encode() + b"\r\nAction: failed\r\nStatus: 5.1.1\r\n\r\n"
        b"--B\r\nContent-Type: message/rfc822\r\n\r\n" + returned + b"\r\n--B--\r\n"
    )


def ordinary(i: int) -> bytes:
    return (f"From: carol@example.com\r\nTo: {USER}\r\nSubject: note {i}\r\n"
            f"Message-ID: <note-{i}@example.com>\r\n\r\n" + "An ordinary message.\r\n" * 20).encode()


def blast(port: int, mail_from: str, messages: list[bytes], sessions: int) -> tuple[float, dict[int, int]]:
    """Send all messages over `sessions` concurrent SMTP sessions; (msg/s, replies by code)."""
    codes: dict[int, int] = {}

    def worker(chunk: list[bytes]) -> dict[int, int]:
        seen: dict[int, int] = {}
        with smtplib.SMTP("127.0.0.1", port, timeout=60) as smtp:
            smtp.ehlo("bench.example.net")
            for raw in chunk:
                smtp.mail(mail_from)
                smtp.rcpt(USER)
                code, _ = smtp.data(raw)
                seen[code] = seen.get(code, 0) + 1
                if code != 250:
                    smtp.rset()
        return seen

    chunks = [messages[i::sessions] for i in range(sessions)]
    started = time.perf_counter()
    with ThreadPoolExecutor(sessions) as pool:
        for seen in pool.map(worker, chunks):
            for code, n in seen.items():
                codes[code] = codes.get(code, 0) + n
    return len(messages) / (time.perf_counter() - started), codes


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=600, help="messages per kind and run")
    parser.add_argument("--sessions", type=int, default=8)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    if os.geteuid() != 0:
        print("bench_milter: run as root (Postfix needs it)", file=sys.stderr)
        return 1

    base = Path(tempfile.mkdtemp(prefix="bench-milter-"))
    os.chmod(base, 0o755)
    secret = secrets.token_hex(32)
    site = PrivateSite(base, secret, keep_relayed=False, baseline_listener=True).start()
    try:
        postfix, config = site.postfix, site.config
        assert postfix.plain_port is not None

        total = args.messages * args.rounds
        recorder = recorder_for(load_config(str(config)))
        for i in range(total):
            recorder.record(SentMessage(mail_from=USER, recipients=["bob@example.com"],
                                        message_id=f"<bench-{i}@bench.test>"))

        kinds: dict[str, tuple[str, Callable[[int], bytes], int]] = {
            "ordinary mail, inbound milter": ("carol@example.com", ordinary, postfix.mx_port),
            "real DSNs (in ledger), inbound": ("", lambda i: dsn(i, f"<bench-{i}@bench.test>"),
                                               postfix.mx_port),
            "forged DSNs (refused), inbound": ("", lambda i: dsn(i, f"<forged-{i}@bench.test>",
                                                                      f"stranger{i}@example.org"),
                                               postfix.mx_port),
            "outbound mail, recording milter": (USER, lambda i: original(i + total),
                                                postfix.submission_port),
        }
        print(f"{args.messages} messages per run, {args.sessions} sessions, {args.rounds} rounds "
              f"(median msg/s; baseline = the same messages to a listener without milter)")
        print(f"{'kind':34} {'baseline':>9} {'milter':>9} {'ratio':>6}  replies")
        for name, (mail_from, make, port) in kinds.items():
            base_rates, milter_rates = [], []
            replies: dict[int, int] = {}
            for round_no in range(args.rounds):
                first = round_no * args.messages
                batch = [make(i) for i in range(first, first + args.messages)]
                rate, _codes = blast(postfix.plain_port, mail_from, batch, args.sessions)
                base_rates.append(rate)
                rate, codes = blast(port, mail_from, batch, args.sessions)
                milter_rates.append(rate)
                for code, n in codes.items():
                    replies[code] = replies.get(code, 0) + n
            b, m = statistics.median(base_rates), statistics.median(milter_rates)
            print(f"{name:34} {b:9.0f} {m:9.0f} {m / b:6.2f}  {dict(sorted(replies.items()))}")
        print(f"rerun: {shlex.join([sys.argv[0], *sys.argv[1:]])}")
        return 0
    finally:
        site.stop()
        shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
