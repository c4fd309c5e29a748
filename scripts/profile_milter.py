#!/usr/bin/env python3
"""Where does a milter's time go? py-spy samples it while this script feeds it mail.

cProfile sees only the thread that starts it, and pymilter runs every callback
in a thread libmilter creates, so this samples the whole process from outside
with py-spy (``pip install py-spy``; it needs ptrace, i.e. root). A private
Redis and one milter (one worker) are driven over the milter protocol, as in
scripts/bench_workers.py, and the samples of busy threads are summed per
function: "self" is time in the function itself, "total" includes its callees.
The milter protocol's own C code (libmilter reading and writing the socket)
shows as the share of samples with no Python frame of ours.

    scripts/profile_milter.py [--side inbound|outbound] [--kind ordinary|dsn] [--messages 3000] [--top 25]
"""

from __future__ import annotations

import argparse
import collections
import multiprocessing
import shlex
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from ledger.config import load_config
from ledger.record import SentMessage
from ledger.services import recorder_for
from scripts.bench_milter import USER, dsn, ordinary, original
from scripts.bench_workers import run
from testbed import MilterProcess, RedisServer

_WAITING = {"runmilter", "Condition.wait", "Event.wait", "wait"}


def summarise(raw: Path, top: int) -> None:
    """Print the functions with the most samples, from py-spy's collapsed stacks."""
    self_time: collections.Counter[str] = collections.Counter()
    total_time: collections.Counter[str] = collections.Counter()
    for line in raw.read_text().splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        count = int(count_text)
        frames = [frame.split(" (")[0] + " " + _where(frame) for frame in stack.split(";")
                  if not frame.startswith("process ") and not frame.startswith("thread ")]
        # Threads waiting, seen as busy: the main thread inside libmilter's smfi_main
        # (runmilter) and the bookkeeper or drainer waiting for work.
        if not frames or frames[-1].split(" ")[0] in _WAITING:
            continue
        self_time[frames[-1]] += count
        for frame in set(frames):
            total_time[frame] += count
    samples = sum(self_time.values())
    print(f"{samples} samples of busy threads")
    print(f"{'self':>6} {'total':>6}  function (file)")
    for frame, count in self_time.most_common(top):
        print(f"{count / samples:6.1%} {total_time[frame] / samples:6.1%}  {frame}")
    print("by total (with callees):")
    for frame, count in total_time.most_common(top):
        print(f"{self_time[frame] / samples:6.1%} {count / samples:6.1%}  {frame}")


def _where(frame: str) -> str:
    inside = frame.partition(" (")[2].rstrip(")")
    path, _, _line = inside.rpartition(":")
    parts = Path(path).parts
    for anchor in ("ledger", "Milter", "redis", "email"):
        if anchor in parts:
            return "(" + "/".join(parts[parts.index(anchor):]) + ")"
    return f"({Path(path).name})" if path else ""


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--side", choices=("inbound", "outbound"), default="inbound")
    parser.add_argument("--kind", choices=("ordinary", "dsn"), default="ordinary")
    parser.add_argument("--messages", type=int, default=3000)
    parser.add_argument("--sessions", type=int, default=4)
    parser.add_argument("--top", type=int, default=25)
    parser.add_argument("--rate", type=int, default=250, help="py-spy samples per second")
    parser.add_argument("--all-threads", action="store_true",
                        help="sample threads waiting on a socket too (default: only the thread "
                        "holding the GIL, i.e. Python CPU time)")
    args = parser.parse_args()
    py_spy = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")
    if not Path(py_spy).exists():
        print("profile_milter: py-spy is not installed (pip install py-spy)", file=sys.stderr)
        return 1

    base = Path(tempfile.mkdtemp(prefix="profile-milter-"))
    redis_server = RedisServer(base / "redis").start()
    milter: MilterProcess | None = None
    try:
        secret = "profile-milter-secret-0123456789"
        config = base / "sender-ledger.toml"
        config.write_text(f'[secret]\nvalue = "{secret}"\n\n[redis]\nurl = "{redis_server.url}"\n\n'
                          f'[outbound]\nmessage_id_domain = "bench.test"\nspool_dir = "{base / "spool"}"\n')
        if args.side == "inbound" and args.kind == "dsn":
            recorder = recorder_for(load_config(str(config)))
            for i in range(args.messages):
                recorder.record(SentMessage(mail_from=USER, recipients=["bob@example.com"],
                                            message_id=f"<bench-{i}@bench.test>"))
        milter = MilterProcess(base, args.side, config, secret).start()
        assert milter.proc is not None
        if args.side == "outbound":
            mail_from, raws = USER, [original(i) for i in range(args.messages)]
        elif args.kind == "dsn":
            mail_from, raws = "", [dsn(i, f"<bench-{i}@bench.test>") for i in range(args.messages)]
        else:
            mail_from, raws = "carol@example.com", [ordinary(i) for i in range(args.messages)]
        out = base / "profile.txt"
        spy = subprocess.Popen([py_spy, "record", "--pid", str(milter.proc.pid), "--rate",
                                str(args.rate), "--format", "raw", "--output", str(out),
                                "--nonblocking", "--full-filenames",
                                *([] if args.all_threads else ["--gil"])],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        with multiprocessing.get_context("fork").Pool(1) as pool:
            rate, milter_cpu, _client_cpu, accepted, _ = run(pool, milter, mail_from, raws,
                                                            args.sessions, 1)
        spy.send_signal(2)  # SIGINT: py-spy writes its output and exits
        spy.wait(60)
        print(f"{args.side} milter, {args.kind if args.side == 'inbound' else 'recorded'} mail: "
              f"{len(raws)} messages, {rate:.0f} msg/s, {milter_cpu / len(raws) * 1e6:.0f} us milter "
              f"CPU per message, {accepted} accepted")
        summarise(out, args.top)
        print(f"rerun: {shlex.join([sys.argv[0], *sys.argv[1:]])}")
        return 0
    finally:
        if milter is not None:
            milter.stop()
        redis_server.stop()
        shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
