"""The hooks the milters call, against the private Redis: counters, log, metrics.

The milters call exactly these (Observer.ordinary / decided / ride /
recorded) around the Inspector and the Recorder; the pymilter glue itself is
covered end to end through Postfix.
"""

from __future__ import annotations

import time
import urllib.request
from dataclasses import replace
from pathlib import Path

import pytest
import redis
from redis.crc import key_slot

from ledger.cli import main
from ledger.config import Config, ConfigError
from ledger.days import SECONDS_PER_DAY, today
from ledger.decide import Cause, Decision
from ledger.errors import LedgerUnavailable
from ledger.observe import Observer, counters, decision_log
from ledger.observe.metrics import Metrics, metrics_for
from ledger.observe.observer import RECORDED, SKIPPED
from ledger.record import Recorder, RecordResult, SentMessage
from ledger.redis_client import connect
from ledger.store import Ledger
from ledger.trip import RoundTrip
from ledger.verdict import Inspector
from testbed import free_port
from tests.observe_helpers import bounce_envelope, dsn, sent


def observer_for(config: Config, client: redis.Redis, metrics: Metrics | None = None) -> Observer:
    return Observer.from_config(config, client, metrics)


def day_counters(client: redis.Redis, namespace: str = "sl") -> dict[str, int]:
    return counters.read_days(client, namespace, [today()])[0].values


def test_matched_bounce_is_logged_and_counted(config: Config, redis_client: redis.Redis,
                                              recorder: Recorder, inspector: Inspector) -> None:
    recorder.record(sent("orig-1@example.test"))
    envelope = bounce_envelope()
    decision = inspector.inspect(envelope, dsn("orig-1@example.test"))
    assert decision.matched and decision.action == "accept"
    assert observer_for(config, redis_client).decided(envelope, decision, 0.002)

    values = day_counters(redis_client)
    assert values["candidates"] == 1 and values["matched"] == 1
    assert values["action:accept"] == 1 and values["kind:dsn"] == 1
    assert values["cause:matched"] == 1
    [entry] = decision_log.read(redis_client, "sl")
    assert (entry.queue_id, entry.client, entry.kind, entry.action, entry.matched) == (
        "4AbC1", "mx.fail.test[192.0.2.7]", "dsn", "accept", True)
    assert entry.mail_from == ""
    # Addresses are kept as keyed hashes at their domain by default, never in clear.
    assert entry.recipients[0].endswith("@example.test") and "alice" not in entry.recipients[0]
    assert abs(entry.time - time.time()) < 60


def test_unmatched_bounce_is_logged_as_a_rejection(config: Config, redis_client: redis.Redis,
                                                   inspector: Inspector) -> None:
    envelope = bounce_envelope("5XyZ2")
    decision = inspector.inspect(envelope, dsn("forged@example.test"))
    assert decision.action == "reject"
    observer_for(config, redis_client).decided(envelope, decision, 0.001)
    values = day_counters(redis_client)
    assert values["unmatched"] == 1 and values["action:reject"] == 1
    assert values["cause:unmatched"] == 1
    [entry] = decision_log.read(redis_client, "sl", actions=frozenset({"reject"}))
    assert entry.queue_id == "5XyZ2" and entry.references == 1
    assert decision_log.read(redis_client, "sl", actions=frozenset({"accept"})) == []


def test_observing_keys_expire_and_share_one_slot(config: Config, redis_client: redis.Redis,
                                                  inspector: Inspector) -> None:
    envelope = bounce_envelope()
    observer_for(config, redis_client).decided(envelope, inspector.inspect(envelope, dsn("x@y")), 0.0)
    stats_key = counters.counters_key("sl", today())
    log_key = decision_log.log_key("sl")
    stats_ttl, log_ttl = redis_client.ttl(stats_key), redis_client.ttl(log_key)
    keep = config.observe.counter_days + 1
    assert (keep - 1) * SECONDS_PER_DAY < stats_ttl <= keep * SECONDS_PER_DAY
    assert 0 < log_ttl <= config.observe.log_days * SECONDS_PER_DAY
    # One Redis Cluster slot for both, so their pipeline is one round trip there too.
    assert key_slot(stats_key.encode()) == key_slot(log_key.encode())
    assert key_slot(stats_key.encode()) == key_slot(counters.counters_key("sl", today() - 3).encode())


def test_log_is_capped(config: Config, redis_client: redis.Redis) -> None:
    observer = observer_for(replace(config, observe=replace(config.observe, log_entries=100)), redis_client)
    decision = Decision("reject", "no reference is in the ledger (1 checked)", True, "dsn",
                        cause=Cause.UNMATCHED, outcome="reject")
    for n in range(1000):
        observer.decided(bounce_envelope(f"Q{n}"), decision, 0.0)
    length = redis_client.xlen(decision_log.log_key("sl"))
    assert 100 <= length < 1000  # MAXLEN ~ trims whole stream nodes
    assert day_counters(redis_client)["candidates"] == 1000
    newest = decision_log.read(redis_client, "sl", limit=3)
    assert [e.queue_id for e in newest] == ["Q999", "Q998", "Q997"]


