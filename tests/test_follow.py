"""follow: live Postfix logs -> ledger entries, across rotation, SIGKILL and restarts, and the journal.

The end-to-end test reads the maillog a real private Postfix writes (mail sent through its
milter-less ``postfix/plain`` listener, so only the follower records it); the rest write log
lines themselves to a file or pipe them as ``journalctl -o json`` entries.
"""

from __future__ import annotations

import json
import os
import signal
import smtplib
import subprocess
import sys
import time
from collections.abc import Iterator
from email.message import EmailMessage
from pathlib import Path

import pytest
import redis

from ledger import msgid
from ledger.config import load_config
from ledger.days import today
from ledger.hashing import MESSAGE, PAIR, Hasher
from ledger.observe import counters
from ledger.ops import follow_state
from ledger.ops import postfix_log as plog
from ledger.ops.assemble import Assembler, Ready, Tally
from ledger.ops.tail import FileTail
from ledger.redis_client import connect
from ledger.services import hasher_for
from ledger.store import Ledger
from testbed import PrivateSite
from testbed.procs import RedisServer, wait_for
from tests.conftest import SECRET
from tests.test_backfill import message_lines

PLAIN = "postfix/plain/smtpd"


def follower(config: Path, state: Path, *args: str, stdin: int | None = None) -> subprocess.Popen[bytes]:
    """The follower as a process of its own (so that it can be SIGKILLed); stderr in state.log."""
    with open(state.with_suffix(".log"), "ab") as stderr:
        return subprocess.Popen(
            [sys.executable, "-m", "ledger", "follow", "--config", str(config), "--state", str(state),
             "--status-every", "1", *args],
            stdin=stdin, stdout=subprocess.DEVNULL, stderr=stderr,
            cwd=Path(__file__).resolve().parent.parent)


def stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)


def recorded_today(client: redis.Redis, namespace: str = "sl") -> int:
    return counters.read_days(client, namespace, [today()])[0].get(counters.RECORDED)


def in_ledger(ledger: Ledger, hasher: Hasher, mid: str, sender: str) -> bool:
    normalised = msgid.normalise(mid)
    assert normalised is not None
    entry = hasher.message(normalised, sender)
    return entry in ledger.find([entry])


# -- end to end: a real Postfix writes the log ---------------------------------------------------

@pytest.fixture(scope="module")
def site(scratch: Path) -> Iterator[PrivateSite]:
    base = scratch / "follow-site"
    base.mkdir()
    os.chmod(base, 0o755)
    started = PrivateSite(base, SECRET, baseline_listener=True).start()
    yield started
    started.stop()


def send_plain(site: PrivateSite, mid: str, sender: str, rcpt: str) -> float:
    message = EmailMessage()
    message["From"], message["To"], message["Subject"] = sender, rcpt, "follow test"
    message["Message-ID"] = mid
    message.set_content("sent through the listener without a milter\n")
    assert site.postfix.plain_port is not None
    with smtplib.SMTP("127.0.0.1", site.postfix.plain_port, timeout=30) as smtp:
        smtp.send_message(message, sender, [rcpt])
    return time.monotonic()


