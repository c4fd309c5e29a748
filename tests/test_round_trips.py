"""Redis round trips per end of message, counted by a real private Redis.

The caller owns the round trip (issue 9): a candidate's lookup, its budget
claim, the catching-up flag and the bookkeeping earlier decisions left
pending go on one pipeline, executed once; an outbound record and the
pending counters likewise. Ordinary mail costs none.

The count is the server's own: ``INFO stats`` ``total_reads_processed`` (one
read event per request the server receives; each of these pipelines is a
few hundred bytes, read at once) on a Redis no other test uses, minus the
probe's own INFO. The milters are built by their factories and driven
in-process through pymilter's test context, with a bookkeeper whose thread
waits a minute before it writes on its own, so every write that happens
is one the milters' round trips carried.
"""

from __future__ import annotations

import email
from collections.abc import Callable, Iterator
from pathlib import Path

import Milter
import pytest
from Milter.testctx import TestCtx as MilterContext  # not "Test*": pytest would collect it

from ledger.config import Config, load_config
from ledger.days import today
from ledger.milter.inbound import make_inbound
from ledger.milter.outbound import make_outbound
from ledger.observe import Observer, counters, decision_log
from ledger.record import SentMessage
from ledger.redis_client import connect
from ledger.services import inspector_for, open_ledger, recorder_for
from testbed import RedisServer
from tests import messages
from tests.conftest import SECRET, write_config

ALICE = "alice@example.test"