def test_log_since_filter(config: Config, redis_client: redis.Redis) -> None:
    observer = observer_for(config, redis_client)
    decision = Decision("reject", "no reference is in the ledger (1 checked)", True, "dsn",
                        cause=Cause.UNMATCHED, outcome="reject")
    observer.decided(bounce_envelope("OLD"), decision, 0.0)
    time.sleep(0.02)
    cut = time.time()
    observer.decided(bounce_envelope("NEW"), decision, 0.0)
    assert [e.queue_id for e in decision_log.read(redis_client, "sl", since=cut)] == ["NEW"]


def test_ordinary_mail_makes_no_redis_call(config: Config, redis_client: redis.Redis) -> None:
    metrics = Metrics()
    observer = observer_for(config, redis_client, metrics)
    redis_client.config_resetstat()
    for _ in range(50):
        observer.ordinary(0.00001)
    stats = redis_client.info("commandstats")
    # Only the INFO itself (and the CONFIG RESETSTAT before) ran.
    assert set(stats) <= {"cmdstat_info", "cmdstat_config|resetstat"}, stats
    assert 'sender_ledger_decisions_total{action="accept",kind="ordinary"} 50.0' in metrics.text()


def test_an_unreachable_verdict_is_logged_and_counted_as_failed(config: Config,
                                                                redis_client: redis.Redis) -> None:
    """Written by the bookkeeper (off the reply path) once Redis answers, so stats show the outage."""
    metrics = Metrics()
    decision = Decision("tempfail", "ledger unreachable (timeout)", True, "dsn",
                        reply=("451", "4.7.1", "later"), cause=Cause.UNREACHABLE, outcome="tempfail")
    assert observer_for(config, redis_client, metrics).decided(bounce_envelope(), decision, 0.5)
    [entry] = decision_log.read(redis_client, "sl")
    assert (entry.action, entry.cause) == ("tempfail", "unreachable")
    assert day_counters(redis_client)["failed"] == 1
    assert 'sender_ledger_redis_errors_total{operation="lookup"} 1.0' in metrics.text()


def test_redis_down_is_logged_and_counted_never_raised(config: Config, tmp_path: Path,
                                                       caplog: pytest.LogCaptureFixture) -> None:
    dead = connect(f"unix://{tmp_path}/nothing.sock", 0.1, 0.1)
    metrics = Metrics()
    observer = observer_for(config, dead, metrics)
    decision = Decision("reject", "no reference is in the ledger (1 checked)", True, "dsn",
                        cause=Cause.UNMATCHED, outcome="reject")
    assert observer.decided(bounce_envelope("DEAD1"), decision, 0.001) is False
    assert 'sender_ledger_redis_errors_total{operation="observe"} 1.0' in metrics.text()
    assert "bookkeeping: Redis error" in caplog.text and "kept for later" in caplog.text


def record_as_the_milter(observer: Observer, recorder: Recorder, message: SentMessage) -> RecordResult:
    """What the outbound milter does at end of message: one trip with the riders, then count."""
    trip = RoundTrip(recorder.ledger.client)
    observer.ride(trip)
    try:
        result = recorder.record(message, trip=trip)
    finally:
        trip.run()
    observer.recorded(RECORDED if result.entries or result.pairs else SKIPPED, 0.001)
    return result


def test_record_counter_rides_on_the_next_record_round_trip(config: Config, redis_client: redis.Redis,
                                                            recorder: Recorder, ledger: Ledger) -> None:
    observer = Observer.from_config(config, redis_client, background=True, linger=60)
    try:
        result = record_as_the_milter(observer, recorder, sent("out-1@example.test"))
        assert result.entries and ledger.find(list(result.entries))
        assert day_counters(redis_client).get("recorded", 0) == 0  # waits for a ride
        # Nothing to record (null sender): nothing counted, but its trip carries the first count.
        record_as_the_milter(observer, recorder, sent("out-2@example.test", sender=""))
        assert day_counters(redis_client)["recorded"] == 1
        record_as_the_milter(observer, recorder, sent("out-3@example.test"))
        assert observer.flush()
        assert day_counters(redis_client)["recorded"] == 2
    finally:
        observer.close()


def test_a_failing_rider_never_fails_the_record(redis_client: redis.Redis, recorder: Recorder,
                                                ledger: Ledger) -> None:
    redis_client.set("not-a-hash", "x")
    trip = RoundTrip(redis_client)
    trip.pipe.hincrby("not-a-hash", "recorded", 1)  # WRONGTYPE
    result = recorder.record(sent("out-3@example.test"), trip=trip)
    assert len(ledger.find(list(result.entries))) == len(result.entries)


