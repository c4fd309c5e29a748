#!/usr/bin/env python3
"""Fuzz the inbound check in process: mutated messages through Inspector, against a real Redis.

Every input is a seed message (tests/corpus/, tests/messages.py, tests/samples.py)
damaged by one to three mutations (scripts/mutate.py), given to
``ledger.verdict.Inspector.inspect`` exactly as the inbound milter gives it
(screen, parse, detectors, one ledger round trip to a private redis-server
holding the seeds' originals, decide). The input for index i depends only on
``--seed`` and i, so a run can be repeated, and any input rebuilt, exactly.
Inputs run in ``--processes`` worker processes; each input has a ``--hang``
second watchdog. Printed: inputs tried, exceptions (must be 0), hangs, answers
by action, the slowest input's time against the slowest unmutated seed's (the
baseline, timed in the same run), its sha256 and the file it is saved in.

    scripts/fuzz.py [--count 1000000] [--seed 1] [--processes 2] [--hang 10]
"""

from __future__ import annotations

import argparse
import hashlib
import inspect as pyinspect
import json
import multiprocessing
import os
import random
import secrets
import shlex
import shutil
import signal
import statistics
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from ledger.check import Envelope
from ledger.config import load_config
from ledger.record import SentMessage
from ledger.services import inspector_for, recorder_for
from ledger.verdict import Inspector
from scripts import mutate
from testbed import RedisServer

ROOT = Path(__file__).resolve().parent.parent
CHUNK = 500
MAX_EXAMPLES = 20


@dataclass(frozen=True)
class Seed:
    name: str
    raw: bytes
    mail_from: str
    rcpts: tuple[str, ...]


@dataclass
class Tally:
    """What a batch of inputs did."""

    tried: int = 0
    exceptions: list[tuple[int, str]] = field(default_factory=list)  # (index, "Type: message")
    exception_count: int = 0
    hangs: list[int] = field(default_factory=list)
    slowest: tuple[float, int] = (0.0, -1)  # (seconds, index)
    actions: Counter[str] = field(default_factory=Counter)

    def add(self, other: Tally) -> None:
        self.tried += other.tried
        self.exception_count += other.exception_count
        self.exceptions += other.exceptions[: MAX_EXAMPLES - len(self.exceptions)]
        self.hangs += other.hangs[: MAX_EXAMPLES - len(self.hangs)]
        self.slowest = max(self.slowest, other.slowest)
        self.actions.update(other.actions)


def load_seeds() -> tuple[list[Seed], list[SentMessage]]:
    """The seed messages and the originals to record (so mutated bounces can hit)."""
    from tests import messages, samples

    seeds: list[Seed] = []
    originals = [SentMessage(mail_from="alice@example.test", recipients=["bob@example.com"],
                             message_id="<orig-1@example.test>")]
    for path in sorted((ROOT / "tests" / "corpus").rglob("*.eml")):
        meta = json.loads(path.with_suffix(".json").read_text())
        seeds.append(Seed(path.stem, path.read_bytes(), meta["mail_from"], tuple(meta["rcpt"])))
        if meta.get("original"):
            o = meta["original"]
            originals.append(SentMessage(mail_from=o["mail_from"], recipients=list(o["recipients"]),
                                         message_id=o["message_id"], from_header=o["from"]))
    built = [("messages.dsn", messages.dsn(messages.original())),
             ("messages.dsn-headers", messages.dsn(messages.original(), headers_only=True)),
             ("messages.autoreply", messages.autoreply()), ("messages.mdn", messages.mdn()),
             ("messages.ordinary", messages.ordinary())]
    for name, func in sorted(vars(samples).items()):
        if (pyinspect.isfunction(func) and func.__module__ == samples.__name__ and not name.startswith("_")
                and all(p.default is not p.empty for p in pyinspect.signature(func).parameters.values())):
            raw = func()
            if isinstance(raw, bytes):
                built.append((f"samples.{name}", raw))
    seeds += [Seed(name, raw, "", ("alice@example.test",)) for name, raw in built]
    return seeds, originals


def make_input(seeds: list[Seed], seed: int, index: int) -> tuple[bytes, Envelope, str]:
    """Input ``index`` of run ``seed``: the message, its envelope, and how it was made."""
    rng = random.Random(f"{seed}:{index}")
    base = seeds[rng.randrange(len(seeds))]
    raw, names = mutate.mutate(base.raw, rng)
    mail_from = "" if rng.random() < 0.6 else base.mail_from
    return raw, Envelope(mail_from=mail_from, recipients=list(base.rcpts)), f"{base.name} + {'+'.join(names)}"


class Hang(BaseException):
    """Raised by the watchdog; a BaseException so no ``except Exception`` swallows it."""


def _on_alarm(signum: int, frame: Any) -> None:
    raise Hang()


_WORKER: dict[str, Any] = {}


def _init_worker(config: str, seeds: list[Seed], seed: int, hang: float) -> None:
    _WORKER.update(inspector=inspector_for(load_config(config)), seeds=seeds, seed=seed, hang=hang)
    signal.signal(signal.SIGALRM, _on_alarm)


def timed(inspector: Inspector, raw: bytes, envelope: Envelope, hang: float) -> tuple[float, str]:
    """Inspect one input: (seconds, action); raises what inspect raises, or Hang."""
    signal.setitimer(signal.ITIMER_REAL, hang)
    try:
        started = time.perf_counter()
        action = inspector.inspect(envelope, raw).action
        return time.perf_counter() - started, action
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)