@pytest.fixture(scope="module")
def quiet_redis(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    """A Redis only this module talks to: every read event it counts is ours."""
    server = RedisServer(tmp_path_factory.mktemp("round-trips") / "redis").start()
    yield server
    server.stop()


@pytest.fixture()
def cfg(tmp_path: Path, quiet_redis: RedisServer) -> Config:
    connect(quiet_redis.url).flushall()
    return load_config(str(write_config(tmp_path / "sender-ledger.toml", quiet_redis.url)))


class Reads:
    """Read events of the server since the last call, the probe's own INFO not counted."""

    def __init__(self, url: str) -> None:
        self.probe = connect(url)
        self.last = self._now()

    def _now(self) -> int:
        return int(self.probe.info("stats")["total_reads_processed"])

    def since(self) -> int:
        now = self._now()
        spent, self.last = now - self.last - 1, now
        return spent


def drive(factory: Callable[[], Milter.Base], mail_from: str, rcpts: list[str], raw: bytes,
          queue_id: str) -> tuple[int, MilterContext]:
    """One SMTP transaction through the milter, as libmilter calls it; returns the last answer."""
    saved = Milter.factory
    Milter.factory = factory
    try:
        ctx = MilterContext()
        ctx._setsymval("i", queue_id)
        ctx._msg = email.message_from_bytes(raw)  # where the test context puts header edits
        assert ctx._connect(ip="192.0.2.7") == Milter.CONTINUE
        ctx._envfrom(f"<{mail_from}>")
        for rcpt in rcpts:
            ctx._envrcpt(f"<{rcpt}>")
        ctx._data()
        headers, body = messages.split(raw)
        for name, value in headers:
            ctx._header(name, value)
        rc = ctx._eoh()
        if rc == Milter.CONTINUE:
            if body:
                ctx._priv.body(body)
            rc = ctx._eom()
        ctx._close()
        return rc, ctx
    finally:
        Milter.factory = saved


def test_one_round_trip_per_end_of_message(cfg: Config, quiet_redis: RedisServer) -> None:
    ledger = open_ledger(cfg)
    inbound_observer = Observer.from_config(cfg, ledger.client, background=True, linger=60)
    outbound_observer = Observer.from_config(cfg, ledger.client, background=True, linger=60)
    inbound = make_inbound(inspector_for(cfg, ledger, later=inbound_observer.later), inbound_observer)
    outbound = make_outbound(recorder_for(cfg, ledger), outbound_observer, "example.test")
    try:
        def send(i: int) -> int:
            return drive(outbound, ALICE, ["bob@example.com"], messages.original(f"<rt-{i}@example.test>"),
                         f"OUT{i}")[0]

        def real(i: int) -> int:
            return drive(inbound, "", [ALICE], messages.dsn(messages.original(f"<rt-{i}@example.test>")),
                         f"REAL{i}")[0]

        def forged(i: int) -> int:
            raw = messages.dsn(messages.original(f"<forged-{i}@example.test>"), failed="stranger@example.net")
            return drive(inbound, "", [ALICE], raw, f"FORGED{i}")[0]

        def ordinary(i: int) -> int:
            return drive(inbound, "carol@example.com", [ALICE], messages.ordinary(f"<o-{i}@example.com>"),
                         f"ORD{i}")[0]

        # Warm up: the connections are made and the ledger's code is loaded once per process.
        assert send(0) == Milter.ACCEPT and real(0) == Milter.ACCEPT and forged(0) == Milter.REJECT
        reads = Reads(quiet_redis.url)
        per_message: dict[str, list[int]] = {"outbound": [], "ordinary": [], "real DSN": [], "forged DSN": []}
        for i in range(1, 6):
            assert send(i) == Milter.ACCEPT
            per_message["outbound"].append(reads.since())
            assert ordinary(i) == Milter.ACCEPT
            per_message["ordinary"].append(reads.since())
            assert real(i) == Milter.ACCEPT
            per_message["real DSN"].append(reads.since())
            assert forged(i) == Milter.REJECT
            per_message["forged DSN"].append(reads.since())
        assert per_message == {"outbound": [1] * 5, "ordinary": [0] * 5, "real DSN": [1] * 5,
                               "forged DSN": [1] * 5}

        # What rode along was written: every decision's log entry and counters, every record's count.
        assert inbound_observer.flush() and outbound_observer.flush()
        day = counters.read_days(ledger.client, cfg.redis.namespace, [today()])[0]
        assert (day.get("candidates"), day.get("matched"), day.get("unmatched"), day.get("recorded")) == (
            12, 6, 6, 6)
        assert len(decision_log.read(ledger.client, cfg.redis.namespace, limit=100)) == 12
        for i in range(6):  # each real DSN took one unit of its original's budget, no more
            entry = recorder_for(cfg, ledger).hasher.message(f"rt-{i}@example.test", ALICE)
            assert ledger.find([entry])[entry].matches == 1
    finally:
        inbound_observer.close()
        outbound_observer.close()


def test_two_milters_built_by_the_factory_share_no_state(cfg: Config, quiet_redis: RedisServer,
                                                         tmp_path: Path) -> None:
    """Two inbound milters in one process, each with its own ledger, observer and trace header."""
    other_path = tmp_path / "other.toml"
    other_path.write_text(f'[secret]\nvalue = "{SECRET}"\n\n[redis]\nurl = "{quiet_redis.url}"\n'
                          'namespace = "other"\n\n[inbound]\ntrace_header = "X-Second"\n')
    other_cfg = load_config(str(other_path))
    first_ledger, second_ledger = open_ledger(cfg), open_ledger(other_cfg)
    first = make_inbound(inspector_for(cfg, first_ledger), Observer.from_config(cfg, first_ledger.client),
                         "X-First")
    second = make_inbound(inspector_for(other_cfg, second_ledger),
                          Observer.from_config(other_cfg, second_ledger.client),
                          other_cfg.inbound.trace_header)
    recorder_for(cfg, first_ledger).record(SentMessage(ALICE, ["bob@example.com"], "<shared-1@example.test>"))
    dsn = messages.dsn(messages.original("<shared-1@example.test>"))
    rc1, ctx1 = drive(first, "", [ALICE], dsn, "Q1")
    rc2, ctx2 = drive(second, "", [ALICE], dsn, "Q2")
    # Recorded in the first ledger only: the first accepts with its own header, the second refuses.
    assert rc1 == Milter.ACCEPT and str(ctx1._msg["X-First"]).startswith("pass (dsn;")
    assert rc2 == Milter.REJECT and ctx2._reply is not None and ctx2._reply[0] == "550"
    one, two = ctx1._priv, ctx2._priv
    assert one.inspector is not two.inspector and one.observer is not two.observer
    client = connect(quiet_redis.url)
    logged = {ns: [(e.queue_id, e.action) for e in decision_log.read(client, ns)] for ns in ("sl", "other")}
    assert logged == {"sl": [("Q1", "accept")], "other": [("Q2", "reject")]}
