#!/usr/bin/env python3
"""Make real Postfix DSNs for tests/corpus/backscatter/postfix-*/ (run as root).

    .venv/bin/python scripts/make_corpus_postfix.py [--out tests/corpus]

A private Postfix (own config, queue and log under a scratch directory, loopback
only) plays a remote site, mx1.example.net. Messages "from" our users are
submitted to it over SMTP, addressed to domains routed to smtp-sinks that refuse
every recipient (example.com), accept (example.org) or are not listening at all
(slow.example, for delay warnings). Postfix's bounce daemon then sends real DSNs
to example.test, routed to a capture sink that keeps each as a file. Variations:
RET=FULL and RET=HDRS, ENVID, NOTIFY=SUCCESS, several recipients, partial
failure, 8-bit and base64 originals, folded Message-ID, delay warnings.

Dates and queue IDs come from the real run, so a rerun gives new files of the
same shape (the originals and expectations are seeded and stay the same).
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
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from ledger import msgid
from ledger.testbed import SmtpSink, free_port
from ledger.testbed.procs import port_open, wait_for
from scripts.corpusgen import common as c

HOST = "mx1.example.net"
FAIL, OK, SLOW = "example.com", "example.org", "slow.example"


@dataclass
class Job:
    """One submission and the folder its DSN goes to."""

    folder: str
    original: c.Original
    mail_options: list[str]
    rcpt_options: list[str]
    raw: bytes
    expect_dsns: int = 1


def postfix_version() -> str:
    out = subprocess.run(["postconf", "-d", "-h", "mail_version"], capture_output=True, text=True, check=True)
    return out.stdout.strip()


class RemotePostfix:
    """The private Postfix that makes the DSNs (not the project's testbed: no milters here)."""

    def __init__(self, base: Path, port: int, fail_port: int, ok_port: int, capture_port: int) -> None:
        self.dir, self.etc, self.port = base, base / "etc", port
        self.routes = (
            f"{FAIL}=smtp:[127.0.0.1]:{fail_port}, {OK}=smtp:[127.0.0.1]:{ok_port}, "
            f"{c.SITE}=smtp:[127.0.0.1]:{capture_port}, {SLOW}=smtp:[127.0.0.1]:{free_port()}"
        )

    def _postconf(self, *args: str) -> None:
        subprocess.run(["postconf", "-c", str(self.etc), *args], check=True, capture_output=True)

    def start(self) -> None:
        (self.dir / "data").mkdir(parents=True)
        (self.dir / "queue").mkdir()
        self.etc.mkdir()
        shutil.chown(self.dir / "data", "postfix")
        (self.etc / "main.cf").write_text("")
        shutil.copy("/etc/postfix/master.cf", self.etc / "master.cf")
        self._postconf(
            "-e",
            f"queue_directory={self.dir}/queue",
            f"data_directory={self.dir}/data",
            f"maillog_file={self.dir}/maillog",
            f"maillog_file_prefixes={self.dir}",
            f"myhostname={HOST}",
            "mydomain=example.net",
            "myorigin=example.net",
            "mydestination=",
            "local_recipient_maps=",
            "inet_interfaces=127.0.0.1",
            "inet_protocols=ipv4",
            "mynetworks=127.0.0.0/8",
            "smtpd_relay_restrictions=permit_mynetworks, reject_unauth_destination",
            f"transport_maps=inline:{{ {self.routes} }}",
            "default_transport=error:no route",
            "smtp_dns_support_level=disabled",
            "alias_maps=",
            "alias_database=",
            "compatibility_level=3.6",
            "in_flow_delay=0",
            "delay_warning_time=2s",
            "queue_run_delay=2s",
            "minimal_backoff_time=2s",
            "maximal_backoff_time=4s",
            "smtp_connect_timeout=2s",
            "bounce_queue_lifetime=1h",
            "maximal_queue_lifetime=1h",
            "smtputf8_enable=no",
            "smtp_discard_ehlo_keywords=dsn",
        )
        self._postconf("-F", "*/*/chroot = n")
        self._postconf("-MX", "smtp/inet")
        self._postconf("-M", f"127.0.0.1:{self.port}/inet=127.0.0.1:{self.port} inet n - n - - smtpd")
        subprocess.run(["postfix", "-c", str(self.etc), "check"], check=True, capture_output=True)
        subprocess.run(["postfix", "-c", str(self.etc), "start"], check=True, capture_output=True)
        wait_for(lambda: port_open(self.port), 20, "private postfix")

    def stop(self) -> None:
        subprocess.run(["postfix", "-c", str(self.etc), "stop"], capture_output=True, timeout=60)
        subprocess.run(["postsuper", "-c", str(self.etc), "-d", "ALL"], capture_output=True, timeout=60)


def original_bytes(o: c.Original, cte: str, eight_bit: bool) -> bytes:
    text = o.headers(fold_id=random.Random(o.message_id).random() < 0.3, received=False)
    text = text.replace(f"Content-Transfer-Encoding: {o.body_cte}", f"Content-Transfer-Encoding: {cte}")
    body = c.encode(o.body, cte)
    return (text + "\n" + body).replace("\n", "\r\n").encode("utf-8" if eight_bit else "ascii", "replace")


def jobs() -> list[Job]:
    rng = c.rng_for("postfix-real")
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
        eight = cte == "8bit"
        out.append(Job(folder, o, mail_opts or [], rcpt_opts or [], original_bytes(o, cte, eight)))

    for i in range(8):
        add(
            "postfix-dsn",
            cte=["7bit", "quoted-printable", "base64", "8bit"][i % 4],
            lang=["en", "de", "fr", "ja"][i % 4],
            mail_opts=["BODY=8BITMIME"] if i % 4 == 3 else [],
        )
    for i in range(3):
        add("postfix-dsn", nfail=2 + i % 2)
    add("postfix-dsn", nfail=1, nok=2)
    for i in range(6):
        opts = ["RET=HDRS"] + ([f"ENVID={c.token(rng, 12)}"] if i % 2 == 0 else [])
        add("postfix-dsn-hdrs", mail_opts=opts, cte=["7bit", "base64", "quoted-printable"][i % 3])
    for _ in range(2):
        add(
            "postfix-dsn-full-envid",
            mail_opts=["RET=FULL", f"ENVID=QQ{c.token(rng, 10)}"],
            rcpt_opts=["NOTIFY=FAILURE,DELAY"],
        )
    for i in range(3):
        add(
            "postfix-dsn-success",
            nfail=0,
            nok=1 + i % 2,
            mail_opts=["RET=HDRS"],
            rcpt_opts=["NOTIFY=SUCCESS"],
        )
    for i in range(4):
        add("postfix-dsn-delay", nfail=0, nslow=1, rcpt_opts=["NOTIFY=DELAY,FAILURE"] if i % 2 else [])
    return out


def submit(port: int, job: Job) -> None:
    with smtplib.SMTP("127.0.0.1", port, timeout=30) as smtp:
        smtp.ehlo("mail.example.test")
        smtp.sendmail(
            job.original.sender, job.original.recipients, job.raw, job.mail_options, job.rcpt_options
        )


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


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=str(Path(__file__).resolve().parent.parent / "tests" / "corpus"))
    args = parser.parse_args(argv)
    if os.geteuid() != 0 or shutil.which("postfix") is None:
        print("error: needs root and an installed postfix", file=sys.stderr)
        return 2
    version = postfix_version()
    base = Path(tempfile.mkdtemp(prefix="corpus-postfix-"))
    os.chmod(base, 0o755)
    sinks = [
        SmtpSink(
            base,
            free_port(),
            "fail",
            reject_rcpt="550 5.1.1 <unknown>: Recipient address rejected: "
            "User unknown in local recipient table",
        ),
        SmtpSink(base, free_port(), "ok", dump=False),
        SmtpSink(base, free_port(), "capture", dump=True),
    ]
    remote = RemotePostfix(base / "postfix", free_port(), sinks[0].port, sinks[1].port, sinks[2].port)
    written = 0
    try:
        for sink in sinks:
            sink.start()
        remote.start()
        todo = jobs()
        for job in todo:
            submit(remote.port, job)
            deadline = time.monotonic() + 30
            while len(sinks[2].messages()) < 1 and time.monotonic() < deadline:
                time.sleep(0.2)
            time.sleep(0.5)
            dumps = sinks[2].messages()
            if not dumps:
                print(f"warning: no DSN for {job.folder} {job.original.message_id}", file=sys.stderr)
                continue
            for dump in dumps[:1]:
                written += write(Path(args.out), job, dump.read_bytes(), version)
            for dump in dumps:
                dump.unlink()
            subprocess.run(["postsuper", "-c", str(remote.etc), "-d", "ALL"], capture_output=True, timeout=60)
    finally:
        remote.stop()
        for sink in reversed(sinks):
            sink.stop()
        shutil.rmtree(base, ignore_errors=True)
    print(f"wrote {written} real Postfix {version} DSNs under {args.out}/backscatter/postfix-*")
    print(f"rerun: {sys.argv[0]} --out {args.out}")
    return 0


