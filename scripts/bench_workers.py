#!/usr/bin/env python3
"""Do more worker processes make the inbound milter faster? 1 worker against N, directly.

No Postfix: the milter is driven over the milter protocol by this script
(tests/milterclient.py, the MTA side), so the milter is the only server
measured. Starts a private Redis and the inbound milter twice, with 1 worker
and with N, on two unix sockets, and sends the same kind of messages to each
from S concurrent sessions spread over C client processes, rounds interleaved
(and the order swapped every round). Two kinds: ordinary mail (screened,
accepted at end of headers) and real DSNs whose originals are in the ledger
(parsed, looked up, accepted at end of message).

The client costs CPU on the same cores. To account for it the script reads
the CPU time every process used in each run (the milter's parent and
workers from /proc, the clients from their own rusage) and prints, beside
msg/s, the milter's CPU per message, the share of the milter's and clients'
CPU the clients took, and how many cores the run kept busy (milter, clients
and Redis): a scaling below N with the cores saturated is the client's (and
Redis's, and other jobs') share, not the milter's.

    scripts/bench_workers.py [--messages 1500] [--sessions 8] [--clients 2] [--rounds 5] [--workers N]
"""

from __future__ import annotations

import argparse
import multiprocessing
import multiprocessing.pool
import os
import resource
import shlex
import shutil
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from ledger.config import load_config, usable_cores
from ledger.record import SentMessage
from ledger.services import recorder_for
from scripts.bench_milter import USER, dsn, ordinary
from testbed import MilterProcess, RedisServer
from tests import messages
from tests.milterclient import send_message

TICKS = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pids: list[int]) -> float:
    """User + system CPU time of these processes so far."""
    total = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])  # utime, stime
    return total / TICKS


def client(job: tuple[str, str, list[bytes], int]) -> tuple[int, float]:
    """One client process: its share of the messages over `threads` sessions; (answers, CPU s)."""
    socket_path, mail_from, raws, threads = job
    before = resource.getrusage(resource.RUSAGE_SELF)
    done = [0] * threads

    def session(index: int) -> None:
        for raw in raws[index::threads]:
            headers, body = messages.split(raw)
            outcome = send_message(socket_path, mail_from, [USER], headers, body, queue_id="BENCH")
            if outcome.code == "accept":
                done[index] += 1

    workers = [threading.Thread(target=session, args=(i,)) for i in range(threads)]
    for thread in workers:
        thread.start()
    for thread in workers:
        thread.join()
    after = resource.getrusage(resource.RUSAGE_SELF)
    return sum(done), (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def run(pool: multiprocessing.pool.Pool, milter: MilterProcess, mail_from: str, raws: list[bytes],
        sessions: int, clients: int, others: tuple[int, ...] = ()) -> tuple[float, float, float, int, float]:
    """(msg/s, milter CPU s, client CPU s, accepted, CPU s of ``others``) for one run."""
    pids = [milter.proc.pid, *milter.worker_pids()] if milter.proc else []
    others_before = cpu_seconds(list(others))
    jobs = [(str(milter.socket_path), mail_from, raws[i::clients], max(1, sessions // clients))
            for i in range(clients)]
    cpu_before = cpu_seconds(pids)
    started = time.perf_counter()
    results = pool.map(client, jobs)
    elapsed = time.perf_counter() - started
    milter_cpu = cpu_seconds(pids) - cpu_before
    return (len(raws) / elapsed, milter_cpu, sum(r[1] for r in results), sum(r[0] for r in results),
            (cpu_seconds(list(others)) - others_before) / elapsed)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=1500, help="messages per kind and run")
    parser.add_argument("--sessions", type=int, default=8, help="concurrent milter sessions")
    parser.add_argument("--clients", type=int, default=2, help="client processes sharing them")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--workers", type=int, default=usable_cores(),
                        help="workers of the second milter (default: the usable cores)")
    args = parser.parse_args()

    base = Path(tempfile.mkdtemp(prefix="bench-workers-"))
    redis_server = RedisServer(base / "redis").start()
    started: list[MilterProcess] = []
    try:
        secret = "bench-workers-secret-0123456789"
        config = base / "sender-ledger.toml"
        config.write_text(f'[secret]\nvalue = "{secret}"\n\n[redis]\nurl = "{redis_server.url}"\n\n'
                          f'[outbound]\nmessage_id_domain = "bench.test"\nspool_dir = "{base / "spool"}"\n')
        recorder = recorder_for(load_config(str(config)))
        total = args.messages * args.rounds * 2
        for i in range(total):
            recorder.record(SentMessage(mail_from=USER, recipients=["bob@example.com"],
                                        message_id=f"<bench-{i}@bench.test>"))
        milters = {}
        for n in (1, args.workers):
            workdir = base / f"w{n}"
            workdir.mkdir()
            milters[n] = MilterProcess(workdir, "inbound", config, secret, workers=n).start()
            started.append(milters[n])

        kinds = {"ordinary mail": ("carol@example.com", ordinary),
                 "real DSNs (in ledger)": ("", lambda i: dsn(i, f"<bench-{i}@bench.test>"))}
        print(f"inbound milter over the milter protocol, no Postfix: {args.messages} messages per run, "
              f"{args.sessions} sessions in {args.clients} client processes, {args.rounds} rounds, "
              f"{usable_cores()} usable cores; medians [lowest-highest of the per-round ratio]")
        print(f"{'kind':22} {'workers':>7} {'msg/s':>7} {'milter CPU/msg':>15} {'client CPU share':>17} "
              f"{'cores busy':>10} {'ratio':>20}")
        context = multiprocessing.get_context("fork")
        with context.Pool(args.clients) as pool:
            for name, (mail_from, make) in kinds.items():
                figures: dict[int, list[tuple[float, float, float, int, float]]] = {
                    n: [] for n in milters}
                next_id = 0
                for round_no in range(args.rounds):
                    order = list(milters) if round_no % 2 == 0 else list(reversed(milters))
                    for n in order:
                        raws = [make(i) for i in range(next_id, next_id + args.messages)]
                        next_id += args.messages
                        assert redis_server.proc is not None
                        figures[n].append(run(pool, milters[n], mail_from, raws, args.sessions,
                                              args.clients, (redis_server.proc.pid,)))
                for n, runs in figures.items():
                    rate = statistics.median(r[0] for r in runs)
                    per_msg = statistics.median(r[1] / args.messages for r in runs) * 1e6
                    share = statistics.median(r[2] / (r[1] + r[2]) for r in runs if r[1] + r[2])
                    accepted = sum(r[3] for r in runs)
                    # Cores busy with this run: milter + clients + Redis, per second of the run.
                    busy = statistics.median((r[1] + r[2]) * r[0] / args.messages + r[4] for r in runs)
                    cell = ""
                    if n != 1:
                        per_round = [a[0] / b[0] for a, b in zip(runs, figures[1], strict=True)]
                        cell = (f"{statistics.median(per_round):.2f} "
                                f"[{min(per_round):.2f}-{max(per_round):.2f}]")
                    print(f"{name:22} {n:7d} {rate:7.0f} {per_msg:12.0f} us {share:17.2f} "
                          f"{busy:10.2f} {cell:>20}"
                          f"  accepted {accepted}/{len(runs) * args.messages}")
        print(f"rerun: {shlex.join([sys.argv[0], *sys.argv[1:]])}")
        return 0
    finally:
        for milter in started:
            milter.stop()
        redis_server.stop()
        shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