def test_follow_a_real_postfix_log_across_logrotate_and_sigkill(site: PrivateSite, tmp_path: Path) -> None:
    cfg = load_config(str(site.config))
    client = connect(cfg.redis.url)
    client.flushall()
    ledger = Ledger(client)
    hasher = hasher_for(cfg)
    state = tmp_path / "follow.state"
    maillog = site.postfix.maillog
    args = ("--service", PLAIN, "--from-start", str(maillog))
    sender = "alice@example.test"
    proc = follower(site.config, state, *args)
    latencies: list[float] = []
    try:
        def sent_and_seen(mid: str) -> None:
            sent = send_plain(site, mid, sender, "bob@elsewhere.test")
            wait_for(lambda: in_ledger(ledger, hasher, mid, sender), 30, f"{mid} recorded")
            latencies.append(time.monotonic() - sent)

        sent_and_seen("<first.follow@example.test>")
        # The milter listener's mail is not the follower's: only postfix/plain/smtpd counts.
        assert recorded_today(client) == 1

        # Postfix rotates its own maillog: rename, then postlogd reopens the path.
        subprocess.run(["postfix", "-c", str(site.postfix.etc), "logrotate"], check=True,
                       capture_output=True, timeout=60)
        rotated = [p for p in maillog.parent.iterdir() if p.name.startswith("maillog.")]
        assert rotated, "postfix logrotate did not rotate"
        sent_and_seen("<after.rotation@example.test>")  # postlogd makes the new file for it
        assert "after.rotation" not in b"".join(
            p.read_bytes() for p in rotated if p.suffix != ".gz").decode(errors="replace")

        # SIGKILL: no goodbye, no last state write. Mail sent while it is down...
        wait_for(lambda: state.exists(), 10, "a state file")
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
        down = "<while.down@example.test>"
        send_plain(site, down, sender, "carol@elsewhere.test")
        wait_for(lambda: "status=sent" in maillog.read_text(errors="replace").split(down)[-1], 30,
                 "the message delivered while the follower is down")
        # ... is recorded after the restart, and nothing is counted twice.
        proc = follower(site.config, state, *args)
        wait_for(lambda: in_ledger(ledger, hasher, down, sender), 30, "mail of the outage recorded")
        sent_and_seen("<after.restart@example.test>")
        assert recorded_today(client) == 4
        assert all(in_ledger(ledger, hasher, m, sender) for m in (
            "<first.follow@example.test>", "<after.rotation@example.test>"))
    finally:
        stop(proc)
        client.close()
    saved = json.loads(state.read_text())
    assert str(maillog) in saved["files"]
    assert "example.test" not in state.read_text()  # positions only, no address, no Message-ID
    print(f"\nfollow latency, SMTP end to ledger entry: {', '.join(f'{s:.2f} s' for s in latencies)}")
    assert max(latencies) < 10


# -- a log written here: restart replays, counter does not double -----------------------------

def write_lines(path: Path, lines: list[str]) -> None:
    with open(path, "a") as fh:
        fh.write("".join(line + "\n" for line in lines))


def test_restart_before_a_checkpoint_replays_without_counting_twice(
        config_file: Path, redis_client: redis.Redis, ledger: Ledger, hasher: Hasher,
        tmp_path: Path) -> None:
    log = tmp_path / "mail.log"
    stamp = time.strftime("%b %e %H:%M:%S")
    state = tmp_path / "state"
    # Half a message first, then a whole one: the saved position must stay at the first line of
    # the unfinished one, so that after a restart the whole one is read (and recorded) again.
    write_lines(log, message_lines("B1B2C3D4E5", PLAIN, "<two@example.test>", None, [],
                                   stamp=stamp, removed=False))
    write_lines(log, message_lines("A1B2C3D4E5", PLAIN, "<one@example.test>", "a@example.test",
                                   ["x@y.test"], stamp=stamp))
    proc = follower(config_file, state, "--service", PLAIN, "--from-start", str(log))
    try:
        wait_for(lambda: in_ledger(ledger, hasher, "<one@example.test>", "a@example.test"), 20, "one")
        wait_for(lambda: state.exists() and follow_state.load(str(state)).files, 20, "a checkpoint")
        time.sleep(1.5)  # the checkpoint after the last line
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
    finally:
        stop(proc)
    saved = follow_state.load(str(state)).files[str(log)]
    # The checkpoint points at the first line of the unfinished message, not at the end.
    assert saved.offset == 0 and log.stat().st_size > 0
    write_lines(log, [f"{stamp} mx postfix/qmgr[13]: B1B2C3D4E5: from=<a@example.test>, size=1, "
                      "nrcpt=1 (queue active)",
                      f"{stamp} mx postfix/smtp[14]: B1B2C3D4E5: to=<x@y.test>, relay=none, "
                      "status=sent (250 ok)"])
    proc = follower(config_file, state, "--service", PLAIN, str(log))
    try:
        wait_for(lambda: in_ledger(ledger, hasher, "<two@example.test>", "a@example.test"), 20, "two")
        wait_for(lambda: "2 messages: 2 recorded" in state.with_suffix(".log").read_text(), 20,
                 "the whole message read again")
    finally:
        stop(proc)
    # Both messages recorded once in the day counter, though "one" was recorded twice...
    assert recorded_today(redis_client) == 2
    # ... and once in the ledger: one entry each and their one (sender, recipient) pair, the values
    # (recipients 1, no bounce matched) untouched.
    for kind, expected in ((MESSAGE, [b"1", b"1"]), (PAIR, [b"1"])):
        stored = [v for key in redis_client.scan_iter(match=ledger.key_pattern(kind))
                  for v in redis_client.hgetall(key).values()]
        assert stored == expected, kind


