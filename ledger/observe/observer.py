"""The one entry point the milters call per decision and per record.

Cost rules, because this sits on the mail path:

* ordinary (non-candidate) mail: in-process metrics only, never Redis;
* a recorded outbound message: the day counter rides in the record's own
  pipeline (:meth:`Observer.record_hook`), no extra round trip;
* a candidate: its log entry and counters are one pipelined round trip after
  the verdict, best effort: a Redis error is logged and counted and never
  changes the SMTP answer. When the verdict itself was "ledger unreachable"
  the write is skipped, so an outage does not cost every candidate a second
  timeout.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

import redis
from redis.client import Pipeline

from ledger.check import Envelope
from ledger.config import Config, ObserveSettings
from ledger.decide import Cause, Decision
from ledger.observe import counters, decision_log
from ledger.observe.classify import outcome
from ledger.observe.metrics import Metrics
from ledger.store import SECONDS_PER_DAY

log = logging.getLogger("sender-ledger.observe")

# Outbound outcomes: recorded; skipped (null sender: nothing to record);
# failed (the ledger could not be reached); error (our own bug).
RECORDED, SKIPPED, FAILED, ERROR = "recorded", "skipped", "failed", "error"


class Observer:
    """Counters, decision log and metrics; every part optional (None = off)."""

    def __init__(
        self,
        client: redis.Redis | None = None,
        namespace: str = "sl",
        settings: ObserveSettings | None = None,
        secret: bytes = b"",
        metrics: Metrics | None = None,
    ) -> None:
        self.client = client
        self.namespace = namespace
        self.settings = settings or ObserveSettings()
        self.masker = decision_log.AddressMasker(secret, self.settings.log_addresses)
        self.metrics = metrics
        # Ordinary mail is the hot path: resolve its labelled children once.
        self._ordinary = None if metrics is None else (
            metrics.decisions.labels("ordinary", "accept"),
            metrics.decision_seconds.labels("ordinary"))

    @classmethod
    def from_config(cls, cfg: Config, client: redis.Redis | None,
                    metrics: Metrics | None = None) -> Observer:
        return cls(client, cfg.redis.namespace, cfg.observe, cfg.secret, metrics)

    # -- inbound --------------------------------------------------------------
    def ordinary(self, seconds: float) -> None:
        """An ordinary message was accepted at end of headers: metrics only."""
        if self._ordinary is not None:
            count, latency = self._ordinary
            count.inc()
            latency.observe(seconds)

    def decided(self, envelope: Envelope, decision: Decision, seconds: float,
                now: float | None = None, extra: Callable[[Pipeline], None] | None = None) -> bool:
        """A candidate was decided: metrics, then log entry + counters in one round trip.

        ``extra`` queues more commands on that round trip (the inbound milter's
        bounce counting). Returns True when Redis took the write. Never raises.
        """
        try:
            unreachable = decision.cause == Cause.UNREACHABLE
            if self.metrics is not None:
                self.metrics.decisions.labels(decision.kind or "unknown", outcome(decision)).inc()
                self.metrics.decision_seconds.labels("candidate").observe(seconds)
                if unreachable:
                    self.metrics.redis_errors.labels("lookup").inc()
            if self.client is None or unreachable:
                return False
            now = time.time() if now is None else now
            pipe = self.client.pipeline(transaction=False)
            decision_log.queue_entry(pipe, self.namespace,
                                     decision_log.entry_fields(envelope, decision, self.masker),
                                     self.settings.log_entries, self.settings.log_days, now)
            counters.queue_increments(pipe, self.namespace, int(now // SECONDS_PER_DAY),
                                      self.settings.counter_days, counters.decision_fields(decision))
            if extra is not None:
                extra(pipe)
            pipe.execute()
            return True
        except redis.RedisError as exc:
            self._redis_error("observe", exc, envelope.queue_id)
        except Exception:  # observing must never break the milter
            log.exception("qid=%s could not log the decision", envelope.queue_id or "-")
        return False

    # -- outbound -------------------------------------------------------------
    def record_hook(self, now: float | None = None) -> Callable[[Pipeline], None] | None:
        """Commands to queue on the record's own pipeline (None when counters are off)."""
        if self.client is None:
            return None
        day = int((time.time() if now is None else now) // SECONDS_PER_DAY)

        def hook(pipe: Pipeline) -> None:
            counters.queue_increments(pipe, self.namespace, day, self.settings.counter_days,
                                      (counters.RECORDED,))
        return hook

    def recorded(self, result: str, seconds: float) -> None:
        """An outbound message was recorded, skipped, failed or hit an error (see above)."""
        if self.metrics is not None:
            self.metrics.records.labels(result).inc()
            self.metrics.record_seconds.observe(seconds)
            if result == FAILED:
                self.metrics.redis_errors.labels("record").inc()

    def _redis_error(self, operation: str, exc: Exception, queue_id: str) -> None:
        log.warning("qid=%s %s: Redis error (ignored): %s", queue_id or "-", operation,
                    str(exc).splitlines()[0] if str(exc) else type(exc).__name__)
        if self.metrics is not None:
            self.metrics.redis_errors.labels(operation).inc()
