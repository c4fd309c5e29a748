#!/usr/bin/env python3
"""Benchmark `sender-ledger backfill` on generated gzipped Postfix logs.

Prints, per log size: wall time and peak RSS of (a) the baseline, a bare loop
that only decompresses and decodes every line, (b) backfill --dry-run (parse
and join), (c) backfill into a private redis-server; with (b)/(a) and (c)/(a)
ratios. Peak RSS staying flat as the log grows shows memory is bounded by the
messages in flight, not by the log's size.

    .venv/bin/python scripts/bench_backfill.py [--messages 50000 200000]
"""

from __future__ import annotations

import argparse
import gzip
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from testbed import RedisServer

SECRET = "bench-secret-0123456789abcdef"
BASELINE = ("import gzip,sys\nn=0\nfor line in gzip.open(sys.argv[1]):\n"
            "    line.decode('utf-8','replace'); n+=1\nprint(n)\n")


def write_log(path: Path, messages: int) -> int:
    """A log in the testbed maillog's format: 7 lines per sent message, plus noise."""
    lines = 0
    with gzip.open(path, "wt", compresslevel=1) as fh:
        for n in range(messages):
            qid = f"{n + 0x100000:010X}"
            stamp = f"Nov {1 + n * 28 // messages:2d} 10:{n // 60 % 60:02d}:{n % 60:02d}"
            origin = ("postfix/submission/smtpd[11]: {q}: client=localhost[127.0.0.1]" if n % 3
                      else "postfix/pickup[10]: {q}: uid=0 from=<root@example.test>")
            fh.write(f"{stamp} mx postfix/submission/smtpd[11]: connect from localhost[127.0.0.1]\n"
                     f"{stamp} mx {origin.format(q=qid)}\n"
                     f"{stamp} mx postfix/cleanup[12]: {qid}: message-id=<m{n}.{qid}@example.test>\n"
                     f"{stamp} mx postfix/qmgr[13]: {qid}: from=<user{n % 500}@example.test>, size=3311, "
                     "nrcpt=2 (queue active)\n"
                     f"{stamp} mx postfix/smtp[14]: {qid}: to=<a{n}@elsewhere.test>, relay=x[1.2.3.4]:25, "
                     "delay=0.3, delays=0.1/0/0.1/0.1, dsn=2.0.0, status=sent (250 2.0.0 Ok)\n"
                     f"{stamp} mx postfix/smtp[14]: {qid}: to=<b{n}@elsewhere.test>, relay=x[1.2.3.4]:25, "
                     "delay=0.3, delays=0.1/0/0.1/0.1, dsn=2.0.0, status=sent (250 2.0.0 Ok)\n"
                     f"{stamp} mx postfix/qmgr[13]: {qid}: removed\n")
            lines += 7
    return lines


def measure(argv: list[str], env: dict[str, str]) -> tuple[float, float]:
    """(seconds, peak RSS in MiB) of one child process."""
    start = time.perf_counter()
    proc = subprocess.Popen(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(proc.pid, 0)
    elapsed = time.perf_counter() - start
    if status != 0:
        raise SystemExit(f"{argv} failed: {proc.stderr.read().decode() if proc.stderr else ''}")
    return elapsed, usage.ru_maxrss / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, nargs="+", default=[50_000, 200_000])
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="bench-backfill-"))
    server = RedisServer(work / "redis").start()
    try:
        config = work / "c.toml"
        config.write_text(f'[secret]\nvalue = "{SECRET}"\n[redis]\nurl = "{server.url}"\n')
        env = dict(os.environ)
        cli = [sys.executable, "-m", "ledger", "backfill", "--config", str(config)]
        print(f"{'messages':>9} {'lines':>9} {'run':<10} {'seconds':>8} {'lines/s':>10} {'msgs/s':>9} "
              f"{'peak MiB':>9} {'time/base':>9}")
        for messages in args.messages:
            log = work / f"mail-{messages}.log.gz"
            lines = write_log(log, messages)
            base_s, base_rss = measure([sys.executable, "-c", BASELINE, str(log)], env)
            runs = [("baseline", base_s, base_rss)]
            runs.append(("dry-run", *measure([*cli, "--dry-run", str(log)], env)))
            runs.append(("redis", *measure([*cli, str(log)], env)))
            for name, seconds, rss in runs:
                print(f"{messages:>9} {lines:>9} {name:<10} {seconds:>8.2f} {lines / seconds:>10.0f} "
                      f"{messages / seconds:>9.0f} {rss:>9.1f} {seconds / base_s:>9.2f}")
        print(f"\nrerun: {sys.executable} {' '.join(sys.argv)}")
    finally:
        server.stop()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