def test_copytruncate_is_followed(tmp_path: Path) -> None:
    log = tmp_path / "mail.log"
    log.write_bytes(b"one\ntwo\n")
    tail = FileTail(str(log), from_start=True)
    assert [line for _, line in tail.poll(0)] == [b"one\n", b"two\n"]
    with open(log, "r+b") as fh:  # copytruncate: same inode, cut to zero, then written again
        fh.truncate(0)
    with open(log, "ab") as fh:
        fh.write(b"3\n")
    assert [line for _, line in tail.poll(1)] == [b"3\n"]
    assert tail.truncations == 1


def test_rename_rotation_reads_late_lines_of_the_old_file_first(tmp_path: Path) -> None:
    log = tmp_path / "mail.log"
    log.write_bytes(b"old 1\n")
    tail = FileTail(str(log), from_start=True)
    assert [line for _, line in tail.poll(0)] == [b"old 1\n"]
    log.rename(tmp_path / "mail.log.1")
    with open(tmp_path / "mail.log.1", "ab") as fh:
        fh.write(b"old 2, written before the writer reopened\n")
    log.write_bytes(b"new 1\n")
    assert [line for _, line in tail.poll(1)] == [b"old 2, written before the writer reopened\n",
                                                  b"new 1\n"]
    assert tail.rotations == 1
    # A restart at a position in the rotated file finds it by inode and reads on from there.
    rotated = os.stat(tmp_path / "mail.log.1")
    from ledger.ops.tail import Position
    resumed = FileTail(str(log), Position(rotated.st_dev, rotated.st_ino, len(b"old 1\n")))
    assert [line for _, line in resumed.poll(2)] == [b"old 2, written before the writer reopened\n",
                                                     b"new 1\n"]


# -- the journal -------------------------------------------------------------------------------

def journal_entries(lines: list[str], first: int) -> list[bytes]:
    out = []
    for n, line in enumerate(lines, first):
        _, _, _, rest = line.split(" ", 3)
        tag, message = rest.split(": ", 1)
        prog = tag.split(" ", 1)[1].split("[", 1)[0]
        out.append(json.dumps({
            "__CURSOR": f"s=0123abcd;i={n:x};b=feed;m={n:x};t=5f0;x=9a{n}",
            "__REALTIME_TIMESTAMP": str(int(time.time() * 1_000_000)),
            "__MONOTONIC_TIMESTAMP": str(n * 1000), "_BOOT_ID": "feed", "PRIORITY": "6",
            "SYSLOG_FACILITY": "2", "SYSLOG_IDENTIFIER": prog, "SYSLOG_PID": "11", "_PID": "11",
            "_COMM": prog.rsplit("/", 1)[-1], "_SYSTEMD_UNIT": "postfix@-.service",
            "MESSAGE": message,
        }).encode() + b"\n")
    return out


