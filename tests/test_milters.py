"""Both milters running as real processes, spoken to over the milter protocol."""

from __future__ import annotations

import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from ledger.days import today
from ledger.hashing import Hasher
from ledger.observe import counters, decision_log
from ledger.store import Ledger
from testbed import MilterProcess, RedisServer, free_port
from tests import messages
from tests.conftest import SECRET, write_config
from tests.milterclient import send_message


@pytest.fixture(scope="module")
def milters(scratch: Path, redis_server: RedisServer) -> Iterator[tuple[MilterProcess, MilterProcess]]:
    base = scratch / "milters"
    base.mkdir()
    config = write_config(base / "sender-ledger.toml", redis_server.url)
    outbound = MilterProcess(base, "outbound", config, SECRET).start()
    inbound = MilterProcess(base, "inbound", config, SECRET).start()
    yield outbound, inbound
    inbound.stop()
    outbound.stop()


def ledger_keys(client: redis.Redis) -> int:
    """Ledger day keys only (the observing counters and log live beside them)."""
    return len(list(client.scan_iter("sl:{*}:m:*")))


def send(milter: MilterProcess, raw: bytes, mail_from: str, rcpts: list[str]):  # type: ignore[no-untyped-def]
    headers, body = messages.split(raw)
    return send_message(str(milter.socket_path), mail_from, rcpts, headers, body)


def test_outbound_records_and_inbound_decides(milters: tuple[MilterProcess, MilterProcess],
                                              redis_client: redis.Redis) -> None:
    outbound, inbound = milters
    sent = send(outbound, messages.original(), "alice@example.test", ["bob@example.com"])
    assert sent.code == "accept" and sent.added_headers == []
    assert ledger_keys(redis_client) == 1

    real = send(inbound, messages.dsn(messages.original()), "", ["alice@example.test"])
    assert real.code == "accept" and real.stage == "eom"
    assert real.added_headers and real.added_headers[0][0] == "X-Sender-Ledger"
    assert real.added_headers[0][1].startswith("pass (dsn;")

    # from an address alice never wrote to: the envelope check cannot accept it either
    forged = send(inbound, messages.dsn(messages.original(message_id="<forged-1@example.test>"),
                                        failed="stranger@example.net"), "", ["alice@example.test"])
    assert forged.code == "reject" and forged.stage == "eom"
    assert forged.reply is not None and forged.reply.startswith("550 5.7.1 Backscatter refused")
    assert "decision qid=TESTQID" in inbound.log_text()

    # What the milters told the observer: the day counters and the decision log,
    # written by the milters' background bookkeepers just after their answers.
    deadline = time.monotonic() + 10
    while counters.read_days(redis_client, "sl", [today()])[0].get("candidates") < 2:
        assert time.monotonic() < deadline, "the bookkeeper never wrote the counters"
        time.sleep(0.05)
    day = counters.read_days(redis_client, "sl", [today()])[0]
    assert (day.get("recorded"), day.get("candidates"), day.get("matched"), day.get("unmatched")) == (
        1, 2, 1, 1)
    logged = decision_log.read(redis_client, "sl")
    assert [(e.action, e.kind, e.matched) for e in logged] == [("reject", "dsn", False),
                                                               ("accept", "dsn", True)]
    assert logged[0].queue_id == "TESTQID" and logged[0].mail_from == ""


def test_ordinary_mail_leaves_nothing_in_redis(milters: tuple[MilterProcess, MilterProcess],
                                               redis_client: redis.Redis) -> None:
    _, inbound = milters
    redis_client.config_resetstat()
    result = send(inbound, messages.ordinary(), "carol@example.com", ["alice@example.test"])
    assert (result.stage, result.code) == ("eoh", "accept")
    assert set(redis_client.info("commandstats")) <= {"cmdstat_config|resetstat", "cmdstat_info"}
    assert redis_client.dbsize() == 0


def test_outbound_adds_a_missing_message_id(milters: tuple[MilterProcess, MilterProcess],
                                            redis_client: redis.Redis) -> None:
    outbound, _ = milters
    sent = send(outbound, messages.original(message_id=""), "alice@example.test", ["bob@example.com"])
    assert sent.code == "accept"
    assert [name for name, _ in sent.added_headers] == ["Message-ID"]
    assert sent.added_headers[0][1].endswith("@example.test>")
    assert ledger_keys(redis_client) == 1


def test_an_id_without_at_is_recorded_and_its_bounce_accepted(milters: tuple[MilterProcess, MilterProcess],
                                                               redis_client: redis.Redis) -> None:
    """Old software writes "Message-ID: 20140913142357": recorded as it is, matched as a weak reference."""
    outbound, inbound = milters
    sent = send(outbound, messages.original(message_id="20140913142357"), "alice@example.test",
                ["bob@example.com"])
    assert sent.code == "accept" and sent.added_headers == []  # kept, not replaced
    assert ledger_keys(redis_client) == 1
    real = send(inbound, messages.dsn(messages.original(message_id="20140913142357")), "",
                ["alice@example.test"])
    assert real.code == "accept" and real.added_headers[0][1].startswith("pass (dsn;")
    # a weak reference takes one bounce per recipient: the second is refused
    again = send(inbound, messages.dsn(messages.original(message_id="20140913142357")), "",
                 ["alice@example.test"])
    assert again.code == "reject"


