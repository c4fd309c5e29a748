"""backfill: Postfix logs (written here, plain and gzipped) -> ledger entries on the logged day."""

from __future__ import annotations

import gzip
import json
import os
import re
import time
from datetime import datetime
from pathlib import Path

import pytest
import redis

from ledger.cli import main
from ledger.hashing import PAIR, Hasher
from ledger.ops import postfix_log as plog
from ledger.ops.backfill import Backfill
from ledger.record import Recorder
from ledger.store import Ledger

OUTBOUND = ("postfix/submission/smtpd", "postfix/pickup")


def local_day(year: int, month: int, day: int, hour: int = 12) -> int:
    return int(datetime(year, month, day, hour).timestamp() // 86400)


def message_lines(qid: str, origin: str, mid: str | None, sender: str | None, rcpts: list[str],
                  stamp: str = "Nov 20 10:00:00", removed: bool = True) -> list[str]:
    """The lines Postfix logs for one message (as seen in the testbed's maillog)."""
    head = f"{stamp} mx"
    if origin.endswith("pickup"):
        lines = [f"{head} {origin}[10]: {qid}: uid=0 from=<{sender or ''}>"]
    else:
        lines = [f"{head} {origin}[11]: {qid}: client=localhost[127.0.0.1]"]
    if mid is not None:
        lines.append(f"{head} postfix/cleanup[12]: {qid}: message-id={mid}")
    if sender is not None:
        lines.append(f"{head} postfix/qmgr[13]: {qid}: from=<{sender}>, size=311, nrcpt={len(rcpts)} "
                     "(queue active)")
    for rcpt in rcpts:
        lines.append(f"{head} postfix/smtp[14]: {qid}: to=<{rcpt}>, relay=127.0.0.1[127.0.0.1]:2525, "
                     "delay=0.03, delays=0.01/0.01/0/0, dsn=2.0.0, status=sent (250 2.0.0 Ok)")
    if removed:
        lines.append(f"{head} postfix/qmgr[13]: {qid}: removed")
    return lines


def write_log(path: Path, lines: list[str], mtime: float | None = None, gz: bool = False) -> Path:
    data = ("\n".join(lines) + "\n").encode()
    if gz:
        with gzip.open(path, "wb") as fh:
            fh.write(data)
    else:
        path.write_bytes(data)
    if mtime is not None:
        os.utime(path, (mtime, mtime))
    return path


def found(ledger: Ledger, hasher: Hasher, mid: str, sender: str, day: int | None = None) -> bool:
    entry = hasher.message(mid, sender)
    return entry in ledger.find([entry], day=day)


# -- line parsing (no Redis) ----------------------------------------------------------------------

def test_events_of_a_traditional_syslog_line() -> None:
    clock = plog.DayClock(datetime(2026, 11, 27).timestamp())
    counts = plog.LineCounts()
    lines = message_lines("CEB7F20CE15", "postfix/submission/smtpd", "<a@b>", "alice@example.test",
                          ["bob@elsewhere.test"])
    events = list(plog.events(iter(line.encode() + b"\n" for line in lines), clock, counts))
    assert [e.kind for e in events] == [plog.ORIGIN, plog.MESSAGE_ID, plog.QUEUED, plog.DELIVERY,
                                         plog.REMOVED]
    assert events[0].prog == "postfix/submission/smtpd"
    assert events[2].value == "alice@example.test" and events[2].count == 1
    assert events[0].day == local_day(2026, 11, 20, 10)


def test_year_is_inferred_from_the_file_time() -> None:
    # A December line in a file last written in January belongs to the year before.
    clock = plog.DayClock(datetime(2027, 1, 3).timestamp())
    assert clock.traditional(12, 30, "23:00:00") == local_day(2026, 12, 30, 23)
    assert clock.traditional(1, 2, "08:00:00") == local_day(2027, 1, 2, 8)


def test_rfc3339_lines_and_long_queue_ids() -> None:
    counts = plog.LineCounts()
    line = (b"2026-03-04T05:06:07.123456+00:00 mx postfix/cleanup[1]: 4Y7lQb1R2Qz9sZ7: "
            b"message-id=<x@y>\n")
    events = list(plog.events(iter([line]), plog.DayClock(time.time()), counts))
    assert len(events) == 1 and events[0].qid == "4Y7lQb1R2Qz9sZ7" and events[0].value == "<x@y>"
    assert events[0].day == int(datetime.fromisoformat("2026-03-04T05:06:07+00:00").timestamp() // 86400)


def test_noise_is_not_an_event_and_garbage_is_counted() -> None:
    counts = plog.LineCounts()
    lines = [b"Nov 20 10:00:00 mx postfix/smtpd[1]: warning: hostname does not resolve\n",
             b"Nov 20 10:00:00 mx postfix/smtpd[1]: NOQUEUE: reject: RCPT from x: 554\n",
             b"\x00\xff complete garbage\n",
             b"Nov 20 10:00:00 mx postfix/cleanup[1]: ABCDEF123: message-id=<cut-off@exa\n"]
    events = list(plog.events(iter(lines), plog.DayClock(time.time()), counts))
    assert [e.kind for e in events] == [plog.MALFORMED]
    assert counts.lines == 4 and counts.unrecognised == 1 and counts.malformed == 1


# -- the join, against Redis ------------------------------------------------------------------------

@pytest.fixture()
def job(recorder: Recorder) -> Backfill:
    return Backfill(recorder, OUTBOUND)


def test_records_submission_and_pickup_on_the_logged_day(tmp_path: Path, job: Backfill, ledger: Ledger,
                                                          hasher: Hasher) -> None:
    lines = (message_lines("A1B2C3D4E5", "postfix/submission/smtpd", "<Sub.1@Example.test>",
                           "Alice@example.test", ["b@x.test", "c@x.test"], "Nov 20 10:00:00")
             + message_lines("B1B2C3D4E5", "postfix/pickup", "<pick.1@example.test>",
                             "root@example.test", ["d@x.test"], "Nov 21 11:00:00")
             + message_lines("C1B2C3D4E5", "postfix/smtpd", "<in.1@elsewhere.test>",
                             "ext@elsewhere.test", ["alice@example.test"], "Nov 21 11:00:00"))
    log = write_log(tmp_path / "mail.log", lines, mtime=datetime(2026, 11, 22).timestamp())
    report = job.read([str(log)])
    assert report.recorded == 2 and report.messages == 3
    assert report.skipped == {"came in through postfix/smtpd (not an outbound service)": 1}
    nov20, nov21 = local_day(2026, 11, 20, 10), local_day(2026, 11, 21, 11)
    entry = hasher.message("sub.1@example.test", "alice@example.test")
    match = ledger.find([entry], day=nov21)[entry]
    assert match.day == nov20 and match.recipients == 2
    assert found(ledger, hasher, "pick.1@example.test", "root@example.test", day=nov21)
    assert not found(ledger, hasher, "in.1@elsewhere.test", "ext@elsewhere.test", day=nov21)
    # The envelope check's (sender, recipient) pairs are backfilled too.
    pairs = [hasher.pair("alice@example.test", r) for r in ("b@x.test", "c@x.test", "z@x.test")]
    assert set(ledger.find(pairs, kind=PAIR, day=nov21)) == set(pairs[:2])
    assert report.as_dict()["days"] == {time.strftime("%Y-%m-%d", time.gmtime(nov20 * 86400)): 1,
                                        time.strftime("%Y-%m-%d", time.gmtime(nov21 * 86400)): 1}


def test_rotated_gzipped_logs_in_any_order_and_a_lifecycle_across_files(
        tmp_path: Path, job: Backfill, ledger: Ledger, hasher: Hasher) -> None:
    # The message enters the queue in the older (gzipped) file and is removed in the newer one.
    first = message_lines("D1D2D3D4D5", "postfix/submission/smtpd", "<split@example.test>",
                          "alice@example.test", [], "Nov 20 23:59:00", removed=False)
    second = [*message_lines("D1D2D3D4D5", "postfix/submission/smtpd", None, None, ["b@x.test"],
                             "Nov 21 00:01:00")[1:],
              *message_lines("E1E2E3E4E5", "postfix/submission/smtpd", "<later@example.test>",
                             "alice@example.test", ["c@x.test"], "Nov 21 09:00:00")]
    old = write_log(tmp_path / "mail.log.1.gz", first, mtime=datetime(2026, 11, 21).timestamp(), gz=True)
    new = write_log(tmp_path / "mail.log", second, mtime=datetime(2026, 11, 22).timestamp())
    report = job.read([str(new), str(old)])  # as a shell glob gives them: newest first
    assert [Path(f.path).name for f in report.files] == ["mail.log.1.gz", "mail.log"]
    assert report.recorded == 2 and report.unfinished_recorded == 0 and not report.skipped
    assert found(ledger, hasher, "split@example.test", "alice@example.test",
                 day=local_day(2026, 11, 21, 9))


def test_skips_are_reported_with_reasons(tmp_path: Path, job: Backfill, ledger: Ledger,
                                         hasher: Hasher) -> None:
    lines = (
        # a message-id that never got a from= (rejected by a milter after cleanup, no qmgr line)
        message_lines("F1F2F3F4F5", "postfix/submission/smtpd", "<never@example.test>", None, [],
                      removed=False)
        # a bounce of our own: null sender
        + message_lines("A0A0A0A0A0", "postfix/pickup", "<bounce@example.test>", "", ["x@y.test"])
        # no message-id logged at all
        + message_lines("B0B0B0B0B0", "postfix/submission/smtpd", None, "alice@example.test", ["x@y.test"])
        # made by Postfix itself: no origin line
        + message_lines("C0C0C0C0C0", "postfix/submission/smtpd", "<fwd@example.test>",
                        "alice@example.test", ["x@y.test"])[1:]
        # refused by cleanup (milter or header_checks)
        + ["Nov 20 10:00:00 mx postfix/submission/smtpd[1]: D0D0D0D0D0: client=localhost[127.0.0.1]",
           "Nov 20 10:00:00 mx postfix/cleanup[2]: D0D0D0D0D0: message-id=<rej@example.test>",
           "Nov 20 10:00:00 mx postfix/cleanup[2]: D0D0D0D0D0: milter-reject: END-OF-MESSAGE from x: "
           "5.7.1 no"]
        # the last line is cut short in the middle of a write
        + ["Nov 20 10:00:01 mx postfix/submission/smtpd[1]: E0E0E0E0E0: client=localhost[127.0.0.1]",
           "Nov 20 10:00:01 mx postfix/cleanup[2]: E0E0E0E0E0: message-id=<trunc@exam"]
    )
    log = write_log(tmp_path / "mail.log", lines, mtime=datetime(2026, 11, 22).timestamp())
    report = job.read([str(log)])
    assert report.recorded == 0
    assert report.malformed_lines == 1
    assert report.skipped == {
        "never queued: no qmgr from= line by the end of the logs": 2,
        "null sender (a bounce or notification of our own)": 1,
        "no message-id= line": 1,
        "no origin line (made by Postfix itself, or logged before the first file)": 1,
        "refused before queueing (milter-reject)": 1,
    }
    assert ledger.client.dbsize() == 0
    # The cut-off ID was not recorded in a mangled form either.
    assert not found(ledger, hasher, "trunc@exam", "alice@example.test")


def test_still_queued_at_the_end_is_recorded_and_said(tmp_path: Path, job: Backfill, ledger: Ledger,
                                                      hasher: Hasher) -> None:
    lines = message_lines("A9A9A9A9A9", "postfix/submission/smtpd", "<deferred@example.test>",
                          "alice@example.test", [], removed=False)
    report = job.read([str(write_log(tmp_path / "mail.log", lines, time.time()))])
    assert report.recorded == 1 and report.unfinished_recorded == 1


def test_memory_is_bounded_by_messages_in_flight(tmp_path: Path, recorder: Recorder) -> None:
    job = Backfill(recorder, OUTBOUND, dry_run=True)
    lines: list[str] = []
    for n in range(3000):
        lines += message_lines(f"{n:010X}", "postfix/submission/smtpd", f"<m{n}@example.test>",
                               "alice@example.test", ["b@x.test"])
    job.read([str(write_log(tmp_path / "big.log", lines, time.time()))])
    assert job.report.recorded == 3000
    assert len(job._assembler) == 0  # every finished lifecycle was dropped


def test_truncated_gzip_is_an_error_for_that_file_only(tmp_path: Path, job: Backfill) -> None:
    good = write_log(tmp_path / "mail.log", message_lines(
        "ABABABABAB", "postfix/pickup", "<ok@example.test>", "root@example.test", ["x@y.test"]), time.time())
    broken = tmp_path / "mail.log.2.gz"
    data = gzip.compress(("\n".join(message_lines(
        "CDCDCDCDCD", "postfix/pickup", "<lost@example.test>", "root@example.test", ["x@y.test"])) * 50)
        .encode())
    broken.write_bytes(data[: len(data) // 2])
    report = job.read([str(good), str(broken)])
    assert report.recorded >= 1
    errors = [f for f in report.files if f.error]
    assert [Path(f.path).name for f in errors] == ["mail.log.2.gz"]


def test_cli_json_dry_run_and_service_option(tmp_path: Path, config_file: Path,
                                             redis_client: redis.Redis, capsys: pytest.CaptureFixture[str]
                                             ) -> None:
    lines = (message_lines("A1A1A1A1A1", "postfix/submission/smtpd", "<s@example.test>",
                           "alice@example.test", ["b@x.test"])
             + message_lines("B1B1B1B1B1", "postfix-out/pickup", "<p@example.test>",
                             "root@example.test", ["b@x.test"]))
    log = write_log(tmp_path / "mail.log", lines, time.time(), gz=True)
    assert main(["backfill", "--config", str(config_file), "--dry-run", "--json", str(log)]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["dry_run"] is True and report["recorded"] == 1 and report["lines"] == len(lines)
    assert redis_client.dbsize() == 0
    assert main(["backfill", "--config", str(config_file), "--service", "postfix-out/pickup",
                 str(log)]) == 0
    out = capsys.readouterr().out
    assert "recorded 1 (1 new ledger entries)" in out
    assert "came in through postfix/submission/smtpd (not an outbound service)" in out
    assert redis_client.dbsize() == 2  # one message key and one pair key


def test_cli_services_from_the_config(tmp_path: Path, redis_server: object, redis_client: redis.Redis,
                                      capsys: pytest.CaptureFixture[str]) -> None:
    from tests.conftest import write_config

    cfg = write_config(tmp_path / "c.toml", redis_server.url,  # type: ignore[attr-defined]
                       '[backfill]\noutbound_services = ["postfix/mx/smtpd"]\n')
    lines = message_lines("A1A1A1A1A1", "postfix/mx/smtpd", "<s@example.test>", "a@example.test", ["b@x"])
    log = write_log(tmp_path / "mail.log", lines, time.time())
    assert main(["backfill", "--config", str(cfg), "--json", str(log)]) == 0
    assert json.loads(capsys.readouterr().out)["recorded"] == 1


def test_cli_missing_file_is_one_line(tmp_path: Path, config_file: Path,
                                      capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["backfill", "--config", str(config_file), str(tmp_path / "nope.log")]) == 1
    assert "nope.log: No such file or directory" in capsys.readouterr().out


@pytest.mark.postfix
def test_backfill_of_a_real_postfix_log(testbed: object, tmp_path: Path, config_file: Path,
                                        redis_client: redis.Redis, capsys: pytest.CaptureFixture[str]
                                        ) -> None:
    """What the testbed's Postfix logged for a submission is what backfill records."""
    import smtplib

    from testbed.procs import wait_for

    tb = testbed
    mid = f"backfill.{time.time_ns()}@example.test"
    with smtplib.SMTP("127.0.0.1", tb.postfix.submission_port) as smtp:  # type: ignore[attr-defined]
        smtp.sendmail("alice@example.test", ["bob@elsewhere.test"],
                      f"Message-ID: <{mid}>\r\nFrom: alice@example.test\r\nSubject: t\r\n\r\nhi\r\n")
    maillog = tb.postfix.maillog  # type: ignore[attr-defined]

    def removed() -> bool:
        """Its whole lifecycle is logged: the cleanup line's queue id has been removed."""
        text = maillog.read_text(errors="replace")
        qids = re.findall(rf"postfix/cleanup\[\d+\]: (\w+): message-id=<{re.escape(mid)}>", text)
        return bool(qids) and f"{qids[0]}: removed" in text

    wait_for(removed, 30, "the message's lifecycle in the maillog")
    assert main(["backfill", "--config", str(config_file), "--json",
                 "--service", "postfix/submission/smtpd", str(maillog)]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["recorded"] >= 1
    assert main(["lookup", "--config", str(config_file), "--json", "--sender", "alice@example.test",
                 mid]) == 0
    assert json.loads(capsys.readouterr().out)["found"] is True
