"""A bounded run of mixed mail through a private site's Postfix, for the fail-over tests.

Four kinds of transaction, interleaved: outbound mail (submission port, recorded
by the outbound milter), real DSNs of mail recorded before the run, forged DSNs,
and ordinary inbound mail (both at the MX). Every SMTP answer is kept with its
time. A bounce answered 451 is tried again (after ``retry_after`` seconds, until
``retry_for`` seconds after its first try), as a sending MTA would.
"""

from __future__ import annotations

import contextlib
import heapq
import random
import re
import smtplib
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field

from tests import messages

OUTBOUND, REAL_DSN, FORGED_DSN, ORDINARY = "outbound", "real-dsn", "forged-dsn", "ordinary"
SENDER = "alice@example.test"


@dataclass
class Job:
    kind: str
    mail_from: str
    rcpt: str
    raw: bytes
    message_id: str = ""  # outbound: the Message-ID it was sent with
    first_try: float = 0.0
    answers: list[tuple[float, int]] = field(default_factory=list)  # (monotonic time, SMTP code)
    queue_id: str = ""  # outbound: from "250 ... queued as QID"

    @property
    def final(self) -> int:
        return self.answers[-1][1] if self.answers else 0


def outbound(tag: str, i: int) -> Job:
    mid = f"<{tag}-{i}-{uuid.uuid4().hex[:12]}@example.test>"
    rcpt = f"bob-{i}@example.com"
    return Job(OUTBOUND, SENDER, rcpt, messages.original(mid, SENDER, rcpt, f"{tag} {i}"), mid)


def real_dsn(sent: Job) -> Job:
    """The DSN the recipient's MTA writes for a message we sent (RFC 3464, original returned)."""
    own = f"<dsn-{uuid.uuid4().hex[:12]}@mx.example.com>"
    return Job(REAL_DSN, "", SENDER, messages.dsn(sent.raw, SENDER, sent.rcpt, own), sent.message_id)


def forged_dsn(i: int) -> Job:
    never = messages.original(f"<never-sent-{i}-{uuid.uuid4().hex[:12]}@example.test>", SENDER,
                              f"stranger-{i}@example.net")
    own = f"<dsn-f-{uuid.uuid4().hex[:12]}@mx.example.com>"
    return Job(FORGED_DSN, "", SENDER, messages.dsn(never, SENDER, f"stranger-{i}@example.net", own))


def ordinary(i: int) -> Job:
    mid = f"<plain-{i}-{uuid.uuid4().hex[:12]}@example.com>"
    return Job(ORDINARY, "carol@example.com", SENDER, messages.ordinary(mid, SENDER))


_QUEUED = re.compile(r"queued as (\w+)")


class Run:
    """Send ``jobs`` with ``workers`` threads, each keeping one session per port."""

    def __init__(self, jobs: list[Job], mx_port: int, submission_port: int, workers: int = 6,
                 retry_after: float = 0.5, retry_for: float = 45.0) -> None:
        self.jobs = list(jobs)
        self.pending = list(reversed(jobs))
        self.retries: list[tuple[float, int, Job]] = []
        self.lock = threading.Lock()
        self.done = 0
        self.total = len(jobs)
        self.ports = {OUTBOUND: submission_port}
        self.mx_port = mx_port
        self.workers = workers
        self.retry_after = retry_after
        self.retry_for = retry_for
        self.errors: list[str] = []
        self._seq = 0

    def _next(self) -> Job | None:
        """A due retry, else the next new job; waits for retries still pending; None at the end."""
        while True:
            with self.lock:
                now = time.monotonic()
                if self.retries and self.retries[0][0] <= now:
                    return heapq.heappop(self.retries)[2]
                if self.pending:
                    return self.pending.pop()
                if not self.retries:
                    return None
                wait = self.retries[0][0] - now
            time.sleep(min(max(wait, 0.01), 0.1))

    def _answered(self, job: Job, code: int) -> None:
        now = time.monotonic()
        with self.lock:
            job.answers.append((now, code))
            bounce = job.kind in (REAL_DSN, FORGED_DSN)
            if bounce and code == 451 and now - job.first_try < self.retry_for:
                self._seq += 1
                heapq.heappush(self.retries, (now + self.retry_after, self._seq, job))
            else:
                self.done += 1

    def _worker(self) -> None:
        sessions: dict[int, smtplib.SMTP] = {}
        try:
            while (job := self._next()) is not None:
                port = self.ports.get(job.kind, self.mx_port)
                if not job.first_try:
                    job.first_try = time.monotonic()
                try:
                    smtp = sessions.get(port) or smtplib.SMTP("127.0.0.1", port, timeout=60)
                    sessions[port] = smtp
                    code, reply = transact(smtp, job)
                except (smtplib.SMTPException, OSError) as exc:
                    sessions.pop(port, None)
                    with self.lock:
                        self.errors.append(f"{job.kind}: {exc!r}")
                    code, reply = 421, ""
                if job.kind == OUTBOUND and code == 250 and (found := _QUEUED.search(reply)):
                    job.queue_id = found.group(1)
                self._answered(job, code)
        finally:
            for smtp in sessions.values():
                with contextlib.suppress(smtplib.SMTPException, OSError):
                    smtp.quit()

    def run(self, during: Callable[[Run], None] | None = None) -> None:
        """Send everything; ``during`` runs in the caller's thread meanwhile (the fault)."""
        threads = [threading.Thread(target=self._worker) for _ in range(self.workers)]
        for thread in threads:
            thread.start()
        try:
            if during is not None:
                during(self)
        finally:
            for thread in threads:
                thread.join(300)

    def wait_done(self, fraction: float, timeout: float = 120) -> None:
        deadline = time.monotonic() + timeout
        while self.done < fraction * self.total and time.monotonic() < deadline:
            time.sleep(0.01)


def transact(smtp: smtplib.SMTP, job: Job) -> tuple[int, str]:
    """One SMTP transaction; returns the final reply (the first refusal, or DATA's)."""
    code, reply = smtp.mail(job.mail_from)
    if code == 250:
        code, reply = smtp.rcpt(job.rcpt)
        if code in (250, 251):
            code, reply = smtp.data(job.raw)
            return code, reply.decode(errors="replace")
    smtp.rset()
    return code, reply.decode(errors="replace")


def mixed(tag: str, recorded_before: list[Job], outbound_count: int, forged: int, plain: int,
          seed: int = 7) -> list[Job]:
    """Outbound mail, real DSNs of ``recorded_before``, forged DSNs and ordinary mail, shuffled."""
    jobs = [outbound(tag, i) for i in range(outbound_count)]
    jobs += [real_dsn(sent) for sent in recorded_before]
    jobs += [forged_dsn(i) for i in range(forged)]
    jobs += [ordinary(i) for i in range(plain)]
    random.Random(seed).shuffle(jobs)
    return jobs


def recorded_queue_ids(outbound_log: str) -> set[str]:
    """Queue ids the outbound milter logged as recorded in the ledger (not spooled, not lost)."""
    return set(re.findall(r"record qid=(\w+) from=.* stored=ledger ", outbound_log))


def spooled_queue_ids(outbound_log: str) -> set[str]:
    """Queue ids the outbound milter kept in its spool (the ledger could not confirm them)."""
    return set(re.findall(r"record qid=(\w+) from=.* stored=spool ", outbound_log))
