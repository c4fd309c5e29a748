#!/usr/bin/env python3
"""Does the inbound milter give back what each SMTP session used? Its RSS over many sessions.

Starts the private site (Redis, both milters as processes, smtp-sinks, Postfix),
records the originals in the ledger, then sends SMTP sessions of one large
message each to the MX port, through Postfix and the inbound milter: ordinary
mail, real DSNs returning a recorded message whole, and forged DSNs (never-sent
Message-ID, recipient never written to), in turn. The inbound milter's VmRSS
is sampled at the start, after every ``--every`` sessions and after an idle
second at the end. A milter that keeps per-session state alive climbs with the
session count; one that releases it levels off after warming up. "Climbs" is
judged by comparing the growth over the second half of the samples with the
first half (the first half holds the warm-up).

    scripts/bench_milter_memory.py [--sessions 300] [--size 524288] [--head-share 0.5]
                                   [--every 25] [--concurrency 4]
"""

from __future__ import annotations

import argparse
import os
import secrets
import shlex
import shutil
import sys
import tempfile
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from ledger.config import load_config
from ledger.record import SentMessage
from ledger.services import recorder_for
from scripts import loadmail
from testbed import PrivateSite

GOAL_MB = 40.0
KINDS = ("ordinary", "real DSN", "forged DSN")


@dataclass
class Report:
    """RSS samples (sessions done, MiB) and the replies per kind."""

    samples: list[tuple[int, float]] = field(default_factory=list)
    replies: dict[str, Counter[int]] = field(default_factory=dict)

    @property
    def growth(self) -> float:
        return self.samples[-1][1] - self.samples[0][1]

    def halves(self) -> tuple[float, float]:
        """Growth over the first and the second half of the samples."""
        mid = len(self.samples) // 2
        rss = [mb for _, mb in self.samples]
        return rss[mid] - rss[0], rss[-1] - rss[mid]

    @property
    def climbs(self) -> bool:
        first, second = self.halves()
        return second > max(2.0, 0.5 * first)


def message(kind: str, n: int, size: int, head_share: float) -> tuple[str, bytes]:
    """(MAIL FROM, message) of session n, ``size`` bytes. Ordinary mail has ``head_share`` of
    it in header fields (the milter keeps them until end of headers); a DSN returns an
    original of that size (the milter reads ``inbound.max_bytes`` of it, then says SKIP)."""
    if kind == "ordinary":
        head = int(size * head_share)
        return "carol@example.com", loadmail.ordinary(n, size - head, head)
    if kind == "real DSN":
        return "", loadmail.dsn(loadmail.original(f"<mem-{n}@example.test>", size=size),
                                "bob@example.com", f"<dsn-{n}@mx.example.com>")
    stranger = f"stranger{n}@example.org"
    return "", loadmail.dsn(loadmail.original(f"<never-{n}@example.test>", stranger, size),
                            stranger, f"<dsn-{n}@mx.example.com>")


def run(site: PrivateSite, sessions: int, size: int, every: int, concurrency: int,
        head_share: float = 0.5) -> Report:
    recorder = recorder_for(load_config(str(site.config)))
    for n in range(sessions):
        if KINDS[n % len(KINDS)] == "real DSN":
            recorder.record(SentMessage(mail_from=loadmail.USER, recipients=["bob@example.com"],
                                        message_id=f"<mem-{n}@example.test>"))
    pid = site.inbound.proc.pid  # type: ignore[union-attr]
    report = Report(replies={kind: Counter() for kind in KINDS})
    report.samples.append((0, loadmail.vm_rss_mb(pid)))

    def one(n: int) -> tuple[str, int]:
        kind = KINDS[n % len(KINDS)]
        mail_from, raw = message(kind, n, size, head_share)
        code, _ = loadmail.session(site.postfix.mx_port, mail_from, loadmail.USER, raw)
        return kind, code

    with ThreadPoolExecutor(concurrency) as pool:
        for start in range(0, sessions, every):
            for kind, code in pool.map(one, range(start, min(start + every, sessions))):
                report.replies[kind][code] += 1
            report.samples.append((min(start + every, sessions), loadmail.vm_rss_mb(pid)))
    time.sleep(1.0)  # idle: what is still held now stays held
    report.samples.append((sessions, loadmail.vm_rss_mb(pid)))
    return report


def show(report: Report, args: argparse.Namespace) -> None:
    print(f"{args.sessions} SMTP sessions of one {args.size}-byte message each "
          f"(ordinary mail: {args.head_share:.0%} of it in header fields), "
          f"{args.concurrency} at a time, to the MX port through Postfix")
    print("inbound milter VmRSS (MiB) after N sessions:")
    for done, mb in report.samples:
        print(f"  {done:6d}  {mb:8.1f}")
    first, second = report.halves()
    print(f"growth: {report.growth:+.1f} MiB (first half {first:+.1f}, second half {second:+.1f}); "
          f"climbs with the count: {'yes' if report.climbs else 'no'}")
    for kind, codes in report.replies.items():
        print(f"  {kind:10} replies {dict(sorted(codes.items()))}")
    met = report.growth <= GOAL_MB and not report.climbs
    print(f"goal (grows by at most {GOAL_MB:.0f} MiB, does not climb): {'met' if met else 'MISSED'}")
    print(f"rerun: {shlex.join([sys.argv[0], *sys.argv[1:]])}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sessions", type=int, default=300,
                        help="SMTP sessions (default 300, at most 20000)")
    parser.add_argument("--size", type=int, default=512 * 1024, help="bytes per message (default 512 KiB)")
    parser.add_argument("--head-share", type=float, default=0.5,
                        help="share of each ordinary message in header fields (default 0.5)")
    parser.add_argument("--every", type=int, default=25, help="sample RSS every N sessions (default 25)")
    parser.add_argument("--concurrency", type=int, default=4, help="sessions at once (default 4)")
    args = parser.parse_args()
    if not (1 <= args.sessions <= 20000 and 0 <= args.size <= 20 * 2**20 and args.every >= 1
            and 1 <= args.concurrency <= 32 and 0 <= args.head_share <= 1):
        print("bench_milter_memory: --sessions 1..20000, --size up to 20 MiB, --every >= 1, "
              "--concurrency 1..32, --head-share 0..1", file=sys.stderr)
        return 2
    if os.geteuid() != 0:
        print("bench_milter_memory: run as root (Postfix needs it)", file=sys.stderr)
        return 1
    base = Path(tempfile.mkdtemp(prefix="bench-milter-memory-"))
    os.chmod(base, 0o755)
    site = PrivateSite(base, secrets.token_hex(32), keep_relayed=False).start()
    try:
        report = run(site, args.sessions, args.size, args.every, args.concurrency, args.head_share)
    finally:
        site.stop()
        shutil.rmtree(base, ignore_errors=True)
    show(report, args)
    return 0 if report.growth <= GOAL_MB and not report.climbs else 1


if __name__ == "__main__":
    sys.exit(main())
