"""One Redis round trip that several parties fill: the caller owns it.

A milter's end of message opens one :class:`RoundTrip`; the ledger lookup,
the catching-up flag, the record, the decision log and the counters queue
their commands on it, it is executed once, and each party reads its own
slice of the replies. Nothing is hidden in callbacks handed down and up.

Invariants:

* :meth:`RoundTrip.run` executes at most once and never raises a Redis
  error: a failed trip leaves :attr:`error` set, every party then sees
  :class:`~ledger.errors.LedgerUnavailable` from :meth:`replies`, and the
  ``on_failure`` callbacks (put riders back) have run;
* a command Redis refuses (an error *reply*) fails only the party that
  queued it: replies are collected with ``raise_on_error=False``;
* :attr:`single_node` is False on Redis Cluster, where keys of different
  hash slots live on different nodes: there a pipeline is one round trip
  *per node*, so parties that would only couple another node's failures to
  this answer (bookkeeping, the catching-up flag) stay off the trip.

Cost: one pipelined round trip, whatever the number of parties.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import redis
from redis.client import Pipeline
from redis.cluster import RedisCluster

from ledger.errors import LedgerUnavailable


class RoundTrip:
    """A pipeline, its parties' reply slices and what to do if it fails."""

    def __init__(self, client: redis.Redis) -> None:
        self.pipe: Pipeline = client.pipeline(transaction=False)
        self.single_node = not isinstance(client, RedisCluster)
        self.error: LedgerUnavailable | None = None
        self._replies: list[Any] | None = None
        self._failure: list[Callable[[], None]] = []
        self._success: list[Callable[[list[Any]], None]] = []

    def mark(self) -> int:
        """The index the next queued command's reply will have."""
        return len(self.pipe)

    def on_failure(self, callback: Callable[[], None]) -> None:
        """Run ``callback`` if the trip fails as a whole (e.g. put riding writes back)."""
        self._failure.append(callback)

    def on_success(self, callback: Callable[[list[Any]], None]) -> None:
        """Run ``callback`` with all replies once the trip has run."""
        self._success.append(callback)

    @property
    def ran(self) -> bool:
        return self._replies is not None or self.error is not None

    def run(self) -> None:
        """Execute the pipeline once (later calls do nothing)."""
        if self.ran:
            return
        try:
            self._replies = list(self.pipe.execute(raise_on_error=False)) if len(self.pipe) else []
        except redis.RedisError as exc:
            text = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            self.error = LedgerUnavailable(text)
            for callback in self._failure:
                callback()
            return
        finally:
            self.pipe.reset()
        for done in self._success:
            done(self._replies)

    def replies(self, start: int, end: int) -> list[Any]:
        """The replies of commands ``start`` to ``end`` (raises LedgerUnavailable if the trip failed)."""
        self.run()
        if self.error is not None:
            raise self.error
        assert self._replies is not None
        return self._replies[start:end]