def test_inbound_accepts_ordinary_mail_before_the_body(milters: tuple[MilterProcess, MilterProcess],
                                                       redis_client: redis.Redis) -> None:
    _, inbound = milters
    result = send(inbound, messages.ordinary(), "carol@example.com", ["alice@example.test"])
    assert (result.stage, result.code) == ("eoh", "accept")


def test_forged_trace_headers_are_removed(milters: tuple[MilterProcess, MilterProcess],
                                          redis_client: redis.Redis) -> None:
    outbound, inbound = milters
    send(outbound, messages.original(), "alice@example.test", ["bob@example.com"])
    raw = messages.autoreply().replace(
        b"Subject:", b"X-Sender-Ledger: pass (forged)\r\nX-Sender-Ledger: pass (again)\r\nSubject:")
    result = send(inbound, raw, "bob@example.com", ["alice@example.test"])
    assert result.code == "accept"
    assert sorted(result.changed_headers) == [(1, "X-Sender-Ledger", ""), (2, "X-Sender-Ledger", "")]
    assert [v.split(" ")[0] for _, v in result.added_headers] == ["pass"]


def test_a_huge_bounce_is_read_only_as_far_as_needed(milters: tuple[MilterProcess, MilterProcess],
                                                     redis_client: redis.Redis) -> None:
    outbound, inbound = milters
    big = messages.original().replace(b"Hello Bob,", b"Hello Bob,\r\n" + b"x" * 76 * 40000)  # ~3 MB
    send(outbound, big, "alice@example.test", ["bob@example.com"])
    result = send(inbound, messages.dsn(big), "", ["alice@example.test"])
    assert result.body_skipped  # the milter told the MTA to stop sending the body
    assert (result.stage, result.code) == ("eom", "accept")
    forged = send(inbound, messages.dsn(big.replace(b"<orig-1@", b"<forged-9@")), "", ["alice@example.test"])
    assert forged.body_skipped and forged.code == "reject"


def test_milters_serve_prometheus_metrics(scratch: Path, redis_server: RedisServer,
                                          redis_client: redis.Redis) -> None:
    base = scratch / "metrics"
    base.mkdir()
    in_port, out_port = free_port(), free_port()
    config = write_config(base / "sender-ledger.toml", redis_server.url,
                          f'[metrics]\ninbound_listen = "127.0.0.1:{in_port}"\n'
                          f'outbound_listen = "127.0.0.1:{out_port}"\n')
    outbound = MilterProcess(base, "outbound", config, SECRET).start()
    inbound = MilterProcess(base, "inbound", config, SECRET).start()
    try:
        send(outbound, messages.original(), "alice@example.test", ["bob@example.com"])
        send(inbound, messages.ordinary(), "carol@example.com", ["alice@example.test"])
        send(inbound, messages.dsn(messages.original()), "", ["alice@example.test"])
        send(inbound, messages.dsn(messages.original(message_id="<forged-9@example.test>"),
                                   failed="stranger@example.net"), "", ["alice@example.test"])
        inbound_text = scrape(in_port)
        assert 'sender_ledger_decisions_total{action="accept",kind="ordinary"} 1.0' in inbound_text
        assert 'sender_ledger_decisions_total{action="accept",kind="dsn"} 1.0' in inbound_text
        assert 'sender_ledger_decisions_total{action="reject",kind="dsn"} 1.0' in inbound_text
        assert 'sender_ledger_decision_seconds_count{path="candidate"} 2.0' in inbound_text
        assert 'sender_ledger_records_total{result="recorded"} 1.0' in scrape(out_port)
    finally:
        inbound.stop()
        outbound.stop()


def scrape(port: int) -> str:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as reply:
        return str(reply.read().decode())


def test_an_accepted_bounce_is_counted_in_its_lookup(
        milters: tuple[MilterProcess, MilterProcess], redis_client: redis.Redis) -> None:
    outbound, inbound = milters
    send(outbound, messages.original(), "alice@example.test", ["bob@example.com"])
    ledger = Ledger(redis_client)
    entry = Hasher(SECRET.encode(), 6).message("orig-1@example.test", "alice@example.test")
    assert ledger.find([entry])[entry].matches == 0
    redis_client.config_resetstat()
    assert send(inbound, messages.dsn(messages.original()), "", ["alice@example.test"]).code == "accept"
    assert ledger.find([entry])[entry].matches == 1
    # the lookup and the claim are one function call; the log entry and counters follow
    # (on the next message's round trip, or the bookkeeper's own after a quarter second)
    deadline = time.monotonic() + 10
    while "cmdstat_xadd" not in (stats := redis_client.info("commandstats")):
        assert time.monotonic() < deadline, "the decision was never logged"
        time.sleep(0.05)
    assert stats["cmdstat_fcall"]["calls"] == 1 and stats["cmdstat_xadd"]["calls"] == 1
    assert stats["cmdstat_hincrby"]["calls"] >= 1


