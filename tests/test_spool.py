"""The outbound spool: kept on disk while the ledger is away, replayed once, nothing in clear."""

from __future__ import annotations

import json
import logging
import subprocess
import sys
from pathlib import Path

import pytest
import redis

from ledger.config import Config
from ledger.days import today
from ledger.drain import Drainer, drain
from ledger.hashing import MESSAGE, PAIR
from ledger.record import Recorder, SentMessage, SpoolFailed
from ledger.redis_client import connect
from ledger.services import hasher_for
from ledger.spool import Spool, SpoolError
from ledger.store import Ledger
from testbed import RedisServer

ALICE = "alice@example.test"


def sent(mid: str, rcpts: int = 1) -> SentMessage:
    return SentMessage(ALICE, [f"rcpt{n}@example.com" for n in range(rcpts)], mid, f"Alice <{ALICE}>")


@pytest.fixture()
def dead_ledger(tmp_path: Path, config: Config) -> Ledger:
    """A ledger whose Redis is not there: every write fails at once."""
    return Ledger(connect(f"unix://{tmp_path}/no-redis.sock", 0.1, 0.1), config.redis.namespace,
                  config.ledger.lifetime_days, config.ledger.bucket_bits)


def test_a_record_the_ledger_refuses_is_spooled_hashed_and_replayed_once(
        tmp_path: Path, config: Config, ledger: Ledger, dead_ledger: Ledger) -> None:
    spool = Spool(tmp_path / "spool", 1 << 20)
    hasher = hasher_for(config)
    down = Recorder(dead_ledger, hasher, spool)
    result = down.record(sent("<spooled-1@example.test>", rcpts=10))
    assert result.spooled and "connecting" in result.spooled
    raw = b"".join(p.read_bytes() for p in spool.segments())
    assert b"spooled-1" not in raw and b"alice" not in raw and b"example" not in raw  # hashes only
    line = json.loads(raw.splitlines()[0])
    assert line["d"] == today() and {k for k, _, _ in line["k"]} == {"m", "p"}

    entry = hasher.message("spooled-1@example.test", ALICE)
    assert entry not in ledger.find([entry])
    first = drain(spool, ledger)
    assert (first.replayed, first.new, first.error) == (1, 1, None)
    found = ledger.find([entry])[entry]
    assert found.recipients == 10 and found.day == today()  # its recipient count and day kept
    assert spool.status().records == 0 and not spool.pending()
    # Idempotent: a record replayed again (its first write had landed after all) counts once.
    spool.append(today(), result.batches(10))
    ledger.count_match(found)
    again = drain(spool, ledger)
    assert (again.replayed, again.new) == (1, 0)
    assert ledger.find([entry])[entry].matches == 1  # the bounce already counted is kept


def test_the_spool_survives_a_restart_and_skips_a_torn_line(
        tmp_path: Path, config: Config, ledger: Ledger, dead_ledger: Ledger,
        caplog: pytest.LogCaptureFixture) -> None:
    directory = tmp_path / "spool"
    first = Spool(directory, 1 << 20)
    Recorder(dead_ledger, hasher_for(config), first).record(sent("<before-restart@example.test>"))
    first.close()
    segment = first.segments()[0]
    with open(segment, "ab") as fh:
        fh.write(b'{"d": 1, "t": 2, "k": [["m", 1, ["3:00')  # a crash mid-write
    restarted = Spool(directory, 1 << 20)  # a new process: nothing in memory
    assert restarted.status().records == 1
    with caplog.at_level(logging.WARNING):
        result = drain(restarted, ledger)
    assert (result.replayed, result.skipped) == (1, 1) and "torn" in caplog.text
    entry = hasher_for(config).message("before-restart@example.test", ALICE)
    assert entry in ledger.find([entry])
    assert restarted.segments() == []


def test_a_full_spool_refuses_loudly_and_warns_before(tmp_path: Path, config: Config,
                                                       dead_ledger: Ledger,
                                                       caplog: pytest.LogCaptureFixture) -> None:
    spool = Spool(tmp_path / "spool", 64 * 1024)
    recorder = Recorder(dead_ledger, hasher_for(config), spool)
    with caplog.at_level(logging.WARNING), pytest.raises(SpoolFailed, match="is full"):
        for n in range(10_000):
            recorder.record(sent(f"<fill-{n}@example.test>"))
    assert "% full" in caplog.text
    assert spool.bytes_used() <= 64 * 1024


