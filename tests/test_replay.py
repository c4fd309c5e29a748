"""replay: mailboxes written here (mbox with From-quoting, Maildir) decided as the milter would."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from email.utils import format_datetime
from pathlib import Path

import pytest
import redis

from ledger.cli import main
from ledger.config import Config
from ledger.hashing import Hasher
from ledger.ops.mailbox import Mailbox, MailboxError, MailItem
from ledger.ops.replay import Replay, ScratchLedger
from ledger.record import Recorder, SentMessage
from ledger.services import hasher_for
from ledger.store import Ledger
from ledger.verdict import Inspector, policy_from

NOW = datetime.now(UTC)
FROM_LINE_DATE = NOW.strftime("%a %b %d %H:%M:%S %Y")


def sent(mid: str, body: str = "Hello.\n", date: datetime = NOW) -> bytes:
    return (f"From: Alice <alice@example.test>\nTo: bob@elsewhere.test\nSubject: hello\n"
            f"Date: {format_datetime(date)}\nMessage-ID: <{mid}>\n\n{body}").encode()


def dsn(original_mid: str, own_mid: str, date: datetime = NOW, rcpt: str = "alice@example.test",
        failed: str = "bob@elsewhere.test") -> bytes:
    return (f"Return-Path: <>\nDelivered-To: {rcpt}\nFrom: MAILER-DAEMON@elsewhere.test\n"
            f"To: {rcpt}\nSubject: Undelivered Mail Returned to Sender\n"
            f"Date: {format_datetime(date)}\nMessage-ID: <{own_mid}>\nMIME-Version: 1.0\n"
            "Content-Type: multipart/report; report-type=delivery-status; boundary=\"B\"\n\n"
            "--B\nContent-Type: text/plain\n\nYour message could not be delivered.\n\n"
            "--B\nContent-Type: message/delivery-status\n\nReporting-MTA: dns; mx.elsewhere.test\n\n"
            f"Final-Recipient: rfc822; {failed}\nAction: failed\nStatus: 5.1.1\n\n"
            "--B\nContent-Type: text/rfc822-headers\n\n"
            f"From: alice@example.test\nTo: {failed}\nMessage-ID: <{original_mid}>\n\n"
            "--B--\n").encode()


def ordinary(n: int) -> bytes:
    return (f"Return-Path: <friend@elsewhere.test>\nDelivered-To: alice@example.test\n"
            f"From: friend@elsewhere.test\nTo: alice@example.test\nSubject: lunch {n}\n"
            f"Date: {format_datetime(NOW)}\nMessage-ID: <lunch{n}@elsewhere.test>\n\n"
            "From what I hear, lunch is at noon.\n").encode()


def write_mbox(path: Path, messages: list[bytes]) -> Path:
    """mboxrd: a From_ line per message, body lines starting 'From ' quoted with '>'."""
    out = []
    for raw in messages:
        out.append(f"From MAILER-DAEMON {FROM_LINE_DATE}\n".encode())
        for line in raw.splitlines(keepends=True):
            out.append(b">" + line if line.lstrip(b">").startswith(b"From ") else line)
        out.append(b"\n")
    path.write_bytes(b"".join(out))
    return path


def write_maildir(path: Path, messages: list[bytes]) -> Path:
    for sub in ("cur", "new", "tmp"):
        (path / sub).mkdir(parents=True)
    for n, raw in enumerate(messages):
        stamp = int(NOW.timestamp()) - 3600 + n
        (path / ("new" if n % 2 else "cur") / f"{stamp}.M{n}P1.host:2,S").write_bytes(raw)
    return path


# -- mailboxes (no Redis) ---------------------------------------------------------------------------

def test_mbox_from_quoting_does_not_split_a_message(tmp_path: Path) -> None:
    body = "From the desk of Alice:\n>From an older quote\n\nFrom here on, nothing new.\n"
    box = write_mbox(tmp_path / "sent", [sent("one@example.test", body), sent("two@example.test")])
    items = list(Mailbox(str(box), 1 << 20))
    assert [i.label for i in items] == ["#1", "#2"]
    assert b"\nFrom the desk of Alice:\n>From an older quote\n\nFrom here on" in items[0].raw
    assert items[0].raw.endswith(b"nothing new.\n")
    assert items[0].delivered == datetime.strptime(FROM_LINE_DATE, "%a %b %d %H:%M:%S %Y").timestamp()


def test_maildir_in_delivery_order_and_size_cap(tmp_path: Path) -> None:
    big = sent("big@example.test", "x" * 5000 + "\n")
    box = write_maildir(tmp_path / "Maildir", [sent("a@example.test"), big, sent("c@example.test")])
    items = list(Mailbox(str(box), 1000))
    assert [i.label.split("/")[0] for i in items] == ["cur", "new", "cur"]
    assert items[0].delivered == int(NOW.timestamp()) - 3600 and not items[0].truncated
    assert items[1].truncated and len(items[1].raw) == 1000


def test_mbox_size_cap_skips_the_rest(tmp_path: Path) -> None:
    box = write_mbox(tmp_path / "in", [sent("big@example.test", "y\n" * 5000), sent("after@example.test")])
    items = list(Mailbox(str(box), 600))
    assert len(items) == 2 and items[0].truncated and len(items[0].raw) == 600
    assert b"after@example.test" in items[1].raw and not items[1].truncated


@pytest.mark.parametrize("setup", ["missing", "plain-dir", "not-mbox"])
def test_not_a_mailbox_is_one_clear_error(tmp_path: Path, setup: str) -> None:
    path = tmp_path / "box"
    if setup == "plain-dir":
        path.mkdir()
    elif setup == "not-mbox":
        path.write_bytes(b"Subject: just a message\n\nhi\n")
    with pytest.raises(MailboxError, match="box"):
        Mailbox(str(path), 1000)


# -- replay against Redis ---------------------------------------------------------------------------

def snapshot(client: redis.Redis) -> dict[bytes, dict[bytes, bytes]]:
    return {k: client.hgetall(k) for k in client.scan_iter(count=1000)}


@pytest.fixture()
def live(ledger: Ledger, recorder: Recorder) -> Iterator[Ledger]:
    """A live ledger holding one entry, so 'nothing written to it' is checked against content."""
    recorder.record(SentMessage("alice@example.test", ["x@y.test"], "<live@example.test>"))
    yield ledger


def test_replay_cli_summary_refused_list_and_live_ledger_untouched(
        tmp_path: Path, config_file: Path, live: Ledger, capsys: pytest.CaptureFixture[str]) -> None:
    sent_box = write_mbox(tmp_path / "Sent", [sent("real@example.test", "From me, with love.\n"),
                                              sent("other@example.test")])
    received = write_maildir(tmp_path / "Maildir", [
        dsn("real@example.test", "dsn1@elsewhere.test"),      # a real bounce: accepted
        # never sent, and from an address never written to (else the envelope check accepts it): refused
        dsn("forged@example.test", "dsn2@elsewhere.test", failed="stranger@elsewhere.test"),
        ordinary(1), ordinary(2),
        # only in the live ledger: refused
        dsn("live@example.test", "dsn3@elsewhere.test", failed="x@y.test"),
    ])
    before = snapshot(live.client)
    assert main(["replay", "--config", str(config_file), "--json", "--sent", str(sent_box),
                 "--received", str(received)]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["sent"] == {"messages": 2, "recorded": 2, "not_recorded": {}}
    assert result["received"] == 5
    summary = {(s["kind"], s["action"]): s["count"] for s in result["summary"]}
    assert summary == {("dsn", "accept"): 1, ("dsn", "reject"): 2, ("ordinary", "accept"): 2}
    refused = {r["references"][0]: r for r in result["refused"]}
    assert set(refused) == {"forged@example.test", "live@example.test"}
    assert refused["forged@example.test"]["reply"].startswith("550 5.7.1")
    assert refused["forged@example.test"]["subject"] == "Undelivered Mail Returned to Sender"
    assert snapshot(live.client) == before  # nothing written to the live ledger, scratch keys gone

    assert main(["replay", "--config", str(config_file), "--sent", str(sent_box),
                 "--received", str(received)]) == 0
    out = capsys.readouterr().out
    assert "would have been refused: 2" in out and "dsn          reject          2" in out
    assert snapshot(live.client) == before


def make_replay(config: Config, client: redis.Redis) -> tuple[Replay, ScratchLedger]:
    scratch = ScratchLedger.create(client, config.redis.namespace, config.ledger.lifetime_days,
                                   config.ledger.bucket_bits)
    hasher: Hasher = hasher_for(config)
    inspector = Inspector(scratch, hasher, policy_from(config), config.inbound.max_bytes)
    from ledger.cli.record_cmd import sent_message
    from ledger.cli.replay_cmd import _envelope, _headers

    return Replay(Recorder(scratch, hasher), inspector, scratch, _headers,
                  lambda raw: sent_message(raw, None, []), _envelope), scratch


def test_scratch_keys_expire_and_are_dropped(config: Config, live: Ledger) -> None:
    job, scratch = make_replay(config, live.client)
    job.record_sent([MailItem("#1", sent("s@example.test"), False, None, 1)])
    keys = list(live.client.scan_iter(match=f"{scratch.namespace}:*"))
    assert keys and all(0 < live.client.ttl(k) <= 86400 for k in keys)
    assert scratch.drop() == len(keys)
    assert not list(live.client.scan_iter(match=f"{scratch.namespace}:*"))


def test_interrupted_cli_replay_still_deletes_the_scratch_namespace(
        tmp_path: Path, config_file: Path, live: Ledger, monkeypatch: pytest.MonkeyPatch) -> None:
    sent_box = write_mbox(tmp_path / "Sent", [sent("real@example.test")])
    received = write_maildir(tmp_path / "Maildir", [dsn("real@example.test", "d@elsewhere.test")])
    before = snapshot(live.client)

    def interrupted(self: Replay, items: object, tick: object = None) -> None:
        assert len(snapshot(live.client)) > len(before)  # the scratch keys exist by now
        raise KeyboardInterrupt

    monkeypatch.setattr(Replay, "decide_received", interrupted)
    assert main(["replay", "--config", str(config_file), "--sent", str(sent_box),
                 "--received", str(received)]) == 130
    assert snapshot(live.client) == before


def test_old_mail_is_judged_on_its_own_day(config: Config, live: Ledger) -> None:
    """A bounce 40 days after the send is past the lifetime: refused, as it would have been."""
    long_ago = datetime(2026, 1, 1, 12, tzinfo=UTC)
    job, scratch = make_replay(config, live.client)
    try:
        job.record_sent([MailItem("#1", sent("jan@example.test", date=long_ago), False, None, 1)])
        job.decide_received([
            MailItem("#1", dsn("jan@example.test", "a@x.test", date=long_ago.replace(day=3)), False, None, 1),
            MailItem("#2", dsn("jan@example.test", "b@x.test", date=long_ago.replace(month=2, day=10)),
                     False, None, 2),
        ])
    finally:
        scratch.drop()
    assert job.report.summary == {("dsn", "accept"): 1, ("dsn", "reject"): 1}
    assert job.report.refused[0].label == "#2" and job.report.refused[0].date == "2026-02-10"


def test_bounce_budget_is_used_up_as_by_the_milter(config: Config, live: Ledger) -> None:
    job, scratch = make_replay(config, live.client)
    try:
        job.record_sent([MailItem("#1", sent("once@example.test"), False, None, 1)])
        per_rcpt = config.ledger.matches_per_recipient
        job.decide_received([MailItem(f"#{n}", dsn("once@example.test", f"d{n}@x.test"), False, None, n)
                             for n in range(per_rcpt + 1)])
    finally:
        scratch.drop()
    assert job.report.summary == {("dsn", "accept"): per_rcpt, ("dsn", "reject"): 1}
    assert "as many bounces" in job.report.refused[0].decision.reason


def test_progress_bar_only_when_asked_or_on_a_tty(tmp_path: Path, config_file: Path, live: Ledger,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    sent_box = write_mbox(tmp_path / "Sent", [sent(f"m{n}@example.test") for n in range(20)])
    received = write_mbox(tmp_path / "In", [ordinary(n) for n in range(20)])
    args = ["replay", "--config", str(config_file), "--sent", str(sent_box), "--received", str(received)]
    assert main(args) == 0
    assert capsys.readouterr().err == ""
    assert main([*args, "--progress"]) == 0
    err = capsys.readouterr().err
    assert "received" in err and "100% 20 messages" in err


def test_unreadable_mailbox_is_one_line_and_touches_nothing(tmp_path: Path, config_file: Path,
                                                            live: Ledger,
                                                            capsys: pytest.CaptureFixture[str]) -> None:
    before = snapshot(live.client)
    assert main(["replay", "--config", str(config_file), "--sent", str(tmp_path / "none"),
                 "--received", str(tmp_path)]) == 1
    assert "no such mailbox" in capsys.readouterr().err
    assert snapshot(live.client) == before


def test_received_mail_is_dated_by_its_delivery_stamp() -> None:
    from ledger.days import today
    from ledger.ops.replay import day_of

    item = MailItem("#1", b"", False, NOW.timestamp(), 1)
    old_date = "Fri, 01 Jan 1999 12:00:00 +0000"
    assert day_of(item, old_date, received=True) == int(NOW.timestamp() // 86400)
    assert day_of(item, old_date, received=False) == int(datetime(1999, 1, 1, 12, tzinfo=UTC).timestamp()
                                                          // 86400)
    undated = MailItem("#2", b"", False, None, 2)
    assert day_of(undated, "Thu, 01 Jan 2099 00:00:00 +0000", received=True) == today() + 1
    assert day_of(undated, "not a date", received=True) == today()


def test_rcpt_option_sets_the_recipient_of_received_mail(tmp_path: Path, config_file: Path, live: Ledger,
                                                         capsys: pytest.CaptureFixture[str]) -> None:
    sent_box = write_mbox(tmp_path / "Sent", [sent("real@example.test")])
    # a bounce that arrived for another of our addresses (an alias): not the original's sender
    bounce = dsn("real@example.test", "d1@x.test", rcpt="al@example.test")
    received = write_maildir(tmp_path / "Maildir", [bounce])
    args = ["replay", "--config", str(config_file), "--json", "--sent", str(sent_box),
            "--received", str(received)]
    assert main(args) == 0
    assert json.loads(capsys.readouterr().out)["summary"] == [{"kind": "dsn", "action": "reject", "count": 1}]
    assert main([*args, "--rcpt", "alice@example.test"]) == 0
    assert json.loads(capsys.readouterr().out)["summary"] == [{"kind": "dsn", "action": "accept", "count": 1}]


def test_sigterm_mid_replay_deletes_the_scratch_namespace(tmp_path: Path, config_file: Path,
                                                          redis_client: redis.Redis) -> None:
    """The real process, killed with SIGTERM while it works: no scratch key survives."""
    import signal
    import subprocess
    import sys

    from testbed.procs import wait_for

    sent_box = write_mbox(tmp_path / "Sent", [sent(f"s{n}@example.test") for n in range(300)])
    received = write_mbox(tmp_path / "In", [dsn(f"s{n % 300}@example.test", f"d{n}@x.test")
                                            for n in range(20000)])
    proc = subprocess.Popen([sys.executable, "-m", "ledger", "replay", "--config", str(config_file),
                             "--sent", str(sent_box), "--received", str(received)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        wait_for(lambda: any(b"-replay-" in k for k in redis_client.scan_iter(count=1000)), 30,
                 "scratch keys")
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(30) == 130
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(5)
    assert not [k for k in redis_client.scan_iter(count=1000) if b"-replay-" in k]


def test_replay_reads_as_far_as_the_milter_and_refuses_padded_forgeries(
        tmp_path: Path, config_file: Path, live: Ledger, capsys: pytest.CaptureFixture[str]) -> None:
    # Before: replay read received mail only up to max_bytes, so a forgery padded past it came
    # out as "no reference" (here: rescued by the envelope check, alice did write to bob).
    from tests import padded

    sent_box = write_mbox(tmp_path / "Sent", [sent("real-padded@example.test")])
    received = write_maildir(tmp_path / "Maildir", [
        padded.padded_dsn("<real-padded@example.test>", "text", failed="bob@elsewhere.test"),
        padded.padded_dsn("<forged-padded@example.test>", "header", failed="bob@elsewhere.test"),
    ])
    assert main(["replay", "--config", str(config_file), "--json", "--sent", str(sent_box),
                 "--received", str(received)]) == 0
    result = json.loads(capsys.readouterr().out)
    summary = {(s["kind"], s["action"]): s["count"] for s in result["summary"]}
    assert summary == {("dsn", "accept"): 1, ("dsn", "reject"): 1}
    assert [r["references"] for r in result["refused"]] == [["forged-padded@example.test"]]
