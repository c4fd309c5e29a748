#!/usr/bin/env python3
"""Do the milters keep up with Postfix? Messages per second against two baselines.

Starts a private Redis, both milters and a private Postfix with identical smtpd
listeners: one with the real milter, one without any milter (the bare
listener) and one with a no-op pymilter (testbed/noop_milter.py: the
floor, what any pymilter costs Postfix). The same messages go to all three from
concurrent SMTP sessions, interleaved within each round, so that the machine's
load moves all three alike. Mail is relayed to an smtp-sink that keeps nothing.
Four kinds: ordinary mail (accepted at end of headers), real DSNs whose
originals are in the ledger (parsed, looked up, accepted), forged DSNs (looked
up, refused 550) and, for the outbound side, mail through the recording milter.
Each ratio is the median of the per-round ratios; the spread is their range.

    scripts/bench_milter.py [--messages 600] [--sessions 8] [--rounds 5] [--workers 1]
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
from testbed import PrivateSite

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


def ratio(top: list[float], bottom: list[float]) -> str:
    """Median of the per-round ratios, with their range: '0.93 [0.81-1.02]'."""
    per_round = [t / b for t, b in zip(top, bottom, strict=True)]
    return f"{statistics.median(per_round):.2f} [{min(per_round):.2f}-{max(per_round):.2f}]"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=600, help="messages per kind and run")
    parser.add_argument("--sessions", type=int, default=8)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--workers", type=int, default=1, help="worker processes of each real milter")
    args = parser.parse_args()
    if os.geteuid() != 0:
        print("bench_milter: run as root (Postfix needs it)", file=sys.stderr)
        return 1

    base = Path(tempfile.mkdtemp(prefix="bench-milter-"))
    os.chmod(base, 0o755)
    secret = secrets.token_hex(32)
    site = PrivateSite(base, secret, keep_relayed=False, baseline_listener=True,
                       floor_listener=True, workers=args.workers).start()
    try:
        postfix, config = site.postfix, site.config
        assert postfix.plain_port is not None and postfix.floor_port is not None

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
        print(f"{args.messages} messages per run, {args.sessions} sessions, {args.rounds} rounds, "
              f"{args.workers} worker(s) per milter; msg/s medians; ratios: median of the "
              f"per-round ratios [lowest-highest]")
        print(f"{'kind':32} {'bare':>6} {'no-op':>6} {'milter':>6}  {'milter/no-op':18} "
              f"{'milter/bare':18} {'no-op/bare':18} replies")
        for name, (mail_from, make, port) in kinds.items():
            rates: dict[str, list[float]] = {"bare": [], "floor": [], "milter": []}
            replies: dict[int, int] = {}
            for round_no in range(args.rounds):
                first = round_no * args.messages
                batch = [make(i) for i in range(first, first + args.messages)]
                # A different order each round: no listener always runs first (or last).
                order = [("bare", postfix.plain_port), ("floor", postfix.floor_port),
                         ("milter", port)]
                order = order[round_no % 3:] + order[:round_no % 3]
                for which, listener in order:
                    rate, codes = blast(listener, mail_from, batch, args.sessions)
                    rates[which].append(rate)
                    if which == "milter":
                        for code, n in codes.items():
                            replies[code] = replies.get(code, 0) + n
            cells = [ratio(rates["milter"], rates["floor"]), ratio(rates["milter"], rates["bare"]),
                     ratio(rates["floor"], rates["bare"])]
            print(f"{name:32} {statistics.median(rates['bare']):6.0f} "
                  f"{statistics.median(rates['floor']):6.0f} {statistics.median(rates['milter']):6.0f}  "
                  + " ".join(f"{cell:18}" for cell in cells) + f" {dict(sorted(replies.items()))}")
        print(f"rerun: {shlex.join([sys.argv[0], *sys.argv[1:]])}")
        return 0
    finally:
        site.stop()
        shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
