"""Shared by the modules that make notices with real MTAs (Postfix, Exim, OpenSMTPD, Sendmail).

A remote MTA under our control is handed messages "from" our users addressed
to domains routed to smtp-sinks: FAIL refuses every recipient, OK accepts,
SLOW has no listener (delay warnings). The notices it sends to example.test
land in a capture sink; each becomes a corpus sample with the sidecar worked
out from the (seeded) original.
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import smtplib
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from ledger import msgid
from testbed import SmtpSink, free_port
from testbed.procs import port_open, stop_process, wait_for
from tests.corpus.generate import CORPUS, rerun
from tests.corpus.generate import common as c

FAIL, OK, SLOW = "example.com", "example.org", "slow.example"
FAIL_REPLY = "550 5.1.1 <unknown>: Recipient address rejected: User unknown in local recipient table"


@dataclass
class Job:
    """One submission and the folder its notice goes to."""

    folder: str
    original: c.Original
    mail_options: list[str]
    rcpt_options: list[str]
    raw: bytes


def original_bytes(o: c.Original, cte: str, eight_bit: bool) -> bytes:
    text = o.headers(fold_id=random.Random(o.message_id).random() < 0.3, received=False)
    text = text.replace(f"Content-Transfer-Encoding: {o.body_cte}", f"Content-Transfer-Encoding: {cte}")
    body = c.encode(o.body, cte)
    return (text + "\n" + body).replace("\n", "\r\n").encode("utf-8" if eight_bit else "ascii", "replace")


def jobs(
    prefix: str, seed_name: str, success: bool = True, delays: bool = True, label: str = "dsn"
) -> list[Job]:
    """The same mix for every MTA: RET=FULL/HDRS, ENVID, several recipients, 8-bit, delays."""
    rng = c.rng_for(seed_name)
    out: list[Job] = []

    def add(
        folder: str,
        nfail: int = 1,
        nok: int = 0,
        nslow: int = 0,
        mail_opts: list[str] | None = None,
        rcpt_opts: list[str] | None = None,
        cte: str = "7bit",
        lang: str | None = None,
    ) -> None:
        o = c.make_original(rng, lang=lang)
        rcpts = [f"{rng.choice(c.WORLD_FIRST)}{i}@{FAIL}" for i in range(nfail)]
        rcpts += [f"{rng.choice(c.WORLD_FIRST)}{i}@{OK}" for i in range(nok)]
        rcpts += [f"{rng.choice(c.WORLD_FIRST)}{i}@{SLOW}" for i in range(nslow)]
        o.recipients, o.recipient_names = rcpts, [""] * len(rcpts)
        raw = original_bytes(o, cte, cte == "8bit")
        out.append(Job(f"{prefix}-{folder.replace('dsn', label)}", o, mail_opts or [], rcpt_opts or [], raw))

    for i in range(8):
        add(
            "dsn",
            cte=["7bit", "quoted-printable", "base64", "8bit"][i % 4],
            lang=["en", "de", "fr", "ja"][i % 4],
            mail_opts=["BODY=8BITMIME"] if i % 4 == 3 else [],
        )
    for i in range(3):
        add("dsn", nfail=2 + i % 2)
    add("dsn", nfail=1, nok=2)
    for i in range(6):
        opts = ["RET=HDRS"] + ([f"ENVID={c.token(rng, 12)}"] if i % 2 == 0 else [])
        add("dsn-hdrs", mail_opts=opts, cte=["7bit", "base64", "quoted-printable"][i % 3])
    for _ in range(2):
        add(
            "dsn-full-envid",
            mail_opts=["RET=FULL", f"ENVID=QQ{c.token(rng, 10)}"],
            rcpt_opts=["NOTIFY=FAILURE,DELAY"],
        )
    if success:
        for i in range(3):
            add("dsn-success", nfail=0, nok=1 + i % 2, mail_opts=["RET=HDRS"], rcpt_opts=["NOTIFY=SUCCESS"])
    for i in range(4 if delays else 0):
        add("dsn-delay", nfail=0, nslow=1, rcpt_opts=["NOTIFY=DELAY,FAILURE"] if i % 2 else [])
    return out


def submit(port: int) -> Callable[[Job], None]:
    """Send jobs over SMTP to the MTA on ``port`` (with their ESMTP options)."""

    def send(job: Job) -> None:
        with smtplib.SMTP("127.0.0.1", port, timeout=30) as smtp:
            smtp.ehlo("mail.example.test")
            o = job.original
            smtp.sendmail(o.sender, o.recipients, job.raw, job.mail_options, job.rcpt_options)

    return send


def split_dump(data: bytes) -> tuple[str, list[str], bytes]:
    """smtp-sink's dump: X-Mail-Args/X-Rcpt-Args lines, then the message as received."""
    mail_from, rcpts, offset = "", [], 0
    for line in data.splitlines(keepends=True):
        text = line.decode("ascii", "replace").strip()
        if text.startswith("X-Mail-Args:"):
            mail_from = text.split(":", 1)[1].split()[0].strip("<>") if ":" in text else ""
        elif text.startswith("X-Rcpt-Args:"):
            rcpts.append(text.split(":", 1)[1].split()[0].strip("<>"))
        elif not text.startswith(("X-Client-", "X-Helo-Args:")):
            break
        offset += len(line)
    return mail_from, rcpts, data[offset:]


