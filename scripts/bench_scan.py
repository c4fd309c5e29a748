#!/usr/bin/env python3
"""Benchmark: the stream scan past the parse cap, against the parse the check already pays.

Measured in the same run, on messages generated here (RFC 3464 DSNs):

* baseline: ``email.message_from_bytes`` (compat32) of the first ``inbound.max_bytes``
  (128 KiB) - what every candidate's check parses anyway;
* lines: a bare ``bytes.split(b"\\n")`` loop over the same bytes the scanner reads - the
  floor for any line-by-line reader in Python;
* scan: :class:`ledger.check.stream.Scanner` fed 64 KiB chunks, as the milter feeds it.

Shapes: ``padded`` (a real DSN whose original has 150 KB of header lines before its
Message-ID, then a 4 MiB body: the scan stops at the ID) and ``worst`` (no Message-ID
in the returned header, 4 MiB of returned body: the scan runs to ``inbound.scan_bytes``).
Figures are the best of ``--repeat`` runs; the ratios are what to compare.
"""

from __future__ import annotations

import argparse
import email
import email.policy
import platform
import sys
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run from a checkout without installing

from ledger.check.stream import DEFAULT_CAP, Scanner

MAX_BYTES = 128 * 1024
CHUNK = 64 * 1024


def dsn(message_id: str, body_bytes: int) -> bytes:
    padding = "".join(f"Received: from relay{i:05d}.example.net by mx.example.com; "
                      "Fri, 27 Nov 2026 09:00:01 +0000\r\n" for i in range(150 * 1024 // 80))
    mid = f"Message-ID: {message_id}\r\n" if message_id else ""
    returned = ("From: alice@example.test\r\nTo: bob@example.com\r\nSubject: figures\r\n"
                f"{padding}{mid}\r\n").encode() + (b"z" * 74 + b"\r\n") * (body_bytes // 76)
    return (b"From: MAILER-DAEMON@mx.example.com\r\nTo: alice@example.test\r\n"
            b"Subject: Undelivered Mail Returned to Sender\r\nMIME-Version: 1.0\r\n"
            b'Content-Type: multipart/report; report-type=delivery-status; boundary="R"\r\n\r\n'
            b"--R\r\nContent-Type: text/plain\r\n\r\n<bob@example.com>: User unknown\r\n\r\n"
            b"--R\r\nContent-Type: message/delivery-status\r\n\r\nReporting-MTA: dns; mx\r\n\r\n"
            b"Final-Recipient: rfc822; bob@example.com\r\nAction: failed\r\nStatus: 5.1.1\r\n\r\n"
            b"--R\r\nContent-Type: message/rfc822\r\n\r\n") + returned + b"\r\n--R--\r\n"


def best(repeat: int, run: Callable[[], object]) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        run()
        times.append(time.perf_counter() - start)
    return min(times)


def scan(raw: bytes) -> Scanner:
    scanner = Scanner(DEFAULT_CAP)
    for start in range(0, min(len(raw), DEFAULT_CAP), CHUNK):
        scanner.feed(raw[start:start + CHUNK])
        if scanner.done:
            break
    scanner.close()
    return scanner


def lines(data: bytes) -> int:
    count = 0
    for line in data.split(b"\n"):
        count += line.startswith(b"--")
    return count


def measure(shape: str, raw: bytes, repeat: int) -> None:
    scanner = scan(raw)
    read = scanner.read
    parse = best(repeat, lambda: email.message_from_bytes(raw[:MAX_BYTES], policy=email.policy.compat32))
    bare = best(repeat, lambda: lines(raw[:read]))
    scanned = best(repeat, lambda: scan(raw))
    print(f"{shape:<8} {read / 1024:>7.0f}Ki {parse * 1e3:>9.2f} {bare * 1e3:>9.2f} "
          f"{scanned * 1e3:>8.2f} {scanned / parse:>10.2f} {scanned / bare:>10.2f}  {scanner.references()}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5, help="runs per figure, best kept (default 5)")
    args = parser.parse_args()
    print(f"python {platform.python_version()} on {platform.machine()}, best of {args.repeat}")
    print(f"{'shape':<8} {'scanned':>9} {'parse ms':>9} {'lines ms':>9} {'scan ms':>8} "
          f"{'scan/parse':>10} {'scan/lines':>10}  found")
    for shape, raw in (("padded", dsn("<wanted@example.test>", 4 * 1024 * 1024)),
                       ("worst", dsn("", 4 * 1024 * 1024))):
        measure(shape, raw, args.repeat)
    print(f"rerun: {sys.executable} {' '.join(sys.argv)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