def test_an_active_segment_is_never_claimed_by_another_replayer(tmp_path: Path, config: Config,
                                                                  ledger: Ledger) -> None:
    writer = Spool(tmp_path / "spool", 1 << 20)
    writer.append(today(), [(MESSAGE, [hasher_for(config).message("a@example.test", ALICE)], 1)])
    other = Spool(tmp_path / "spool", 1 << 20)  # e.g. `sender-ledger spool flush` meanwhile
    assert drain(other, ledger, seal=False).replayed == 0  # the writer holds its segment
    writer.seal()
    assert drain(other, ledger, seal=False).replayed == 1


def test_the_drainer_replays_once_redis_is_back(tmp_path: Path, config: Config) -> None:
    server = RedisServer(tmp_path / "redis").start()
    try:
        client = connect(server.url, 0.2, 0.2)
        led = Ledger(client, config.redis.namespace, config.ledger.lifetime_days, config.ledger.bucket_bits)
        spool = Spool(tmp_path / "spool", 1 << 20)
        recorder = Recorder(led, hasher_for(config), spool)
        server.stop()
        results = [recorder.record(sent(f"<flap-{n}@example.test>")) for n in range(5)]
        assert all(r.spooled for r in results)
        drainer = Drainer(spool, led, interval=0.05)
        assert drainer.run_once() is not None and spool.pending()  # still down: kept
        server.start()
        replayed = drainer.run_once()
        assert replayed is not None and replayed.replayed == 5
        entries = [hasher_for(config).message(f"flap-{n}@example.test", ALICE) for n in range(5)]
        assert len(led.find(entries)) == 5
        assert led.catching_up()  # inbound refusals wait a little longer
    finally:
        server.stop()


def test_pairs_are_spooled_too(tmp_path: Path, config: Config, ledger: Ledger, dead_ledger: Ledger) -> None:
    spool = Spool(tmp_path / "spool", 1 << 20)
    Recorder(dead_ledger, hasher_for(config), spool).record(sent("<with-pairs@example.test>", rcpts=2))
    drain(spool, ledger)
    pairs = [hasher_for(config).pair(ALICE, f"rcpt{n}@example.com") for n in range(2)]
    assert len(ledger.find(pairs, kind=PAIR)) == 2


def test_spool_command_shows_and_flushes(tmp_path: Path, config: Config, config_file: Path,
                                         dead_ledger: Ledger, redis_client: redis.Redis) -> None:
    spool = Spool(config.outbound.spool_dir, config.outbound.spool_max_bytes)
    for n in range(3):
        Recorder(dead_ledger, hasher_for(config), spool).record(sent(f"<cli-{n}@example.test>"))
    spool.close()

    def cli(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "ledger", "spool", *args, "--config", str(config_file)],
                              capture_output=True, text=True, timeout=60)

    status = cli("--json")
    assert status.returncode == 0, status.stderr
    assert json.loads(status.stdout)["spool"]["records"] == 3
    assert "3 record(s) waiting" in cli().stdout
    flushed = cli("flush")
    assert flushed.returncode == 0, flushed.stderr
    assert "replayed 3 record(s)" in flushed.stdout and "empty" in flushed.stdout


def test_spool_errors_are_one_line(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    with pytest.raises(SpoolError, match="cannot write to spool"):
        Spool(blocker / "spool", 1 << 20).append(today(), [(MESSAGE, [], 1)])


def test_doctor_and_metrics_report_the_spool(tmp_path: Path, config: Config, dead_ledger: Ledger) -> None:
    from ledger.observe.metrics import Metrics
    from ledger.ops.doctor import OK, WARN, check_spool

    assert check_spool(config).status == OK
    spool = Spool(config.outbound.spool_dir, config.outbound.spool_max_bytes)
    Recorder(dead_ledger, hasher_for(config), spool).record(sent("<doctor@example.test>"))
    spool.close()
    waiting = check_spool(config)
    assert waiting.status == OK and "1 record(s) waiting" in waiting.reason
    old = time_shifted(spool, -120)
    assert check_spool(config).status == WARN and old
    metrics = Metrics()
    metrics.watch_spool(spool)
    text = metrics.text()
    assert "sender_ledger_spool_records 1.0" in text
    assert "sender_ledger_spool_oldest_seconds 1" in text  # about 120 s old
    assert "sender_ledger_spool_bytes" in text


def time_shifted(spool: Spool, seconds: float) -> bool:
    """Rewrite the spool's records as if spooled ``seconds`` from now (negative: in the past)."""
    for path in spool.segments():
        lines = []
        for line in path.read_bytes().splitlines():
            raw = json.loads(line)
            raw["t"] += seconds
            lines.append(json.dumps(raw).encode())
        path.write_bytes(b"\n".join(lines) + b"\n")
    return True