def _header(raw: bytes, name: bytes) -> str | None:
    for line in raw.split(b"\n\n", 1)[0].replace(b"\r", b"").split(b"\n"):
        if line.lower().startswith(name.lower() + b":"):
            return line.split(b":", 1)[1].decode("ascii", "replace")
    return None


class Writer:
    """Writes each captured notice with its sidecar, numbering per folder."""

    def __init__(self, root: Path, generated_by: str, kind: str = "dsn") -> None:
        self.root, self.generated_by, self.kind = root, generated_by, kind
        self.counters: dict[str, int] = {}

    def write(self, job: Job, data: bytes) -> None:
        mail_from, rcpts, raw = split_dump(data)
        own = msgid.normalise(_header(raw, b"Message-Id"))
        o = job.original
        stated = [r for r in o.recipients if not r.endswith("@" + OK)]
        if job.folder.endswith("dsn-success"):
            stated = list(o.recipients)
        meta = c.sidecar(
            fmt=job.folder,
            generated_by=self.generated_by,
            mail_from=mail_from,
            rcpt=rcpts,
            kind=self.kind,
            references=[o.norm_id],
            must_not=([own] if own else []) + o.own_ids(),
            rcpts_of_original=stated,
            original=o,
        )
        meta["submission"] = {"mail_options": job.mail_options, "rcpt_options": job.rcpt_options}
        self.counters[job.folder] = self.counters.get(job.folder, 0) + 1
        name = f"{job.folder}-{self.counters[job.folder]:02d}"
        directory = self.root / "backscatter" / job.folder
        if self.counters[job.folder] == 1 and directory.exists():
            shutil.rmtree(directory)
        c.Sample("backscatter", job.folder, name, "", meta).write(self.root)
        (directory / f"{name}.eml").write_bytes(raw)


Sender = Callable[[Job], None]


class Capture(Protocol):
    def messages(self) -> list[Path]: ...


def run_jobs(
    todo: list[Job],
    send: Callable[[Job], None],
    capture: Capture,
    writer: Writer,
    after_submit: Callable[[Job], None],
    reset: Callable[[], None],
) -> int:
    """Submit each job, wait for the notice that quotes its original, write that one."""
    written = 0
    for job in todo:
        send(job)
        after_submit(job)
        wanted = job.original.message_id.lower().encode()
        deadline = time.monotonic() + 30
        found: Path | None = None
        while found is None and time.monotonic() < deadline:
            found = next((d for d in capture.messages() if wanted in d.read_bytes().lower()), None)
            time.sleep(0.2)
        if found is not None:
            writer.write(job, found.read_bytes())
            written += 1
        else:
            print(f"warning: no notice for {job.folder} {job.original.message_id}", file=sys.stderr)
        reset()
        for dump in capture.messages():
            dump.unlink()
    return written


