"""Observe: what the operator sees of the milters' work.

* :mod:`counters`: per-day counters in Redis (``sender-ledger stats``);
* :mod:`decision_log`: the capped, expiring stream of decisions (``sender-ledger log``);
* :mod:`metrics`: Prometheus metrics served by each milter (optional);
* :mod:`inventory`, :mod:`dump`: walk, purge, export and import the ledger's day keys.

The milters only ever call :class:`Observer`.
"""

from ledger.observe.observer import Observer

__all__ = ["Observer"]
