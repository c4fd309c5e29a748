"""Never lose a real bounce: races for the budget, refusals while records wait, bookkeeping off the reply."""

from __future__ import annotations

import os
import signal
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from ledger.check import Envelope
from ledger.config import Config
from ledger.days import today
from ledger.decide import ACCEPT, REJECT, TEMPFAIL, Cause
from ledger.hashing import MESSAGE
from ledger.observe import Observer, counters
from ledger.record import Recorder, SentMessage
from ledger.redis_client import connect
from ledger.services import hasher_for, inspector_for
from ledger.spool import Spool
from ledger.store import Ledger
from testbed import RedisServer
from tests import messages

ALICE = "alice@example.test"


def record(recorder: Recorder, mid: str, rcpts: int = 1) -> None:
    recorder.record(SentMessage(ALICE, [f"r{n}@example.com" for n in range(rcpts)], mid))


def test_bounces_racing_for_the_last_units_of_a_budget_cannot_all_win(
        config: Config, ledger: Ledger, recorder: Recorder) -> None:
    """12 sessions decide a bounce of the same one-recipient message at once: 3 may pass, no more."""
    mid = "<race@example.test>"
    record(recorder, mid)
    inspector = inspector_for(config, ledger)
    dsn = messages.dsn(messages.original(mid), failed="r0@example.com")
    barrier = threading.Barrier(12)
    outcomes: list[str] = []

    def session() -> None:
        barrier.wait()
        decision = inspector.inspect(Envelope("", [ALICE]), dsn, claim=True)
        outcomes.append(decision.action)

    threads = [threading.Thread(target=session) for _ in range(12)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert sorted(outcomes).count(ACCEPT) == config.ledger.matches_per_recipient
    assert outcomes.count(REJECT) == 12 - config.ledger.matches_per_recipient
    entry = hasher_for(config).message("race@example.test", ALICE)
    assert ledger.find([entry])[entry].matches == config.ledger.matches_per_recipient


def test_check_never_spends_the_budget(config: Config, ledger: Ledger, recorder: Recorder) -> None:
    record(recorder, "<dry@example.test>")
    inspector = inspector_for(config, ledger)
    dsn = messages.dsn(messages.original("<dry@example.test>"), failed="r0@example.com")
    for _ in range(10):  # what `sender-ledger check` does: no claim
        assert inspector.inspect(Envelope("", [ALICE]), dsn).action == ACCEPT


def test_a_refusal_waits_while_records_of_ours_wait_in_the_spool(
        tmp_path: Path, config: Config, ledger: Ledger) -> None:
    spool = Spool(tmp_path / "spool", 1 << 20)
    inspector = inspector_for(config, ledger, spool)
    forged = messages.dsn(messages.original("<not-yet-replayed@example.test>"), failed="x@example.com")
    assert inspector.inspect(Envelope("", [ALICE]), forged).action == REJECT
    entry = hasher_for(config).message("not-yet-replayed@example.test", ALICE)
    spool.append(today(), [(MESSAGE, [entry], 1)])
    waiting = inspector.inspect(Envelope("", [ALICE]), forged)
    assert (waiting.action, waiting.cause) == (TEMPFAIL, Cause.CATCHING_UP)
    assert waiting.reply is not None and waiting.reply[0] == "451"


def test_a_drain_elsewhere_makes_refusals_wait_too(config: Config, ledger: Ledger) -> None:
    inspector = inspector_for(config, ledger)
    forged = messages.dsn(messages.original("<drained-elsewhere@example.test>"), failed="x@example.com")
    ledger.mark_catching_up(5)
    assert inspector.inspect(Envelope("", [ALICE]), forged).cause == Cause.CATCHING_UP
    ledger.client.delete(ledger.catching_up_key())
    assert inspector.inspect(Envelope("", [ALICE]), forged).action == REJECT


@pytest.fixture()
def own_redis(tmp_path: Path) -> Iterator[RedisServer]:
    """A Redis of the test's own, to stop, freeze and restart."""
    server = RedisServer(tmp_path / "own-redis").start()
    yield server
    if server.proc is not None and server.proc.poll() is None:
        os.kill(server.proc.pid, signal.SIGCONT)  # a stopped process ignores SIGTERM
    server.stop()


def test_a_stalled_redis_does_not_hold_the_answer_and_nothing_is_lost(
        config: Config, own_redis: RedisServer) -> None:
    client = connect(own_redis.url, socket_timeout=2.0, connect_timeout=2.0)
    observer = Observer.from_config(config, client, background=True)
    decision = inspector_for(config, Ledger(client)).inspect(
        Envelope("", [ALICE], queue_id="STALL1"), messages.dsn(messages.original("<x@example.test>")))
    assert own_redis.proc is not None
    try:
        os.kill(own_redis.proc.pid, signal.SIGSTOP)  # a write stall: the process is there, silent
        started = time.monotonic()
        observer.decided(Envelope("", [ALICE], queue_id="STALL1"), decision, 0.001)
        assert time.monotonic() - started < 0.5  # the 2 s write stall did not hold the call
    finally:
        os.kill(own_redis.proc.pid, signal.SIGCONT)
    assert observer.flush(15)
    values = {k.decode(): int(v) for k, v in client.hgetall(counters.counters_key("sl", today())).items()}
    assert values["candidates"] == 1 and values["action:reject"] == 1
    observer.close()


def test_what_could_not_be_written_during_an_outage_is_counted_when_redis_returns(
        config: Config, own_redis: RedisServer) -> None:
    client = connect(own_redis.url, socket_timeout=0.3, connect_timeout=0.3)
    observer = Observer.from_config(config, client, background=True)
    inspector = inspector_for(config, Ledger(client))
    own_redis.stop()
    envelope = Envelope("", [ALICE], queue_id="DOWN1")
    decision = inspector.inspect(envelope, messages.dsn(messages.original("<y@example.test>")))
    assert decision.cause == Cause.UNREACHABLE and decision.action == TEMPFAIL
    observer.decided(envelope, decision, 0.3)
    observer.recorded("spooled", 0.3)
    assert not observer.flush(0.5)  # still down: kept
    own_redis.start()
    assert observer.flush(15)
    values = {k.decode(): int(v) for k, v in client.hgetall(counters.counters_key("sl", today())).items()}
    assert values["failed"] == 1 and values["action:tempfail"] == 1 and values["cause:unreachable"] == 1
    assert values["spooled"] == 1
    observer.close()


def test_a_claim_whose_reply_was_lost_is_given_back_so_the_retry_counts_once(
        config: Config, own_redis: RedisServer, recorder: Recorder) -> None:
    """The lookup and the claim are one call: if its reply is lost the answer is 451, and
    whatever it may have counted is given back later, so the sender's retry counts once."""
    client = connect(own_redis.url, socket_timeout=0.3, connect_timeout=0.3)
    led = Ledger(client, config.redis.namespace, config.ledger.lifetime_days, config.ledger.bucket_bits)
    Recorder(led, hasher_for(config)).record(SentMessage(ALICE, ["r0@example.com"], "<late@example.test>"))
    observer = Observer.from_config(config, client, background=True)
    inspector = inspector_for(config, led, later=observer.later)
    dsn = messages.dsn(messages.original("<late@example.test>"), failed="r0@example.com")
    assert inspector.inspect(Envelope("", [ALICE]), dsn).matches  # loads the code, finds the entry
    entry = hasher_for(config).message("late@example.test", ALICE)
    assert own_redis.proc is not None
    os.kill(own_redis.proc.pid, signal.SIGSTOP)
    try:
        lost = inspector.inspect(Envelope("", [ALICE]), dsn, claim=True)
        assert lost.action == TEMPFAIL and lost.cause == Cause.UNREACHABLE
    finally:
        os.kill(own_redis.proc.pid, signal.SIGCONT)
    assert observer.flush(15)
    assert led.find([entry])[entry].matches == 0  # the claim, if it landed, was given back
    retry = inspector.inspect(Envelope("", [ALICE]), dsn, claim=True)
    assert retry.action == ACCEPT and retry.matched
    assert led.find([entry])[entry].matches == 1
    observer.close()


def _finding(inspector: object, raw: bytes):  # type: ignore[no-untyped-def]
    from ledger.check import examine, parse

    return examine(parse(raw, Envelope("", [ALICE])))