def test_journal_input_from_stdin(config_file: Path, redis_client: redis.Redis, ledger: Ledger,
                                  hasher: Hasher, tmp_path: Path) -> None:
    lines = (message_lines("C1C2C3C4C5", PLAIN, "<j1@example.test>", "j@example.test", ["r@y.test"])
             + message_lines("D1D2D3D4D5", "postfix/smtpd", "<in@elsewhere.test>", "z@elsewhere.test",
                             ["j@example.test"])
             + message_lines("E1E2E3E4E5", PLAIN, "<j2@example.test>", "j@example.test", ["s@y.test"],
                             removed=False))
    entries = journal_entries(lines, 1)
    state = tmp_path / "state"
    read, write = os.pipe()
    proc = follower(config_file, state, "--service", PLAIN, "--journal", stdin=read)
    os.close(read)
    try:
        os.write(write, b"not json\n" + b"".join(entries))
        wait_for(lambda: in_ledger(ledger, hasher, "<j2@example.test>", "j@example.test"), 20, "j2")
        assert in_ledger(ledger, hasher, "<j1@example.test>", "j@example.test")
        assert not in_ledger(ledger, hasher, "<in@elsewhere.test>", "z@elsewhere.test")
    finally:
        os.close(write)  # end of input: the follower writes its state and stops
        proc.wait(20)
    assert proc.returncode == 0
    cursor = follow_state.load(str(state)).cursor
    assert cursor == json.loads(entries[-1])["__CURSOR"]
    out = subprocess.run([sys.executable, "-m", "ledger", "follow", "--state", str(state),
                          "--print-cursor"], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == cursor
    assert recorded_today(redis_client) == 2


def test_backfill_reads_the_journal(config_file: Path, ledger: Ledger, hasher: Hasher,
                                    tmp_path: Path) -> None:
    """Debian 12 logs Postfix to the journal only: backfill --journal takes journalctl -o json
    output (a file, or stdin) and records by backfill's rules, as from a mail log."""
    lines = (message_lines("F1F2F3F4F5", PLAIN, "<b1@example.test>", "b@example.test", ["r@y.test"])
             + message_lines("G1G2G3G4G5", "postfix/smtpd", "<in2@elsewhere.test>", "z@elsewhere.test",
                             ["b@example.test"]))
    export = tmp_path / "journal.json"
    export.write_bytes(b"not json\n" + b"".join(journal_entries(lines, 1)))
    base = [sys.executable, "-m", "ledger", "backfill", "--config", str(config_file), "--service", PLAIN]
    out = subprocess.run([*base, "--journal", "--json", str(export)], capture_output=True, text=True,
                         timeout=120)
    assert out.returncode == 0, out.stderr
    report = json.loads(out.stdout)
    assert report["recorded"] == 1 and report["unrecognised_lines"] == 1
    assert in_ledger(ledger, hasher, "<b1@example.test>", "b@example.test")
    assert not in_ledger(ledger, hasher, "<in2@elsewhere.test>", "z@elsewhere.test")
    piped = subprocess.run([*base, "--journal", "--dry-run", "--json"], input=export.read_bytes(),
                           capture_output=True, timeout=120)
    assert piped.returncode == 0 and json.loads(piped.stdout)["recorded"] == 1
    none = subprocess.run(base, capture_output=True, text=True, timeout=120)
    assert none.returncode == 1 and "--journal" in none.stderr and "Traceback" not in none.stderr


def test_follow_needs_files_or_journal(config_file: Path, tmp_path: Path) -> None:
    out = subprocess.run([sys.executable, "-m", "ledger", "follow", "--config", str(config_file),
                          "--state", str(tmp_path / "s")], capture_output=True, text=True)
    assert out.returncode == 1
    assert "give LOGFILE... or --journal" in out.stderr and "Traceback" not in out.stderr


def test_a_redis_outage_spools_and_the_drainer_replays(tmp_path: Path) -> None:
    from tests.conftest import write_config

    server = RedisServer(tmp_path / "redis").start()
    config = write_config(tmp_path / "sender-ledger.toml", server.url)
    cfg = load_config(str(config))
    hasher = hasher_for(cfg)
    log = tmp_path / "mail.log"
    log.write_text("")
    state = tmp_path / "state"
    stamp = time.strftime("%b %e %H:%M:%S")
    proc = follower(config, state, "--service", PLAIN, str(log))
    try:
        wait_for(lambda: state.exists(), 20, "the follower running")
        server.stop()
        write_lines(log, message_lines("F1F2F3F4F5", PLAIN, "<outage@example.test>", "o@example.test",
                                       ["x@y.test"], stamp=stamp))
        spool = tmp_path / "spool"
        wait_for(lambda: spool.exists() and any(spool.iterdir()), 30, "the record spooled")
        server.start()
        client = connect(server.url)
        ledger = Ledger(client)
        wait_for(lambda: in_ledger(ledger, hasher, "<outage@example.test>", "o@example.test"), 30,
                 "the spooled record replayed")
        wait_for(lambda: recorded_today(client) == 1, 10, "the replayed record counted")
        client.close()
    finally:
        stop(proc)
        server.stop()
    assert "LOST" not in state.with_suffix(".log").read_text()


# -- the shared rules, early (no Redis) -------------------------------------------------------

def assembled(lines: list[str], expire_before: float | None = None) -> tuple[list[Ready], Tally]:
    out: list[Ready] = []
    tally = Tally()
    assembler = Assembler([PLAIN], out.append, tally, early=True)
    clock = plog.DayClock(time.time())
    counts = plog.LineCounts()
    for n, line in enumerate(lines):
        event = plog.line_event(line.encode() + b"\n", clock, counts)
        if event is not None:
            assembler.apply(event, n, now=float(n))
    if expire_before is not None:
        assembler.expire(expire_before)
    return out, tally


def test_a_message_is_ready_once_every_recipient_has_a_to_line() -> None:
    lines = message_lines("A0B0C0D0E0", PLAIN, "<early@example.test>", "e@example.test",
                          ["a@y.test", "b@y.test"], removed=False)
    ready, _ = assembled(lines[:-1])  # one of two to= lines: not yet
    assert ready == []
    ready, tally = assembled(lines)
    assert [r.sent.recipients for r in ready] == [["a@y.test", "b@y.test"]]
    assert ready[0].recipients == 2 and not ready[0].at_end and tally.messages == 1


def test_recipients_added_by_expansion_are_handed_out_again_at_removed() -> None:
    lines = message_lines("A0B0C0D0E1", PLAIN, "<alias@example.test>", "e@example.test", ["a@y.test"])
    extra = lines[-2].replace("a@y.test", "list-member@y.test")
    ready, tally = assembled([*lines[:-1], extra, lines[-1]])
    assert [(r.again, r.sent.recipients) for r in ready] == [
        (False, ["a@y.test"]), (True, ["a@y.test", "list-member@y.test"])]
    assert tally.messages == 1


def test_a_quiet_queue_id_expires_and_is_settled() -> None:
    lines = message_lines("A0B0C0D0E2", PLAIN, "<held@example.test>", "e@example.test", [],
                          removed=False)  # queued, nrcpt=0 logged, no delivery yet
    ready, _ = assembled(lines)
    assert ready == []
    ready, _ = assembled(lines, expire_before=100.0)
    assert len(ready) == 1 and ready[0].at_end


def test_an_unreadable_log_or_state_is_one_line(config_file: Path, tmp_path: Path) -> None:
    state = tmp_path / "state"
    state.write_text("{not json")
    out = subprocess.run([sys.executable, "-m", "ledger", "follow", "--config", str(config_file),
                          "--state", str(state), str(tmp_path)], capture_output=True, text=True,
                         timeout=60)
    assert out.returncode == 1 and "not a follow state file" in out.stderr
    assert "Traceback" not in out.stderr
    state.unlink()
    out = subprocess.run([sys.executable, "-m", "ledger", "follow", "--config", str(config_file),
                          "--state", str(state), str(tmp_path)], capture_output=True, text=True,
                         timeout=60)
    assert out.returncode == 1 and "Is a directory" in out.stderr and "Traceback" not in out.stderr
