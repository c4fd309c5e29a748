#!/usr/bin/env python3
"""Benchmark: classification + extraction over a corpus, against the stdlib parser alone.

For every ``*.eml`` under the corpus directory it measures, in the same run:

* baseline: ``email.message_from_bytes`` (compat32) - Python's own parser, parse only;
* check: what the inbound milter does with the message minus Redis - the
  header screen, and for a candidate the bounded parse, every detector and
  the extraction of references and original recipients
  (``Inspector.inspect`` up to the ledger lookup);
* screen: the header screen alone (the cost every ordinary message pays).

Each figure is the best of ``--repeat`` passes over the whole corpus, in CPU
time of this process (a shared, loaded machine steals wall-clock time, not
CPU time), and the passes of all figures are interleaved so that they meet
the same machine, each right after an untimed pass of the same work, with
Python's ``re`` cache emptied and garbage collected, and the collector off.
The ``re`` cache matters: the stdlib parser compiles one regex per MIME
boundary and the cache keeps 512, so passes over the same corpus would find
them compiled (or, past 512 distinct boundaries, thrash), while a milter
meets every message, and its boundary, once; the ratio check/baseline says how much more than a bare
parse the check costs.
"""

from __future__ import annotations

import argparse
import email
import email.policy
import gc
import json
import platform
import re
import sys
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run from a checkout without installing

from ledger.check import Envelope, examine, parse, screen
from ledger.check.message import Limits


def load(corpus: Path) -> list[tuple[bytes, Envelope]]:
    """Every message with its envelope (from the sidecar JSON, else the null sender)."""
    found: list[tuple[bytes, Envelope]] = []
    for path in sorted(corpus.rglob("*.eml")):
        sidecar = path.with_suffix(".json")
        mail_from, rcpts = "", ["user@example.test"]
        if sidecar.is_file():
            meta = json.loads(sidecar.read_text())
            mail_from, rcpts = meta.get("mail_from", ""), list(meta.get("rcpt", rcpts))
        found.append((path.read_bytes(), Envelope(mail_from=mail_from, recipients=rcpts)))
    return found


def headers_of(raw: bytes) -> list[tuple[str, str]]:
    """Unfolded header fields, as the MTA hands them to the milter (not timed separately)."""
    end = raw.find(b"\n\n")
    crlf = raw.find(b"\r\n\r\n")
    if crlf >= 0 and (end < 0 or crlf < end):
        end = crlf
    head = raw[: end if end >= 0 else len(raw)].decode("utf-8", "replace").replace("\r\n", "\n")
    fields: list[tuple[str, str]] = []
    for line in head.split("\n"):
        if line[:1] in (" ", "\t") and fields:
            name, value = fields[-1]
            fields[-1] = (name, value + "\n" + line)
        elif ":" in line:
            name, _, value = line.partition(":")
            fields.append((name, value.strip()))
    return fields


def interleaved(passes: int, works: dict[str, Callable[[], None]]) -> dict[str, float]:
    """The best CPU time of each work over ``passes`` rounds, one pass of every work per round."""
    times: dict[str, list[float]] = {name: [] for name in works}
    for _ in range(passes):
        for name, work in works.items():
            work()  # untimed: no timed pass pays for the memory the one before it left
            re.purge()  # a milter meets every message once: no boundary regex is cached yet
            gc.collect()  # nor for its garbage
            gc.disable()
            start = time.process_time()
            work()
            times[name].append(time.process_time() - start)
            gc.enable()
    return {name: min(found) for name, found in times.items()}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("corpus", nargs="?", default="tests/corpus",
                        help="corpus directory (default: %(default)s)")
    parser.add_argument("--repeat", type=int, default=5,
                        help="passes over the corpus; the best counts (default: %(default)s)")
    args = parser.parse_args()
    corpus = Path(args.corpus)
    if not corpus.is_dir():
        print(f"bench_detect.py: {corpus}: not a directory", file=sys.stderr)
        return 2
    messages = load(corpus)
    if not messages:
        print(f"bench_detect.py: {corpus}: no *.eml files", file=sys.stderr)
        return 2
    split = [(raw, env, headers_of(raw)) for raw, env in messages]
    limits = Limits()
    chosen = [(raw, env) for raw, env, head in split if screen(env.mail_from, head) is not None]
    candidates = len(chosen)

    def baseline() -> None:
        for raw, _, _ in split:
            email.message_from_bytes(raw, policy=email.policy.compat32)

    def check() -> None:
        for raw, env, head in split:
            if screen(env.mail_from, head) is not None:
                examine(parse(raw, env, limits=limits))

    def baseline_candidates() -> None:
        for raw, _ in chosen:
            email.message_from_bytes(raw, policy=email.policy.compat32)

    def check_candidates() -> None:
        for raw, env in chosen:
            examine(parse(raw, env, limits=limits))

    def screen_only() -> None:
        for _, env, head in split:
            screen(env.mail_from, head)

    check()  # warm up (regex compilation is at import, caches are not)
    works = {"base": baseline, "check": check, "screen": screen_only}
    if chosen:
        works.update({"base_c": baseline_candidates, "check_c": check_candidates})
    best = interleaved(args.repeat, works)
    t_base, t_check, t_screen = best["base"], best["check"], best["screen"]
    t_base_c, t_check_c = best.get("base_c", 0.0), best.get("check_c", 0.0)
    n = len(split)
    size = sum(len(raw) for raw, _, _ in split)
    print(f"corpus: {corpus} - {n} messages, {size / 1024:.0f} KiB, "
          f"{candidates} candidates by the header screen")
    print(f"python {platform.python_version()} on {platform.machine()}, "
          f"best of {args.repeat} interleaved passes, CPU time")
    for label, seconds in (("stdlib email parse only", t_base),
                           ("screen + parse + detect + extract", t_check),
                           ("header screen only", t_screen)):
        print(f"{label:<40} {n / seconds:>9.0f} msg/s  ({seconds * 1e6 / n:7.1f} us/msg)")
    print(f"ratio check / stdlib parse: {t_check / t_base:.2f}   "
          f"screen / stdlib parse: {t_screen / t_base:.3f}")
    if chosen:
        print(f"candidates only ({candidates}): parse + detect + extract "
              f"{t_check_c * 1e6 / candidates:.1f} us/msg, stdlib parse {t_base_c * 1e6 / candidates:.1f} "
              f"us/msg, ratio {t_check_c / t_base_c:.2f}")
    print(f"rerun: scripts/bench_detect.py {corpus} --repeat {args.repeat}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