def corpus_args(doc: str, argv: list[str] | None, needs: Iterable[str], error: str) -> str | None:
    """The one option, ``--out``; None (after saying why) unless root with ``needs`` on PATH."""
    parser = argparse.ArgumentParser(description=doc.splitlines()[0])
    parser.add_argument("--out", default=str(CORPUS))
    out: str = parser.parse_args(argv).out
    if os.geteuid() != 0 or any(shutil.which(program) is None for program in needs):
        print(f"error: {error}", file=sys.stderr)
        return None
    return out


def unpack_debs(packages: Iterable[str], workdir: Path, root: Path) -> None:
    """Fetch Debian packages into ``workdir`` and unpack them below ``root``, installing nothing
    (the other MTAs conflict with the Postfix the machine runs)."""
    for name in packages:
        subprocess.run(
            ["apt-get", "download", "-q", name],
            cwd=workdir,
            check=True,
            capture_output=True,
            timeout=300,
        )
    for deb in sorted(workdir.glob("*.deb")):
        subprocess.run(["dpkg", "-x", str(deb), str(root)], check=True, timeout=120)


class Daemon:
    """An unpacked MTA daemon on a loopback ``port``, routing by ``ports`` (:attr:`Site.ports`)
    and stopped by its pid."""

    def __init__(self, base: Path, port: int, ports: dict[str, int]) -> None:
        self.base, self.port, self.ports = base, port, ports
        self.proc: subprocess.Popen[bytes] | None = None

    def spawn(self, argv: list[str], log: Path, what: str) -> None:
        """Start it in the foreground, output to ``log``; back once it listens."""
        with open(log, "ab") as out:
            self.proc = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        wait_for(lambda: port_open(self.port), 20, what)

    def stop(self) -> None:
        # Longer than a sink gets: it may be in the middle of a delivery.
        stop_process(self.proc, timeout=10)


class Mta(Protocol):
    """What the site needs of a private MTA: started after the sinks, stopped before them."""

    def start(self) -> None: ...

    def stop(self) -> None: ...


class Site:
    """The world the private MTA delivers to: a sink per routed domain (SLOW: a port nobody
    listens on) in a scratch directory. ``ports`` feeds the MTAs' config templates."""

    def __init__(self, base: Path) -> None:
        self.base = base
        self.fail = SmtpSink(base, free_port(), "fail", reject_rcpt=FAIL_REPLY)
        self.ok = SmtpSink(base, free_port(), "ok")
        self.capture = SmtpSink(base, free_port(), "capture", dump=True)
        self.slow_port = free_port()
        self._stops: list[Callable[[], None]] = []

    @property
    def sinks(self) -> list[SmtpSink]:
        return [self.fail, self.ok, self.capture]

    @property
    def ports(self) -> dict[str, int]:
        return {
            "fail_port": self.fail.port,
            "ok_port": self.ok.port,
            "slow_port": self.slow_port,
            "capture_port": self.capture.port,
        }

    def start(self, mta: Mta) -> None:
        """Start the sinks, then the MTA; whatever was started is stopped when the site closes."""
        for sink in self.sinks:
            self._stops.append(sink.stop)
            sink.start()
        self._stops.append(mta.stop)
        mta.start()

    def close(self) -> None:
        """The MTA first (it may still be delivering), then the sinks, then the scratch directory."""
        while self._stops:
            self._stops.pop()()
        shutil.rmtree(self.base, ignore_errors=True)


@contextmanager
def scratch_site(prefix: str) -> Iterator[Site]:
    """A :class:`Site` in a new scratch directory (world-readable: the MTAs drop privileges),
    torn down however the run ends."""
    base = Path(tempfile.mkdtemp(prefix=prefix))
    os.chmod(base, 0o755)
    site = Site(base)
    try:
        yield site
    finally:
        site.close()


def report(written: int, what: str, out: str, folders: str, family: str) -> int:
    """The closing lines of a real-MTA run: what was written where, and how to do it again."""
    print(f"wrote {written} {what} under {out}/backscatter/{folders}")
    print(rerun(family, out))
    return 0