def run_chunk(span: tuple[int, int]) -> Tally:
    inspector, seeds, seed, hang = (_WORKER[k] for k in ("inspector", "seeds", "seed", "hang"))
    tally = Tally()
    for index in range(*span):
        raw, envelope, _ = make_input(seeds, seed, index)
        tally.tried += 1
        try:
            seconds, action = timed(inspector, raw, envelope, hang)
        except Hang:
            tally.hangs.append(index)
            continue
        except Exception as exc:  # the finding: inspect must never raise
            tally.exception_count += 1
            if len(tally.exceptions) < MAX_EXAMPLES:
                tally.exceptions.append((index, f"{type(exc).__name__}: {str(exc)[:200]}"))
            continue
        tally.actions[action] += 1
        tally.slowest = max(tally.slowest, (seconds, index))
    return tally


def baseline(config: str, seeds: list[Seed], hang: float) -> list[float]:
    """Seconds per unmutated seed (best of 3), in this process."""
    inspector = inspector_for(load_config(config))
    signal.signal(signal.SIGALRM, _on_alarm)
    times = []
    for s in seeds:
        envelope = Envelope(mail_from=s.mail_from, recipients=list(s.rcpts))
        times.append(min(timed(inspector, s.raw, envelope, hang)[0] for _ in range(3)))
    return times


def fuzz(config: str, count: int, seed: int, processes: int, hang: float,
         progress: bool = False) -> tuple[Tally, list[Seed]]:
    """Run ``count`` inputs of run ``seed``; the tally and the seeds used."""
    seeds, originals = load_seeds()
    recorder = recorder_for(load_config(config))
    for sent in originals:
        recorder.record(sent)
    total = Tally()
    spans = [(start, min(start + CHUNK, count)) for start in range(0, count, CHUNK)]
    ctx = multiprocessing.get_context("fork")
    started, reported = time.monotonic(), 0
    with ctx.Pool(processes, _init_worker, (config, seeds, seed, hang)) as pool:
        for tally in pool.imap_unordered(run_chunk, spans):
            total.add(tally)
            if progress and total.tried - reported >= max(count // 10, CHUNK):
                reported = total.tried
                rate = total.tried / (time.monotonic() - started)
                print(f"  {total.tried:9d} inputs, {total.exception_count} exceptions, "
                      f"{rate:.0f}/s", flush=True)
    return total, seeds


def write_config(base: Path, redis_url: str) -> str:
    path = base / "sender-ledger.toml"
    path.write_text(f'[secret]\nvalue = "{secrets.token_hex(16)}"\n\n[redis]\nurl = "{redis_url}"\n')
    return str(path)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=1_000_000, help="inputs to try (default 1000000)")
    parser.add_argument("--seed", type=int, default=1, help="the run's seed (default 1)")
    parser.add_argument("--processes", type=int, default=os.cpu_count() or 1,
                        help="worker processes (default: one per core)")
    parser.add_argument("--hang", type=float, default=10.0, help="seconds before an input counts as hung")
    parser.add_argument("--save", help="where to save the slowest input (default: in the temp dir)")
    args = parser.parse_args()
    if not (1 <= args.count <= 100_000_000 and 1 <= args.processes <= 64 and 0 < args.hang <= 600):
        print("fuzz: --count 1..100000000, --processes 1..64, --hang 0..600", file=sys.stderr)
        return 2
    base = Path(tempfile.mkdtemp(prefix="fuzz-"))
    redis_server = RedisServer(base / "redis").start()
    try:
        config = write_config(base, redis_server.url)
        seeds, _ = load_seeds()
        seed_times = baseline(config, seeds, args.hang)
        began = time.monotonic()
        print(f"fuzz: {args.count} inputs from {len(seeds)} seeds, seed {args.seed}, "
              f"{args.processes} processes", flush=True)
        tally, seeds = fuzz(config, args.count, args.seed, args.processes, args.hang, progress=True)
        seconds = time.monotonic() - began
    finally:
        redis_server.stop()
        shutil.rmtree(base, ignore_errors=True)
    print(f"inputs tried: {tally.tried} in {seconds:.0f}s ({tally.tried / seconds:.0f}/s)")
    print(f"exceptions:   {tally.exception_count}")
    for index, text in tally.exceptions:
        print(f"  input {index} ({make_input(seeds, args.seed, index)[2]}): {text}")
    print(f"hangs (> {args.hang:g}s): {len(tally.hangs)} {tally.hangs}")
    print(f"answers:      {dict(sorted(tally.actions.items()))}")
    slow_s, slow_i = tally.slowest
    if slow_i >= 0:
        raw, envelope, how = make_input(seeds, args.seed, slow_i)
        path = Path(args.save or Path(tempfile.gettempdir()) / f"sender-ledger-fuzz-slowest-{args.seed}.eml")
        path.write_bytes(raw)
        print(f"baseline:     unmutated seeds median {statistics.median(seed_times) * 1e3:.2f} ms, "
              f"slowest {max(seed_times) * 1e3:.2f} ms")
        print(f"slowest:      {slow_s * 1e3:.1f} ms ({slow_s / max(seed_times):.1f}x the slowest seed), "
              f"input {slow_i} ({how}), {len(raw)} bytes, from=<{envelope.mail_from}>")
        print(f"              sha256 {hashlib.sha256(raw).hexdigest()}, saved in {path}")
    print(f"rerun: {shlex.join([sys.argv[0], *sys.argv[1:]])}")
    return 0 if tally.exception_count == 0 and not tally.hangs else 1


if __name__ == "__main__":
    sys.exit(main())
