"""Write the decision log, the day counters and late bounce counts, off the mail path.

The SMTP answer must never wait for bookkeeping: a Redis that stalls for
seconds would otherwise hold every accepted bounce's reply. So the milters
hand what they want written to a :class:`Bookkeeper`, which a daemon thread
writes in batches (one pipelined round trip per batch), and the milter
answers at once.

What cannot be written now is kept and written when Redis answers again:

* counters are summed in memory per (day, field) - a fixed set of fields, so
  this stays small however long the outage lasts;
* decision-log entries wait in a bounded queue (``max_pending``); past it the
  oldest are dropped and the drop is counted (``log_dropped``) and logged;
* jobs (commands another module queues, such as counting an accepted bounce
  against its original) wait in a bounded queue too.

Riding: the milters open one round trip per end of message (``ledger.trip``);
:meth:`Bookkeeper.ride` puts everything pending on it, so in steady traffic a
decision's log entry and counters cost no round trip of their own: they go
with the *next* message's lookup or record (they cannot go with their own:
they describe the answer that round trip brings). The thread writes only
what has waited ``linger`` seconds without a ride (a quiet milter), so the
log is at most about ``linger`` behind. A ride that fails puts its load back.
Not on Redis Cluster, where the ``{obs}`` slot is another node: a ride would
couple that node's failures to the answer and save nothing.

A bookkeeper built with ``background=False`` writes within each call
instead (the command-line tools and the tests use that): the same code, no
thread.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections import Counter, deque
from collections.abc import Callable, Iterable

import redis
from redis.client import Pipeline

from ledger.config import ObserveSettings
from ledger.days import SECONDS_PER_DAY
from ledger.observe import counters, decision_log
from ledger.trip import RoundTrip

log = logging.getLogger("sender-ledger.observe")

Job = Callable[[Pipeline], None]
LOG_DROPPED = "log_dropped"


class Bookkeeper:
    """Batches observe writes; never raises to its callers."""

    def __init__(self, client: redis.Redis, namespace: str, settings: ObserveSettings,
                 *, background: bool = True, max_pending: int = 10000, interval: float = 0.05,
                 retry_seconds: float = 1.0, linger: float = 0.0,
                 on_error: Callable[[Exception], None] | None = None) -> None:
        self.client = client
        self.namespace = namespace
        self.settings = settings
        self.background = background
        self.max_pending = max_pending
        self.interval = interval
        self.retry_seconds = retry_seconds
        self.linger = linger
        self.on_error = on_error
        self._since: float | None = None  # when the oldest pending item was handed in
        self._lock = threading.Lock()
        self._entries: deque[tuple[dict[str, str], float]] = deque()
        self._counts: Counter[tuple[int, str]] = Counter()
        self._jobs: deque[Job] = deque()
        self._dropped = 0
        self._wake = threading.Event()
        self._idle = threading.Event()
        self._idle.set()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        if background:
            self._thread = threading.Thread(target=self._run, name="bookkeeper", daemon=True)
            self._thread.start()

    # -- what callers hand in ------------------------------------------------
    def decision(self, fields: dict[str, str], counter_fields: Iterable[str], now: float) -> bool:
        """A log entry and its counters. Returns True once written (sync) or queued (background)."""
        day = int(now // SECONDS_PER_DAY)
        with self._lock:
            self._entries.append((fields, now))
            if len(self._entries) > self.max_pending:
                self._entries.popleft()
                self._dropped += 1
                self._counts[(day, LOG_DROPPED)] += 1
            for name in counter_fields:
                self._counts[(day, name)] += 1
        return self._after_submit()

    def count(self, day: int, names: Iterable[str], amount: int = 1) -> bool:
        """Counter increments only."""
        with self._lock:
            for name in names:
                self._counts[(day, name)] += amount
        return self._after_submit()

    def job(self, job: Job) -> bool:
        """Commands to queue on the next batch (retried with it if Redis fails)."""
        with self._lock:
            self._jobs.append(job)
            if len(self._jobs) > self.max_pending:
                self._jobs.popleft()
                log.error("bookkeeping queue full: a pending ledger update was dropped")
        return self._after_submit()

    def pending(self) -> int:
        with self._lock:
            return len(self._entries) + len(self._counts) + len(self._jobs)

    def ride(self, trip: RoundTrip) -> int:
        """Queue everything pending on someone's round trip; returns how many items rode.

        On failure of the trip the items are put back, to ride again or be
        written by the thread. Only for a background bookkeeper on one node.
        """
        if not (self.background and trip.single_node):
            return 0
        entries, counts, jobs = self._take()
        if not entries and not counts and not jobs:
            return 0
        try:
            start = trip.mark()
            self._queue(trip.pipe, entries, counts, jobs)
            end = trip.mark()
        except Exception as exc:  # a job that cannot queue: keep it all for the thread
            self._put_back(entries, counts, jobs)
            self._report(exc)
            return 0

        def failed() -> None:
            self._put_back(entries, counts, jobs)
            self._wake.set()

        def done(replies: list[object]) -> None:
            self._refused(replies[start:end])

        trip.on_failure(failed)
        trip.on_success(done)
        return len(entries) + len(counts) + len(jobs)

    def flush(self, timeout: float = 5.0) -> bool:
        """Wait until everything handed in so far is written (or ``timeout``). True if empty."""
        if not self.background:
            return self.write() and self.pending() == 0
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self._idle.clear()
            self._wake.set()
            if self._idle.wait(max(0.0, deadline - time.monotonic())) and self.pending() == 0:
                return True
            time.sleep(0.01)
        return self.pending() == 0

    def stop(self, timeout: float = 2.0) -> None:
        """Write what can be written, then end the thread."""
        if self._thread is None:
            return
        self.flush(timeout)
        self._stop.set()
        self._wake.set()
        self._thread.join(timeout)
        self._thread = None

    # -- writing ----------------------------------------------------------------
    def _after_submit(self) -> bool:
        if self.background:
            with self._lock:
                if self._since is None:
                    self._since = time.monotonic()
            if not self.linger:
                self._wake.set()
            return True
        return self.write()

    def _due(self) -> bool:
        """The thread's turn: something waited ``linger`` seconds without a ride."""
        with self._lock:
            since = self._since
        return since is not None and time.monotonic() - since >= self.linger

    def _run(self) -> None:
        while not self._stop.is_set():
            woken = self._wake.wait(self.interval)
            self._wake.clear()
            if not (woken or self._due()):
                continue
            ok = self.write()
            if ok:
                self._idle.set()
            else:
                self._stop.wait(self.retry_seconds)

    def _take(self) -> tuple[deque[tuple[dict[str, str], float]], Counter[tuple[int, str]], deque[Job]]:
        """Everything pending, taken out at once (what fails to be written is put back)."""
        with self._lock:
            entries, self._entries = self._entries, deque()
            counts, self._counts = self._counts, Counter()
            jobs, self._jobs = self._jobs, deque()
            self._since = None
        return entries, counts, jobs

    def write(self) -> bool:
        """One batch: take everything pending, write it in one round trip; put it back on failure."""
        entries, counts, jobs = self._take()
        if not entries and not counts and not jobs:
            return True
        try:
            pipe = self.client.pipeline(transaction=False)
            self._queue(pipe, entries, counts, jobs)
            replies = pipe.execute(raise_on_error=False)
        except Exception as exc:  # Redis down or stalled: keep it all for the next try
            self._put_back(entries, counts, jobs)
            self._report(exc)
            return False
        self._refused(replies)
        return True

    def _queue(self, pipe: Pipeline, entries: deque[tuple[dict[str, str], float]],
               counts: Counter[tuple[int, str]], jobs: deque[Job]) -> None:
        for fields, now in entries:
            decision_log.queue_entry(pipe, self.namespace, fields, self.settings.log_entries,
                                     self.settings.log_days, now)
        by_day: dict[int, dict[str, int]] = {}
        for (day, name), amount in counts.items():
            by_day.setdefault(day, {})[name] = amount
        for day, amounts in by_day.items():
            counters.queue_amounts(pipe, self.namespace, day, self.settings.counter_days, amounts)
        for job in jobs:
            job(pipe)

    @staticmethod
    def _refused(replies: list[object]) -> None:
        errors = [r for r in replies if isinstance(r, Exception)]
        if errors:  # a command refused (not the connection): nothing to retry
            log.warning("bookkeeping: %d command(s) refused by Redis: %s", len(errors), errors[0])

    def _put_back(self, entries: deque[tuple[dict[str, str], float]],
                  counts: Counter[tuple[int, str]], jobs: deque[Job]) -> None:
        with self._lock:
            entries.extend(self._entries)
            self._entries = entries
            while len(self._entries) > self.max_pending:
                _, now = self._entries.popleft()
                self._dropped += 1
                counts[(int(now // SECONDS_PER_DAY), LOG_DROPPED)] += 1
            counts.update(self._counts)
            self._counts = counts
            jobs.extend(self._jobs)
            self._jobs = jobs
            while len(self._jobs) > self.max_pending:
                self._jobs.popleft()
            if self._since is None and (self._entries or self._counts or self._jobs):
                self._since = time.monotonic()

    def _report(self, exc: Exception) -> None:
        text = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        log.warning("bookkeeping: Redis error, %d item(s) kept for later: %s", self.pending(), text)
        if self.on_error is not None:
            with contextlib.suppress(Exception):  # reporting must never break bookkeeping
                self.on_error(exc)