COUNTERS: dict[str, int] = {}


def write(root: Path, job: Job, data: bytes, version: str) -> int:
    mail_from, rcpts, raw = split_dump(data)
    parsed = msgid.normalise(_header(raw, b"Message-Id"))
    failed = [r for r in job.original.recipients if not r.endswith("@" + OK)]
    if job.folder == "postfix-dsn-success":
        failed = [r for r in job.original.recipients]
    o = job.original
    meta = c.sidecar(
        fmt=job.folder,
        generated_by=f"real software: Postfix {version}",
        mail_from=mail_from,
        rcpt=rcpts,
        kind="dsn",
        references=[o.norm_id],
        must_not=([parsed] if parsed else []) + o.own_ids(),
        rcpts_of_original=failed,
        original=o,
    )
    meta["submission"] = {"mail_options": job.mail_options, "rcpt_options": job.rcpt_options}
    COUNTERS[job.folder] = COUNTERS.get(job.folder, 0) + 1
    name = f"{job.folder}-{COUNTERS[job.folder]:02d}"
    directory = root / "backscatter" / job.folder
    if COUNTERS[job.folder] == 1 and directory.exists():
        shutil.rmtree(directory)
    sample = c.Sample("backscatter", job.folder, name, "", meta)
    sample.write(root)
    (directory / f"{name}.eml").write_bytes(raw)
    return 1


def _header(raw: bytes, name: bytes) -> str | None:
    for line in raw.split(b"\n\n", 1)[0].replace(b"\r", b"").split(b"\n"):
        if line.lower().startswith(name.lower() + b":"):
            return line.split(b":", 1)[1].decode("ascii", "replace")
    return None


if __name__ == "__main__":
    raise SystemExit(main())
