"""The Redis settings the ledger's layout relies on (``conf/redis-ledger.conf`` explains each).

``doctor`` checks a live Redis against them and the test bed starts its private
servers with them. A bucket larger than ``hash-max-listpack-entries`` turns
silently into a hashtable at about five times the memory.
"""

from __future__ import annotations

REDIS_SETTINGS: dict[str, str] = {
    "hash-max-listpack-entries": "2048",
    "hash-max-listpack-value": "64",
    "maxmemory-policy": "noeviction",
    "lazyfree-lazy-expire": "yes",
}
