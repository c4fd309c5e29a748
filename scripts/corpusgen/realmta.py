"""Shared by the scripts that make DSNs with real MTAs (Postfix, Exim).

A remote MTA under our control is handed messages "from" our users addressed
to domains routed to smtp-sinks: FAIL refuses every recipient, OK accepts,
SLOW has no listener (delay warnings). The notices it sends to example.test
land in a capture sink; each becomes a corpus sample with the sidecar worked
out from the (seeded) original.
"""

from __future__ import annotations

import random
import shutil
import smtplib
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from ledger import msgid
from scripts.corpusgen import common as c

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
