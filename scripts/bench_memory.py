#!/usr/bin/env python3
"""Bytes of Redis memory per recorded message, on a private redis-server.

Records N messages spread evenly over the ledger's lifetime (as a site
sending N/lifetime messages a day would hold them), through the same
Recorder code the outbound milter uses, and divides the growth of Redis'
used_memory by N: first the message entries alone (what a bounce's reference
is matched against), then the (sender, recipient) pairs the envelope check
uses, each to a recipient never written to before (the worst case: real
sites write to the same people again, and a repeated pair costs nothing).
For comparison it loads the same N messages in the naive layout (one key per
message, SET ... EX) in the same run and prints the ratio.

    scripts/bench_memory.py [--messages 1000000] [--bucket-bits 6] [--days 30]
"""

from __future__ import annotations

import argparse
import shlex
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from ledger.days import today
from ledger.hashing import MESSAGE, PAIR, Hasher
from ledger.record import Recorder, SentMessage
from ledger.redis_client import connect
from ledger.store import Ledger
from testbed import RedisServer


def used_memory(client) -> int:  # type: ignore[no-untyped-def]
    return int(client.info("memory")["used_memory"])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=1_000_000)
    parser.add_argument("--bucket-bits", type=int, default=6)
    parser.add_argument("--days", type=int, default=30, help="sending days the messages spread over")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="bench-memory-") as tmp:
        server = RedisServer(Path(tmp)).start()
        try:
            client = connect(server.url, 10, 10)
            ledger = Ledger(client, "sl", lifetime_days=30, bucket_bits=args.bucket_bits)
            recorder = Recorder(ledger, Hasher(b"benchmark-secret-0123456789", args.bucket_bits))
            per_day = args.messages // args.days
            batch = 2000

            def load(kind: bytes) -> float:
                """Record every message's entries of one kind; seconds taken."""
                started = time.perf_counter()
                for day_index in range(args.days):
                    day = today() - day_index
                    for start in range(0, per_day, batch):
                        entries = []
                        for i in range(start, min(start + batch, per_day)):
                            sent = SentMessage(mail_from="alice@example.test",
                                               recipients=[f"r{day}.{i}@example.com"],
                                               message_id=f"<{day}.{i}.benchmark@example.test>")
                            result = recorder.entries(sent)
                            entries.extend(result.entries if kind == MESSAGE else result.pairs)
                        ledger.record(entries, recipients=1, kind=kind, day=day)
                return time.perf_counter() - started

            base = used_memory(client)
            elapsed = load(MESSAGE)
            recorded = per_day * args.days
            ledger_bytes = (used_memory(client) - base) / recorded
            base = used_memory(client)
            load(PAIR)
            pair_bytes = (used_memory(client) - base) / recorded
            encodings: dict[str, int] = {}
            for key in client.scan_iter(f"{ledger.namespace}:*", count=1000):
                enc = client.object("encoding", key).decode()
                encodings[enc] = encodings.get(enc, 0) + 1
            largest = max(client.hlen(k) for k in client.scan_iter(ledger.key_pattern(), count=1000))

            client.flushall()
            base = used_memory(client)
            pipe = client.pipeline(transaction=False)
            for i in range(recorded):
                pipe.set(f"m:{i:016x}".encode(), b"1", ex=30 * 86400)
                if i % 5000 == 4999:
                    pipe.execute()
            pipe.execute()
            naive_bytes = (used_memory(client) - base) / recorded
        finally:
            server.stop()

    print(f"messages recorded:          {recorded:,} over {args.days} days "
          f"({per_day:,}/day, bucket_bits={args.bucket_bits}, largest hash {largest} entries)")
    print(f"hash encodings:             {encodings}")
    print(f"ledger bytes per message:   {ledger_bytes:.1f}  (message entries: what references match)")
    print(f"bytes per new pair:         {pair_bytes:.1f}  (envelope check; a repeated pair costs 0)")
    print(f"message + one new pair:     {ledger_bytes + pair_bytes:.1f}")
    print(f"key-per-message baseline:   {naive_bytes:.1f} bytes per message (SET key EX)")
    print(f"ratio ledger / baseline:    {ledger_bytes / naive_bytes:.3f}")
    print(f"record rate:                {recorded / elapsed:,.0f} messages/s (pipelined, batches of 2000)")
    print(f"rerun: {shlex.join([sys.argv[0], *sys.argv[1:]])}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