def test_the_outbound_milter_records_the_recipient_count_for_the_bounce_budget(
        milters: tuple[MilterProcess, MilterProcess], redis_client: redis.Redis) -> None:
    """Ten envelope recipients: 10 x matches_per_recipient (3) = 30 bounces, the 31st refused."""
    outbound, inbound = milters
    rcpts = [f"r{i}@example.com" for i in range(10)]
    sent = messages.original(message_id="<budget-m@example.test>", to=", ".join(rcpts))
    assert send(outbound, sent, "alice@example.test", rcpts).code == "accept"
    entry = Hasher(SECRET.encode(), 6).message("budget-m@example.test", "alice@example.test")
    assert Ledger(redis_client).find([entry])[entry].recipients == 10
    codes = [send(inbound, messages.dsn(sent, failed=rcpts[i % 10]), "", ["alice@example.test"]).code
             for i in range(31)]
    assert codes == ["accept"] * 30 + ["reject"]
    assert Ledger(redis_client).find([entry])[entry].matches == 30


# Runs the real command line, with Inspector.inspect replaced by one that raises: a bug
# of ours deep inside inspection, injected without touching the milter's code.
FAULTY_INSPECTION = '''\
import sys

from ledger.verdict import Inspector


def broken(self, *args, **options):
    raise RuntimeError("injected fault inside inspection")


Inspector.prepare = broken
from ledger.cli import main

sys.exit(main(sys.argv[1:]))
'''


def test_an_exception_inside_inspection_gives_451_and_a_logged_line(
        scratch: Path, redis_server: RedisServer, redis_client: redis.Redis) -> None:
    base = scratch / "faulty"
    base.mkdir()
    config = write_config(base / "sender-ledger.toml", redis_server.url)
    wrapper = base / "faulty_milter.py"
    wrapper.write_text(FAULTY_INSPECTION)
    inbound = MilterProcess(base, "inbound", config, SECRET, program=(sys.executable, str(wrapper))).start()
    try:
        headers, body = messages.split(messages.dsn(messages.original()))
        result = send_message(str(inbound.socket_path), "", ["alice@example.test"], headers, body,
                              queue_id="FAULTQID1")
        assert (result.stage, result.code) == ("eom", "tempfail")
        assert result.reply == "451 4.7.1 Temporary local problem, try again later"
        assert result.added_headers == []
        log = inbound.log_text()
        assert "qid=FAULTQID1 inspection failed" in log
        assert "RuntimeError: injected fault inside inspection" in log  # with its traceback, for us
        assert ("decision qid=FAULTQID1 client=" in log and "action=tempfail" in log
                and "reason='internal error'" in log)
        # The milter lives on: ordinary mail never reaches inspection and is accepted.
        headers, body = messages.split(messages.ordinary())
        ordinary = send_message(str(inbound.socket_path), "carol@example.com", ["alice@example.test"],
                                headers, body, queue_id="FAULTQID2")
        assert (ordinary.stage, ordinary.code) == ("eoh", "accept")
    finally:
        inbound.stop()


def test_each_milter_negotiates_away_the_steps_it_does_not_use(
        milters: tuple[MilterProcess, MilterProcess]) -> None:
    from miltertest import constants as c

    from tests.milterclient import negotiated

    # pymilter's Milter.Base marks every callback a class does not override @nocallback,
    # and ours mark what they only read @noreply: this keeps it so.
    outbound, inbound = milters
    skipped = negotiated(str(outbound.socket_path))
    # The recording milter reads the envelope and two headers, nothing else.
    for step in (c.SMFIP_NOCONNECT, c.SMFIP_NOHELO, c.SMFIP_NOEOH, c.SMFIP_NOBODY):
        assert skipped & step, hex(step)
    for step in (c.SMFIP_NOMAIL, c.SMFIP_NORCPT, c.SMFIP_NOHDRS, c.SMFIP_NODATA):
        assert not skipped & step, hex(step)  # data() stays: it avoids a 40 ms stall on inet
    assert skipped & c.SMFIP_NR_MAIL and skipped & c.SMFIP_NR_RCPT and skipped & c.SMFIP_NR_HDR
    skipped = negotiated(str(inbound.socket_path))
    # The checking milter needs the client (connect), the envelope, headers and a candidate's body.
    assert skipped & c.SMFIP_NOHELO
    for step in (c.SMFIP_NOCONNECT, c.SMFIP_NOMAIL, c.SMFIP_NORCPT, c.SMFIP_NOHDRS,
                 c.SMFIP_NOEOH, c.SMFIP_NOBODY, c.SMFIP_NODATA):
        assert not skipped & step, hex(step)
    assert skipped & c.SMFIP_NR_CONN and skipped & c.SMFIP_NR_HDR
    assert not skipped & c.SMFIP_NR_BODY  # body() answers SKIP once it has read enough
