"""The one entry point the milters call per decision and per record.

Cost rules, because this sits on the mail path:

* ordinary (non-candidate) mail: in-process metrics only, never Redis;
* a recorded outbound message: metrics at once; its day counter goes to the
  bookkeeper and rides on the next record's round trip, no extra round trip;
* a candidate: metrics at once; its log entry and counters go to the
  :class:`~ledger.observe.bookkeeper.Bookkeeper`, which the milters run in
  the background, so the SMTP answer never waits for them. The milters hand
  each end of message's round trip to :meth:`Observer.ride`, which puts what
  is pending on it: the next message carries this one's bookkeeping. What
  Redis cannot take now (an outage, a stall) is kept and written when it
  answers again: ``stats`` shows the outage afterwards (failed, tempfailed,
  spooled).
"""

from __future__ import annotations

import logging
import time

import redis

from ledger.check import Envelope
from ledger.config import Config, ObserveSettings
from ledger.days import SECONDS_PER_DAY
from ledger.decide import Cause, Decision
from ledger.observe import counters, decision_log
from ledger.observe.bookkeeper import Bookkeeper, Job
from ledger.observe.classify import outcome
from ledger.observe.metrics import Metrics
from ledger.trip import RoundTrip

log = logging.getLogger("sender-ledger.observe")

# Outbound outcomes: recorded; skipped (null sender: nothing to record);
# spooled (the ledger could not take it now, the spool keeps it); failed (lost:
# neither could); error (our own bug).
RECORDED, SKIPPED, SPOOLED, FAILED, ERROR = "recorded", "skipped", "spooled", "failed", "error"
_RECORD_COUNTERS = {RECORDED: counters.RECORDED, SPOOLED: counters.SPOOLED, FAILED: counters.RECORD_FAILED,
                    ERROR: counters.RECORD_FAILED}


class Observer:
    """Counters, decision log and metrics; every part optional (None = off)."""

    def __init__(
        self,
        client: redis.Redis | None = None,
        namespace: str = "sl",
        settings: ObserveSettings | None = None,
        secret: bytes = b"",
        metrics: Metrics | None = None,
        background: bool = False,
        linger: float = 0.0,
    ) -> None:
        self.client = client
        self.namespace = namespace
        self.settings = settings or ObserveSettings()
        self.masker = decision_log.AddressMasker(secret, self.settings.log_addresses)
        self.metrics = metrics
        self.bookkeeper: Bookkeeper | None = None
        if client is not None:
            self.bookkeeper = Bookkeeper(client, namespace, self.settings, background=background,
                                         linger=linger, on_error=self._bookkeeping_error)
        # Ordinary mail is the hot path: resolve its labelled children once.
        self._ordinary = None if metrics is None else (
            metrics.decisions.labels("ordinary", "accept"),
            metrics.decision_seconds.labels("ordinary"))

    @classmethod
    def from_config(cls, cfg: Config, client: redis.Redis | None, metrics: Metrics | None = None,
                    background: bool = False, linger: float = 0.0) -> Observer:
        return cls(client, cfg.redis.namespace, cfg.observe, cfg.secret, metrics, background, linger)

    def flush(self, timeout: float = 5.0) -> bool:
        """Wait until every write handed to the bookkeeper is done (tests, shutdown)."""
        return self.bookkeeper is None or self.bookkeeper.flush(timeout)

    def close(self) -> None:
        if self.bookkeeper is not None:
            self.bookkeeper.stop()

    # -- inbound --------------------------------------------------------------
    def ordinary(self, seconds: float) -> None:
        """An ordinary message was accepted at end of headers: metrics only."""
        if self._ordinary is not None:
            count, latency = self._ordinary
            count.inc()
            latency.observe(seconds)

    def decided(self, envelope: Envelope, decision: Decision, seconds: float,
                now: float | None = None) -> bool:
        """A candidate was decided: metrics now; log entry and counters to the bookkeeper.

        Returns True when the write was done (synchronous bookkeeper) or
        queued (background). Never raises.
        """
        try:
            if self.metrics is not None:
                self.metrics.decisions.labels(decision.kind or "unknown", outcome(decision)).inc()
                self.metrics.causes.labels(str(decision.cause)).inc()
                if decision.would_reject:
                    self.metrics.would_reject.labels(decision.kind or "unknown").inc()
                self.metrics.decision_seconds.labels("candidate").observe(seconds)
                if decision.cause == Cause.UNREACHABLE:
                    self.metrics.redis_errors.labels("lookup").inc()
            if self.bookkeeper is None:
                return False
            now = time.time() if now is None else now
            fields = decision_log.entry_fields(envelope, decision, self.masker)
            return self.bookkeeper.decision(fields, counters.decision_fields(decision), now)
        except Exception:  # observing must never break the milter
            log.exception("qid=%s could not log the decision", envelope.queue_id or "-")
        return False

    def later(self, job: Job) -> bool:
        """Ledger commands that must not be lost but need not hold the reply (e.g. a bounce count)."""
        if self.bookkeeper is None:
            return False
        return self.bookkeeper.job(job)

    def ride(self, trip: RoundTrip) -> int:
        """Put the pending log entries and counters on a milter's round trip (see the bookkeeper)."""
        if self.bookkeeper is None:
            return 0
        try:
            return self.bookkeeper.ride(trip)
        except Exception:  # observing must never break the milter
            log.exception("could not hand bookkeeping to a round trip")
            return 0

    # -- outbound -------------------------------------------------------------
    def recorded(self, result: str, seconds: float, now: float | None = None) -> None:
        """An outbound message was recorded, skipped, spooled, lost or hit an error (see above)."""
        if self.metrics is not None:
            self.metrics.records.labels(result).inc()
            self.metrics.record_seconds.observe(seconds)
            if result in (SPOOLED, FAILED):
                self.metrics.redis_errors.labels("record").inc()
        field = _RECORD_COUNTERS.get(result)
        if field is not None and self.bookkeeper is not None:
            day = int((time.time() if now is None else now) // SECONDS_PER_DAY)
            self.bookkeeper.count(day, (field,))

    def replayed(self, new_by_day: dict[int, int], replayed: int, now: float | None = None) -> None:
        """Spooled records reached the ledger: count them as recorded on their own day."""
        if self.bookkeeper is None:
            return
        for day, new in new_by_day.items():
            self.bookkeeper.count(day, (counters.RECORDED,), new)
        today = int((time.time() if now is None else now) // SECONDS_PER_DAY)
        self.bookkeeper.count(today, (counters.REPLAYED,), replayed)

    def _bookkeeping_error(self, exc: Exception) -> None:
        if self.metrics is not None:
            self.metrics.redis_errors.labels("observe").inc()
