#!/usr/bin/env python3
"""What observing costs on the mail path, against baselines measured in the same run.

On a private redis-server (unix socket), interleaved rounds, median per call:

* outbound: Recorder.record alone, vs with the day counter riding in the same
  pipeline (what the milter does), vs the counter as a second round trip;
* inbound candidate: Observer.decided (log entry + counters, one round trip)
  vs a bare PING round trip and vs the ledger lookup (Inspector.inspect) it
  follows;
* inbound ordinary mail: Observer.ordinary with metrics off and on, vs the
  header screening every message already costs.

    scripts/bench_observe.py [--calls 2000] [--rounds 3]
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

from ledger.check import Envelope, screen
from ledger.config import Config
from ledger.days import today
from ledger.decide import Policy
from ledger.hashing import Hasher
from ledger.observe import Observer, counters
from ledger.observe.metrics import Metrics
from ledger.record import Recorder, SentMessage
from ledger.redis_client import connect
from ledger.store import Ledger
from ledger.trip import RoundTrip
from ledger.verdict import Inspector
from testbed import RedisServer

SECRET = b"benchmark-secret-0123456789"
ORDINARY_HEADERS = [("From", "Carol <carol@example.com>"), ("To", "alice@example.test"),
                    ("Subject", "lunch on Friday?"), ("Message-ID", "<x1@example.com>"),
                    ("Content-Type", "text/plain; charset=utf-8"), ("Date", "Fri, 27 Nov 2026 09:00 +0000")]


def dsn(ref: str) -> bytes:
    return (
        "From: MAILER-DAEMON@mx.fail.test\r\nTo: alice@example.test\r\nSubject: Undelivered\r\n"
        "Message-ID: <own@mx.fail.test>\r\nMIME-Version: 1.0\r\n"
        'Content-Type: multipart/report; report-type=delivery-status; boundary="B"\r\n\r\n'
        "--B\r\nContent-Type: text/plain\r\n\r\nfailed\r\n"
        "--B\r\nContent-Type: message/delivery-status\r\n\r\nReporting-MTA: dns; mx\r\n\r\n"
        "Final-Recipient: rfc822; bob@fail.test\r\nAction: failed\r\nStatus: 5.1.1\r\n"
        f"--B\r\nContent-Type: text/rfc822-headers\r\n\r\nMessage-ID: <{ref}>\r\n--B--\r\n"
    ).encode()


def per_call(fn: Callable[[int], object], calls: int) -> float:
    """Seconds per call of fn(i), i in range(calls)."""
    started = time.perf_counter()
    for i in range(calls):
        fn(i)
    return (time.perf_counter() - started) / calls


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=2000, help="calls per variant per round")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    calls = args.calls

    with tempfile.TemporaryDirectory(prefix="bench-observe-") as tmp:
        server = RedisServer(Path(tmp)).start()
        try:
            client = connect(server.url, 10, 10)
            ledger = Ledger(client, "sl", 30, 6)
            hasher = Hasher(SECRET, 6)
            recorder = Recorder(ledger, hasher)
            cfg = Config(secret=SECRET)
            observer = Observer.from_config(cfg, client)
            observed_metrics = Observer.from_config(cfg, client, Metrics())
            no_redis = Observer()
            inspector = Inspector(ledger, hasher, Policy(), 512 * 1024)
            recorder.record(SentMessage("alice@example.test", ["b@x"], "<real@example.test>"))
            envelope = Envelope("", ["alice@example.test"], "mx.fail.test[192.0.2.7]", "4AbC1")
            bounce = dsn("real@example.test")
            decision = inspector.inspect(envelope, bounce)
            day = today()

            def sent(i: int, tag: str) -> SentMessage:
                return SentMessage("alice@example.test", ["bob@example.com"], f"<{tag}.{i}@example.test>")

            def counted(i: int) -> RoundTrip:
                trip = RoundTrip(client)
                counters.queue_increments(trip.pipe, "sl", day, 35, (counters.RECORDED,))
                return trip

            def separate(i: int) -> None:
                recorder.record(sent(i, "c"))
                pipe = client.pipeline(transaction=False)
                counters.queue_increments(pipe, "sl", day, 35, (counters.RECORDED,))
                pipe.execute()

            variants: dict[str, Callable[[int], object]] = {
                "record alone": lambda i: recorder.record(sent(i, "a")),
                "record + counter, same pipeline": lambda i: recorder.record(
                    sent(i, "b"), trip=counted(i)),
                "record, then counter round trip": separate,
                "PING round trip": lambda i: client.ping(),
                "inspect candidate (lookup)": lambda i: inspector.inspect(envelope, bounce),
                "decided: log + counters": lambda i: observer.decided(envelope, decision, 0.001),
                "screen ordinary headers": lambda i: screen("carol@example.com", ORDINARY_HEADERS),
                "ordinary(), metrics off": lambda i: no_redis.ordinary(1e-5),
                "ordinary(), metrics on": lambda i: observed_metrics.ordinary(1e-5),
            }
            results: dict[str, list[float]] = {name: [] for name in variants}
            for _ in range(args.rounds):
                for name, fn in variants.items():
                    results[name].append(per_call(fn, calls))
        finally:
            server.stop()

    med = {name: statistics.median(times) for name, times in results.items()}
    print(f"median of {args.rounds} interleaved rounds, {calls} calls each, private Redis on a unix socket\n")
    print(f"{'variant':36} {'µs/call':>9}")
    for name, value in med.items():
        print(f"{name:36} {value * 1e6:9.2f}")
    print("\nratios")
    print(f"  outbound, counter in the same pipeline / record alone: "
          f"{med['record + counter, same pipeline'] / med['record alone']:.2f}")
    print(f"  outbound, counter as a 2nd round trip / record alone:  "
          f"{med['record, then counter round trip'] / med['record alone']:.2f}")
    print(f"  candidate, decided() / PING round trip:                "
          f"{med['decided: log + counters'] / med['PING round trip']:.2f}")
    print(f"  candidate, decided() / inspect (the lookup before it): "
          f"{med['decided: log + counters'] / med['inspect candidate (lookup)']:.2f}")
    print(f"  ordinary, ordinary() metrics off / screen:            "
          f"{med['ordinary(), metrics off'] / med['screen ordinary headers']:.3f}")
    print(f"  ordinary, ordinary() metrics on / screen:             "
          f"{med['ordinary(), metrics on'] / med['screen ordinary headers']:.3f}")
    print("\nrerun: " + shlex.join([sys.argv[0], "--calls", str(calls), "--rounds", str(args.rounds)]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
