"""A live demonstration of the whole flow on a private Redis and Postfix.

Run by ``scripts/demo``. It starts everything in a scratch directory, sends a
message out, lets Postfix bounce it for real, hands that DSN and a forged one
to the MX, prints every SMTP answer verbatim, and stops what it started.
"""

from __future__ import annotations

import os
import secrets
import shutil
import smtplib
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

from testbed import PrivateSite, SmtpSink

SITE_USER = "alice@example.test"


def say(text: str = "") -> None:
    print(text, flush=True)


def smtp_session(port: int, mail_from: str, rcpt: str, raw: bytes) -> tuple[int, str]:
    """One SMTP transaction, printing each command and reply; returns the final reply."""
    with smtplib.SMTP("127.0.0.1", port, timeout=30) as smtp:
        smtp.ehlo("client.example.net")
        for command, (code, text) in (
            (f"MAIL FROM:<{mail_from}>", smtp.mail(mail_from)),
            (f"RCPT TO:<{rcpt}>", smtp.rcpt(rcpt)),
        ):
            say(f"    C: {command}\n    S: {code} {text.decode()}")
            if code >= 400:
                return code, text.decode()
        code, text = smtp.data(raw)
        say(f"    C: DATA ... .\n    S: {code} {text.decode()}")
        return code, text.decode()


def wait_for(sink: SmtpSink, marker: str, timeout: float = 60) -> bytes:
    """The first message the sink holds that contains ``marker`` (the demo and trial_site wait so)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for path in sink.messages():
            data = path.read_bytes()
            if marker.encode() in data:
                return data
        time.sleep(0.1)
    raise RuntimeError(f"nothing containing {marker} arrived within {timeout:.0f}s")


def as_received(dump: bytes) -> bytes:
    """An smtp-sink dump without the envelope lines smtp-sink puts on top."""
    lines = dump.replace(b"\r\n", b"\n").split(b"\n")
    while lines and lines[0].split(b":")[0] in (
        b"X-Client-Addr", b"X-Client-Proto", b"X-Helo-Args", b"X-Mail-Args", b"X-Rcpt-Args"
    ):
        lines.pop(0)
    return b"\r\n".join(lines)


def header(raw: bytes, name: str) -> str:
    for line in raw.replace(b"\r\n", b"\n").split(b"\n"):
        if line.lower().startswith(name.lower().encode() + b":"):
            return line.decode(errors="replace")
        if not line:
            break
    return f"{name}: (none)"


def run_demo(base: Path) -> int:
    secret = secrets.token_hex(32)
    say(f"== Starting a private Redis, both milters, smtp-sinks and Postfix under {base}")
    site = PrivateSite(base, secret, reject_reply="550 5.1.1 <nobody@fail.test>: "
                       "Recipient address rejected: User unknown")
    site.start()
    try:
        postfix, capture, inbound, config = site.postfix, site.capture, site.inbound, site.config
        say(f"   Redis {site.redis.url}; submission 127.0.0.1:{postfix.submission_port} "
            f"(outbound milter); MX 127.0.0.1:{postfix.mx_port} (inbound milter)")

        mid = f"<demo-{uuid.uuid4().hex[:12]}@example.test>"
        say(f"\n== 1. {SITE_USER} sends a message {mid} to nobody@fail.test (submission port)")
        smtp_session(postfix.submission_port, SITE_USER, "nobody@fail.test",
                     (f"From: Alice <{SITE_USER}>\r\nTo: nobody@fail.test\r\nSubject: Figures\r\n"
                      f"Message-ID: {mid}\r\n\r\nHello.\r\n").encode())
        lookup = subprocess.run([sys.executable, "-m", "ledger", "lookup", mid, "--sender", SITE_USER,
                                 "--config", str(config)], capture_output=True, text=True)
        say(f"   $ sender-ledger lookup '{mid}' --sender {SITE_USER}\n   {lookup.stdout.strip()}")

        say("\n== 2. fail.test refuses the recipient; Postfix's bounce daemon writes a real DSN")
        dsn = as_received(wait_for(capture, mid))
        for name in ("From", "Subject", "Content-Type", "Message-Id"):
            say(f"   {header(dsn, name)}")

        say("\n== 3. The real DSN arrives at the MX with MAIL FROM:<>")
        code, _ = smtp_session(postfix.mx_port, "", SITE_USER, dsn)
        delivered = wait_for(capture, "X-Sender-Ledger: pass")
        say(f"   delivered with: {header(delivered, 'X-Sender-Ledger')}")

        forged_id = f"<{uuid.uuid4().hex[:16]}@example.test>"
        victim = "victim@elsewhere.example"
        say(f"\n== 4. A forged DSN arrives: spam sent in {SITE_USER}'s name to {victim} bounced.\n"
            f"   It quotes {forged_id}, which {SITE_USER} never sent, to someone never written to")
        forged = dsn.replace(mid.encode(), forged_id.encode()).replace(b"nobody@fail.test", victim.encode())
        forged_code, forged_reply = smtp_session(postfix.mx_port, "", SITE_USER, forged)

        say("\n== 5. The inbound milter's decision log (its log file)")
        for line in inbound.log_text().splitlines():
            if " decision " in line and "kind=-" not in line:
                say(f"   {line.split(' INFO ', 1)[-1]}")
        for command in (["log"], ["stats", "--days", "1"]):
            say(f"\n   $ sender-ledger {' '.join(command)}")
            out = subprocess.run([sys.executable, "-m", "ledger", *command, "--config", str(config)],
                                 capture_output=True, text=True)
            for line in (out.stdout + out.stderr).strip().splitlines():
                say(f"   {line}")

        ok = code == 250 and forged_code == 550
        say(f"\n== Result: real DSN {'accepted (250)' if code == 250 else f'NOT accepted ({code})'}; "
            f"forged DSN {'refused during SMTP' if forged_code == 550 else 'NOT refused'}: "
            f"{forged_code} {forged_reply}")
        return 0 if ok else 1
    finally:
        say("\n== Stopping everything the demo started")
        site.stop()


def main() -> int:
    if os.geteuid() != 0:
        print("demo: run as root (Postfix needs it)", file=sys.stderr)
        return 1
    base = Path(tempfile.mkdtemp(prefix="sender-ledger-demo-"))
    os.chmod(base, 0o755)  # smtpd runs as postfix and must reach the milter sockets
    try:
        status = run_demo(base)
    except Exception as exc:  # say what failed in one line, and keep the logs to look at
        print(f"demo failed: {exc}\n(logs kept in {base})", file=sys.stderr)
        return 1
    if "--keep" in sys.argv:
        print(f"(files kept in {base})")
    else:
        shutil.rmtree(base, ignore_errors=True)
    return status


if __name__ == "__main__":
    sys.exit(main())
