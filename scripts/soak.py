#!/usr/bin/env python3
"""Soak: many mixed messages through Postfix and both milters while Redis flaps.

Starts the private site (Redis, both milters, smtp-sinks, Postfix) and sends
``--messages`` messages over ``--sessions`` concurrent SMTP sessions (one
message per session, so every session opens and closes a milter connection):

* outbound mail from the site's user through the submission port (recorded by
  the outbound milter); some of it to ``fail.test``, whose server refuses the
  recipient, so Postfix's bounce daemon writes a real DSN to the user;
* ordinary inbound mail to the MX port;
* forged bounces to the MX port (a never-sent Message-ID, a recipient never
  written to);
* the real DSNs themselves: picked up from the capture sink and resubmitted to
  the MX port with ``MAIL FROM:<>``, as the remote MTA would send them.

Redis flaps ``--flaps`` times during the run, alternately stopped (``SHUTDOWN
SAVE``, down ``--down`` seconds, started again on its saved data) and frozen
(SIGSTOP for ``--down`` seconds, then SIGCONT). A bounce answered 451 is retried
like an MTA would, with backoff, for up to ``--retry-seconds``. Expected: every
real bounce eventually accepted, no forged bounce accepted, no milter errors,
both milters' RSS flat. Mail sent while Redis is down is not recorded (there is
no outbound spool yet), so its real bounces are refused later: the soak counts
and prints that ("real bounces refused").

    scripts/soak.py [--messages 20000] [--sessions 8] [--flaps 4] [--down 3] [--size 2048]
"""

from __future__ import annotations

import argparse
import heapq
import itertools
import os
import re
import secrets
import shlex
import shutil
import signal
import sys
import tempfile
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from ledger.redis_client import connect
from scripts import loadmail
from testbed import PrivateSite

OUTBOUND, BOUNCED_OUT = "outbound", "outbound to fail.test"
ORDINARY, FORGED, REAL = "ordinary", "forged", "real"
# Of every 20 generated messages: 5 outbound, 3 outbound that will bounce, 7 ordinary, 5 forged.
MIX = [OUTBOUND] * 5 + [BOUNCED_OUT] * 3 + [ORDINARY] * 7 + [FORGED] * 5
_SINK_HEADER = re.compile(rb"X-(Client-Addr|Client-Proto|Helo-Args|Mail-Args|Rcpt-Args):")


@dataclass(order=True)
class Job:
    """One message to send; retried (``due`` later) while it gets 451."""

    due: float
    seq: int
    kind: str = field(compare=False)
    port: int = field(compare=False)
    mail_from: str = field(compare=False)
    rcpt: str = field(compare=False)
    raw: bytes = field(compare=False, repr=False)
    first_try: float = field(compare=False, default=0.0)
    tries: int = field(compare=False, default=0)


@dataclass
class Report:
    """What happened, per kind: final SMTP replies, and what the logs and RSS say."""

    replies: dict[str, Counter[int]] = field(default_factory=lambda: {
        k: Counter() for k in (OUTBOUND, BOUNCED_OUT, ORDINARY, FORGED, REAL)})
    tempfails: Counter[str] = field(default_factory=Counter)  # 451s seen (before retries), per kind
    gave_up: Counter[str] = field(default_factory=Counter)  # still 451 after --retry-seconds
    dsns_captured: int = 0
    flaps: list[str] = field(default_factory=list)
    rss: dict[str, tuple[float, float]] = field(default_factory=dict)  # milter -> (start, end) MiB
    milter_errors: int = 0  # exceptions (tracebacks) in the milters' logs
    unrecorded: int = 0  # outbound log lines "mail sent unrecorded: ledger unreachable"
    seconds: float = 0.0

    @property
    def real_expected(self) -> int:
        return self.replies[BOUNCED_OUT][250]

    @property
    def forged_accepted(self) -> int:
        return self.replies[FORGED][250]

    @property
    def real_accepted(self) -> int:
        return self.replies[REAL][250]

    @property
    def real_refused(self) -> int:
        return sum(n for code, n in self.replies[REAL].items() if code >= 500)


