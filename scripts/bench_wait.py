#!/usr/bin/env python3
"""What confirming records costs (``[redis] wait_replicas``), against the record alone.

On a private master with one replica (loopback TCP, as behind Sentinel),
interleaved rounds, median per record and the 99th percentile:

* Recorder.record with wait_replicas = 0 (the baseline: HSETNX + EXPIREAT, one round trip);
* the same with wait_replicas = 1 (WAIT 1 at the end of the same pipeline);
* a PING round trip, for scale.

    scripts/bench_wait.py [--calls 2000] [--rounds 3]
"""

from __future__ import annotations

import argparse
import shlex
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from ledger.hashing import Hasher
from ledger.record import Recorder, SentMessage
from ledger.redis_client import connect
from ledger.store import Ledger
from testbed import RedisServer, free_port
from testbed.procs import wait_for

SECRET = b"benchmark-secret-0123456789"


def timings(fn: Callable[[int], object], calls: int, offset: int) -> list[float]:
    """Seconds of each call fn(offset + i), i in range(calls)."""
    out = []
    for i in range(calls):
        started = time.perf_counter()
        fn(offset + i)
        out.append(time.perf_counter() - started)
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=2000, help="calls per variant per round")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="bench-wait-") as tmp:
        master = RedisServer(Path(tmp) / "master", free_port())
        replica = RedisServer(Path(tmp) / "replica", free_port())
        try:
            master.start()
            replica.extra = ("--replicaof", "127.0.0.1", str(master.port))
            replica.start()
            client = connect(f"redis://127.0.0.1:{master.port}", 10, 10)
            wait_for(lambda: client.wait(1, 100) == 1, 30, "the replica to acknowledge")
            hasher = Hasher(SECRET, 6)
            plain = Recorder(Ledger(client, "sl", 30, 6), hasher)
            confirmed = Recorder(Ledger(client, "sl", 30, 6, wait_replicas=1, wait_timeout_ms=100), hasher)

            def sent(i: int, tag: str) -> SentMessage:
                return SentMessage("alice@example.test", ["bob@example.com"], f"<{tag}.{i}@example.test>")

            variants: dict[str, Callable[[int], object]] = {
                "record, wait_replicas = 0": lambda i: plain.record(sent(i, "a")),
                "record, wait_replicas = 1": lambda i: confirmed.record(sent(i, "b")),
                "PING round trip": lambda i: client.ping(),
            }
            medians: dict[str, list[float]] = {name: [] for name in variants}
            p99s: dict[str, list[float]] = {name: [] for name in variants}
            for round_number in range(args.rounds):
                for name, fn in variants.items():
                    times = sorted(timings(fn, args.calls, round_number * args.calls))
                    medians[name].append(statistics.median(times))
                    p99s[name].append(times[int(len(times) * 0.99)])
        finally:
            replica.stop()
            master.stop()

    med = {name: statistics.median(v) for name, v in medians.items()}
    p99 = {name: statistics.median(v) for name, v in p99s.items()}
    print(f"median of {args.rounds} interleaved rounds, {args.calls} calls each, "
          "master + 1 replica on loopback TCP\n")
    print(f"{'variant':28} {'median µs':>10} {'p99 µs':>10}")
    for name in variants:
        print(f"{name:28} {med[name] * 1e6:10.1f} {p99[name] * 1e6:10.1f}")
    base, waited = med["record, wait_replicas = 0"], med["record, wait_replicas = 1"]
    print("\nratios")
    print(f"  record with WAIT 1 / record alone (median): {waited / base:.2f}")
    print(f"  record with WAIT 1 / record alone (p99):    "
          f"{p99['record, wait_replicas = 1'] / p99['record, wait_replicas = 0']:.2f}")
    print("\nrerun: " + shlex.join([sys.argv[0], "--calls", str(args.calls), "--rounds", str(args.rounds)]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
