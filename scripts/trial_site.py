"""A tag trial on the private test site, and the `sender-ledger report` it leads to.

Starts the whole private site (Redis, both milters, Postfix, smtp-sinks) with
``unmatched_action = "tag"``, then: alice sends mail through the submission
port and Postfix bounces some of it for real (its DSNs are handed to the MX
and accepted), forged DSNs with never-sent Message-IDs reach alice, carol
(who sends her mail another way) gets bounces of mail the ledger never saw,
one real DSN has lost its Message-ID (only the envelope check accepts it),
and ordinary mail passes. Then it runs ``sender-ledger report`` (text, and
``--html``) against the site's Redis and prints it, and stops everything.

    .venv/bin/python scripts/trial_site.py [--real N] [--forged N] [--elsewhere N] [--html FILE]
"""

from __future__ import annotations

import argparse
import re
import secrets
import shutil
import smtplib
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from testbed import PrivateSite  # noqa: E402
from testbed.demo import as_received, wait_for  # noqa: E402

ALICE, CAROL = "alice@example.test", "carol@example.test"


def submit(port: int, mail_from: str, rcpts: list[str], raw: bytes) -> int:
    """One SMTP transaction; the final reply code (250, or the refusal's)."""
    try:
        with smtplib.SMTP("127.0.0.1", port, timeout=60) as smtp:
            smtp.sendmail(mail_from, rcpts, raw)
    except smtplib.SMTPResponseException as exc:
        return int(exc.smtp_code)
    return 250


def message(mid: str, sender: str, to: str) -> bytes:
    return (f"From: {sender}\r\nTo: {to}\r\nSubject: trial\r\nMessage-ID: {mid}\r\n\r\nhello\r\n").encode()


def real_dsn(site: PrivateSite, n: int) -> tuple[str, bytes]:
    """alice writes to a recipient that fails; Postfix's own DSN for it."""
    mid = f"<trial-{n}-{uuid.uuid4().hex[:8]}@example.test>"
    failed = f"nobody{n}@fail.test"
    submit(site.postfix.submission_port, ALICE, [failed], message(mid, ALICE, failed))
    return mid, as_received(wait_for(site.capture, mid))


def run(args: argparse.Namespace, base: Path) -> str:
    site = PrivateSite(base, secrets.token_hex(16), config_extra='[inbound]\nunmatched_action = "tag"\n')
    site.start()
    answers: dict[str, list[int]] = {}
    try:
        mx = site.postfix.mx_port
        template = b""
        for n in range(args.real):
            mid, dsn = real_dsn(site, n)
            template = template or dsn.replace(mid.encode(), b"<MID>").replace(b"nobody0@fail.test",
                                                                              b"<FAILED>")
            answers.setdefault("real DSN", []).append(submit(mx, "", [ALICE], dsn))
        for n in range(args.forged):
            never = f"<never-sent-{n}-{uuid.uuid4().hex[:8]}@example.test>"
            forged = template.replace(b"<MID>", never.encode())
            forged = forged.replace(b"<FAILED>", f"stranger{n}@fail.test".encode())
            answers.setdefault("forged DSN", []).append(submit(mx, "", [ALICE], forged))
        for n in range(args.elsewhere):  # carol's mail leaves through another provider
            other = template.replace(b"<MID>", f"<webmail-{n}@provider.example>".encode())
            other = other.replace(b"<FAILED>", f"friend{n}@fail.test".encode()).replace(
                ALICE.encode(), CAROL.encode())
            answers.setdefault("bounce of mail sent another way", []).append(submit(mx, "", [CAROL], other))
        no_id = re.sub(rb"Message-ID: <MID>\r\n", b"", template, flags=re.IGNORECASE)
        no_id = no_id.replace(b"<FAILED>", b"nobody0@fail.test").replace(b"<MID>", b"")
        answers.setdefault("real DSN without the Message-ID", []).append(submit(mx, "", [ALICE], no_id))
        plain = (f"From: dave@example.com\r\nTo: {ALICE}\r\nSubject: lunch\r\n"
                 f"Message-ID: <{uuid.uuid4().hex}@example.com>\r\n\r\nFriday?\r\n").encode()
        answers.setdefault("ordinary mail", []).append(submit(mx, "dave@example.com", [ALICE], plain))
        time.sleep(1.0)  # the milters' bookkeepers write just after their answers
        for what, codes in answers.items():
            print(f"# {what}: {len(codes)} sent, SMTP answers {sorted(set(codes))}", file=sys.stderr)
        argv = [sys.executable, "-m", "ledger", "report", "--config", str(site.config)]
        if args.html:
            argv += ["--html", str(Path(args.html).resolve())]
        done = subprocess.run(argv, capture_output=True, text=True, cwd=ROOT, check=False, timeout=120)
        if done.returncode:
            raise RuntimeError(f"report failed: {done.stderr.strip()}")
        return done.stdout
    finally:
        site.stop()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--real", type=int, default=8, help="real DSNs of alice's mail (default 8)")
    parser.add_argument("--forged", type=int, default=6, help="forged DSNs to alice (default 6)")
    parser.add_argument("--elsewhere", type=int, default=5,
                        help="bounces to carol of mail she sent another way (default 5)")
    parser.add_argument("--html", metavar="FILE", help="also write the report's HTML page here")
    args = parser.parse_args()
    if args.real < 1:
        parser.error("--real: at least 1 (the forged bounces are made from a real one)")
    base = Path(tempfile.mkdtemp(prefix="sender-ledger-trial-"))
    base.chmod(0o755)
    try:
        print(run(args, base), end="")
    finally:
        shutil.rmtree(base, ignore_errors=True)
    print(f"# rerun: .venv/bin/python scripts/trial_site.py --real {args.real} --forged {args.forged} "
          f"--elsewhere {args.elsewhere}" + (f" --html {args.html}" if args.html else ""), file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