class Soak:
    """The traffic, the DSN pick-up and the Redis flaps of one run."""

    def __init__(self, site: PrivateSite, args: argparse.Namespace) -> None:
        self.site = site
        self.args = args
        self.report = Report()
        self.lock = threading.Lock()
        self.jobs: list[Job] = []  # a heap by due time
        self.seq = itertools.count()
        self.outstanding = 0  # jobs queued or being sent
        self.seen_dumps: set[str] = set()
        self.run_id = secrets.token_hex(4)

    # -- the messages ------------------------------------------------------
    def generated(self, n: int) -> Job:
        kind = MIX[n % len(MIX)]
        user, mx, sub = loadmail.USER, self.site.postfix.mx_port, self.site.postfix.submission_port
        if kind in (OUTBOUND, BOUNCED_OUT):
            rcpt = f"nobody{n}@fail.test" if kind == BOUNCED_OUT else f"bob{n}@elsewhere.test"
            raw = loadmail.original(f"<soak-{self.run_id}-{n}@example.test>", rcpt, self.args.size)
            return self.job(kind, user, rcpt, raw, port=sub)
        if kind == ORDINARY:
            return self.job(kind, "carol@example.com", user, loadmail.ordinary(n, self.args.size), port=mx)
        stranger = f"stranger{n}@example.org"
        returned = loadmail.original(f"<never-{self.run_id}-{n}@example.test>", stranger, self.args.size)
        forged = loadmail.dsn(returned, stranger, f"<dsn-{n}@mx.example.com>")
        return self.job(kind, "", user, forged, port=mx)

    def job(self, kind: str, mail_from: str, rcpt: str, raw: bytes, port: int) -> Job:
        now = time.monotonic()
        return Job(now, next(self.seq), kind, port, mail_from, rcpt, raw, first_try=now)

    def put(self, job: Job) -> None:
        with self.lock:
            heapq.heappush(self.jobs, job)
            self.outstanding += 1

    # -- sending -----------------------------------------------------------
    def take(self) -> Job | None:
        with self.lock:
            if self.jobs and self.jobs[0].due <= time.monotonic():
                return heapq.heappop(self.jobs)
        return None

    def send(self, job: Job) -> None:
        code, _ = loadmail.session(job.port, job.mail_from, job.rcpt, job.raw, timeout=120)
        job.tries += 1
        retry = job.kind in (FORGED, REAL) and (code == 0 or 400 <= code < 500)
        with self.lock:
            if 400 <= code < 500:
                self.report.tempfails[job.kind] += 1
            if retry and time.monotonic() - job.first_try < self.args.retry_seconds:
                job.due = time.monotonic() + min(5.0, 0.5 * 2 ** min(job.tries, 4))
                heapq.heappush(self.jobs, job)
                return
            if retry:
                self.report.gave_up[job.kind] += 1
            self.report.replies[job.kind][code] += 1
            self.outstanding -= 1

    def worker(self, stop: threading.Event) -> None:
        while not stop.is_set():
            job = self.take()
            if job is None:
                time.sleep(0.02)
                continue
            self.send(job)

    # -- real DSNs ---------------------------------------------------------
    def pick_up_dsns(self) -> None:
        """Turn each new DSN Postfix wrote to the user into a job for the MX port."""
        for path in self.site.capture.messages():
            if path.name in self.seen_dumps or time.time() - path.stat().st_mtime < 0.5:
                continue  # smtp-sink may still be writing it
            self.seen_dumps.add(path.name)
            data = path.read_bytes()
            path.unlink()
            head = data.split(b"\n\n", 1)[0].split(b"\r\n\r\n", 1)[0]
            if b"report-type=delivery-status" not in head or b"X-Sender-Ledger:" in head:
                continue  # ordinary mail, or a bounce the MX already accepted
            lines = data.replace(b"\r\n", b"\n").split(b"\n")
            while lines and _SINK_HEADER.match(lines[0]):
                lines.pop(0)
            with self.lock:
                self.report.dsns_captured += 1
            self.put(self.job(REAL, "", loadmail.USER, b"\r\n".join(lines), port=self.site.postfix.mx_port))

    # -- Redis flaps -------------------------------------------------------
    def flap(self, number: int) -> None:
        redis_server, down = self.site.redis, self.args.down
        started = time.monotonic()
        if number % 2 == 0:
            connect(redis_server.url).shutdown(save=True)  # keeps the ledger, like a restart
            if redis_server.proc is not None:
                redis_server.proc.wait(10)
            time.sleep(down)
            redis_server.start()
            what = "stopped (SHUTDOWN SAVE) and started"
        else:
            assert redis_server.proc is not None
            redis_server.proc.send_signal(signal.SIGSTOP)
            time.sleep(down)
            redis_server.proc.send_signal(signal.SIGCONT)
            what = "frozen (SIGSTOP) and thawed (SIGCONT)"
        with self.lock:
            self.report.flaps.append(f"{what}, out {time.monotonic() - started:.1f}s")

    # -- the run -----------------------------------------------------------
    def run(self) -> Report:
        args, site = self.args, self.site
        pids = {"inbound": site.inbound.proc.pid, "outbound": site.outbound.proc.pid}  # type: ignore[union-attr]
        start_rss = {name: loadmail.vm_rss_mb(pid) for name, pid in pids.items()}
        stop = threading.Event()
        workers = [threading.Thread(target=self.worker, args=(stop,), daemon=True)
                   for _ in range(args.sessions)]
        for thread in workers:
            thread.start()
        flap_at = {args.messages * (k + 1) // (args.flaps + 1): k for k in range(args.flaps)}
        flappers: list[threading.Thread] = []
        began = picked = time.monotonic()
        try:
            for n in range(args.messages):
                while self.outstanding >= 4 * args.sessions:  # keep the queue short
                    time.sleep(0.01)
                if time.monotonic() - picked > 0.5:
                    self.pick_up_dsns()
                    picked = time.monotonic()
                if n in flap_at:
                    flappers.append(threading.Thread(target=self.flap, args=(flap_at[n],)))
                    flappers[-1].start()
                self.put(self.generated(n))
            for thread in flappers:
                thread.join()
            # Drain: the last DSNs take a moment to be written; retries take their time.
            deadline = time.monotonic() + args.retry_seconds + 60
            while time.monotonic() < deadline:
                self.pick_up_dsns()
                with self.lock:
                    done = self.outstanding == 0 and self.report.dsns_captured >= self.report.real_expected
                if done:
                    break
                time.sleep(0.5)
        finally:
            stop.set()
            for thread in workers:
                thread.join(150)
        self.report.seconds = time.monotonic() - began
        time.sleep(1.0)
        self.report.rss = {name: (start_rss[name], loadmail.vm_rss_mb(pid)) for name, pid in pids.items()}
        logs = site.inbound.log_text() + site.outbound.log_text()
        self.report.milter_errors = logs.count("Traceback (most recent call last)")
        self.report.unrecorded = site.outbound.log_text().count("mail sent unrecorded: ledger unreachable")
        return self.report


def run(site: PrivateSite, args: argparse.Namespace) -> Report:
    return Soak(site, args).run()


def show(report: Report, args: argparse.Namespace) -> None:
    r = report
    generated = sum(sum(r.replies[k].values()) for k in (OUTBOUND, BOUNCED_OUT, ORDINARY, FORGED))
    print(f"soak: {generated} generated messages plus {sum(r.replies[REAL].values())} real DSNs resubmitted, "
          f"{args.sessions} concurrent SMTP sessions, {r.seconds:.0f}s")
    for flap in r.flaps:
        print(f"  redis {flap}")
    print(f"outbound mail accepted:        {r.replies[OUTBOUND][250] + r.replies[BOUNCED_OUT][250]}"
          f" (unrecorded, ledger unreachable: {r.unrecorded})")
    print(f"ordinary delivered:            {r.replies[ORDINARY][250]} of {sum(r.replies[ORDINARY].values())}")
    print(f"real bounces expected:         {r.real_expected} (outbound mail to fail.test); "
          f"DSNs captured {r.dsns_captured}")
    print(f"real bounces accepted:         {r.real_accepted}")
    print(f"real bounces refused:          {r.real_refused}")
    print(f"real bounces given up on 451:  {r.gave_up[REAL]}")
    print(f"forged refused:                {r.replies[FORGED][550]} of {sum(r.replies[FORGED].values())}")
    print(f"forged accepted:               {r.forged_accepted}")
    print(f"451s (before retries):         {sum(r.tempfails.values())} {dict(r.tempfails)}")
    others = {k: {c: n for c, n in v.items() if c not in (250, 550)} for k, v in r.replies.items()}
    print(f"other final replies:           {({k: v for k, v in others.items() if v})}")
    print(f"milter errors (exceptions):    {r.milter_errors}")
    for name, (before, after) in r.rss.items():
        print(f"{name + ' milter RSS:':31}{before:.1f} -> {after:.1f} MiB ({after - before:+.1f})")
    print(f"rerun: {shlex.join([sys.argv[0], *sys.argv[1:]])}")


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--messages", type=int, default=20000, help="generated messages (default 20000)")
    p.add_argument("--sessions", type=int, default=8, help="concurrent SMTP sessions (default 8)")
    p.add_argument("--flaps", type=int, default=4, help="Redis outages during the run (default 4)")
    p.add_argument("--down", type=float, default=3.0, help="seconds each outage lasts (default 3)")
    p.add_argument("--size", type=int, default=2048, help="body bytes per message (default 2048)")
    p.add_argument("--retry-seconds", type=float, default=120.0,
                   help="how long a bounce answered 451 is retried (default 120)")
    return p


def main() -> int:
    args = parser().parse_args()
    if not (1 <= args.messages <= 1_000_000 and 1 <= args.sessions <= 64 and 0 <= args.flaps <= 100
            and 0 < args.down <= 60 and 0 <= args.size <= 2**20 and 0 < args.retry_seconds <= 3600):
        print("soak: --messages 1..1000000, --sessions 1..64, --flaps 0..100, --down 0..60, "
              "--size up to 1 MiB, --retry-seconds up to 3600", file=sys.stderr)
        return 2
    if os.geteuid() != 0:
        print("soak: run as root (Postfix needs it)", file=sys.stderr)
        return 1
    base = Path(tempfile.mkdtemp(prefix="soak-"))
    os.chmod(base, 0o755)
    site = PrivateSite(base, secrets.token_hex(32), keep_relayed=False).start()
    try:
        report = run(site, args)
    finally:
        site.stop()
        shutil.rmtree(base, ignore_errors=True)
    show(report, args)
    return 0 if report.forged_accepted == 0 and report.milter_errors == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