def test_record_metrics(config: Config, redis_client: redis.Redis) -> None:
    metrics = Metrics()
    observer = observer_for(config, redis_client, metrics)
    observer.recorded("recorded", 0.0004)
    observer.recorded("failed", 0.5)
    text = metrics.text()
    assert 'sender_ledger_records_total{result="recorded"} 1.0' in text
    assert 'sender_ledger_redis_errors_total{operation="record"} 1.0' in text
    assert "sender_ledger_record_seconds_count 2.0" in text


def test_metrics_are_served_over_http(config: Config, redis_client: redis.Redis,
                                      inspector: Inspector) -> None:
    metrics = metrics_for(f"127.0.0.1:{free_port()}", "metrics.inbound_listen")
    assert metrics is not None and metrics.server is not None
    try:
        observer = observer_for(config, redis_client, metrics)
        envelope = bounce_envelope()
        observer.decided(envelope, inspector.inspect(envelope, dsn("x@example.test")), 0.003)
        host, port = metrics.server.server_address[:2]
        with urllib.request.urlopen(f"http://{host}:{port}/metrics", timeout=5) as reply:
            body = reply.read().decode()
        assert 'sender_ledger_decisions_total{action="reject",kind="dsn"} 1.0' in body
        assert 'sender_ledger_decision_seconds_bucket{le="0.005",path="candidate"} 1.0' in body
    finally:
        metrics.close()


def test_metrics_off_by_default_and_a_clear_error_without_the_package(
        monkeypatch: pytest.MonkeyPatch) -> None:
    assert metrics_for("", "metrics.inbound_listen") is None
    monkeypatch.setitem(__import__("sys").modules, "prometheus_client", None)
    with pytest.raises(ConfigError, match=r"metrics\.inbound_listen is set but .*prometheus_client"):
        metrics_for("127.0.0.1:9", "metrics.inbound_listen")


def test_busy_metrics_port_is_a_config_error() -> None:
    first = metrics_for(f"127.0.0.1:{free_port()}", "k")
    assert first is not None and first.server is not None
    try:
        port = first.server.server_address[1]
        with pytest.raises(ConfigError, match="cannot listen"):
            metrics_for(f"127.0.0.1:{port}", "k")
    finally:
        first.close()



def test_a_failing_record_still_fails_with_a_rider(redis_client: redis.Redis, recorder: Recorder,
                                                   ledger: Ledger, config: Config) -> None:
    message = sent("out-4@example.test")
    [entry] = recorder.entries(message).entries
    redis_client.set(ledger.key(entry.bucket, today()), "not a hash")
    trip = RoundTrip(redis_client)
    trip.pipe.hincrby("sl:{obs}:stats:1", "recorded", 1)
    with pytest.raises(LedgerUnavailable, match="WRONGTYPE"):
        recorder.record(message, trip=trip)


def test_bad_metrics_address_on_the_command_line_is_one_line(
        config_file: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    socket_dir = tmp_path / "not-made"
    assert main(["milter", "inbound", "--config", str(config_file), "--metrics-listen", "nowhere",
                 "--socket", f"unix:{socket_dir}/in.sock"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("sender-ledger: configuration error: metrics listen address: expected HOST:PORT")
    assert not socket_dir.exists()  # refused before anything was made


def redis_dump(client: redis.Redis) -> bytes:
    """Every key, hash field, value and stream entry in the Redis, as one byte string."""
    parts: list[bytes] = []
    for key in client.scan_iter("*"):
        parts.append(key)
        kind = client.type(key)
        if kind == b"hash":
            parts += [b for item in client.hgetall(key).items() for b in item]
        elif kind == b"stream":
            parts += [b for _, fields in client.xrange(key) for item in fields.items() for b in item]
    return b"\n".join(parts)


def test_an_envelope_accept_leaves_no_address_in_clear(config: Config, redis_client: redis.Redis,
                                                       recorder: Recorder, inspector: Inspector) -> None:
    """An envelope accept: neither its reason nor anything Redis keeps names an address."""
    recorder.record(sent("orig-9@example.test"))  # alice wrote to bob@fail.test
    no_reference = dsn("orig-9@example.test").split(b"--B\r\nContent-Type: text/rfc822-headers")[0]
    decision = inspector.inspect(bounce_envelope(), no_reference + b"--B--\r\n")
    assert decision.matched and decision.reason.startswith("envelope: ")
    assert "bob@" not in decision.reason and "alice@" not in decision.reason
    assert observer_for(config, redis_client).decided(bounce_envelope(), decision, 0.002)
    dump = redis_dump(redis_client)
    assert b"envelope" in dump  # the counters and the log entry were written
    assert b"bob@" not in dump and b"alice@" not in dump
    [entry] = decision_log.read(redis_client, "sl")
    assert entry.reason.startswith("envelope: the recipient recently wrote to")
    assert entry.cause == "envelope"
