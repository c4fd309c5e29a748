"""stats, log, lookup, purge, export and import, run as the operator runs them."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest
import redis

from ledger.cli import main
from ledger.config import Config, ConfigError, load_config
from ledger.days import SECONDS_PER_DAY, today
from ledger.hashing import Hasher
from ledger.observe import Observer
from ledger.observe.observer import RECORDED
from ledger.observe.timefmt import day_date
from ledger.record import Recorder
from ledger.store import Ledger
from ledger.verdict import Inspector
from tests.conftest import write_config
from tests.observe_helpers import SENDER, bounce_envelope, dsn, sent


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def record_days(ledger: Ledger, hasher: Hasher, spread: dict[int, int]) -> None:
    """Record ``count`` synthetic entries on each of the given days ago."""
    for ago, count in spread.items():
        entries = [hasher.message(f"m{ago}-{n}@example.test", SENDER) for n in range(count)]
        ledger.record(entries, recipients=2, day=today() - ago)


def decide_some(config: Config, redis_client: redis.Redis, recorder: Recorder,
                inspector: Inspector) -> None:
    """One matched bounce, two forged ones (to an address never written to, so the
    envelope check cannot accept them either)."""
    observer = Observer.from_config(config, redis_client)
    recorder.record(sent("real@example.test"))
    observer.recorded(RECORDED, 0.001)
    for qid, ref in (("QA1", "real@example.test"), ("QR1", "forged1@x"), ("QR2", "forged2@x")):
        envelope = bounce_envelope(qid)
        failed = "bob@fail.test" if qid == "QA1" else "stranger@fail.test"
        decision = inspector.inspect(envelope, dsn(ref, failed=failed), claim=True)
        observer.decided(envelope, decision, 0.001)


# -- stats -------------------------------------------------------------------
def test_stats_json(capsys: pytest.CaptureFixture[str], config_file: Path, config: Config,
                    redis_client: redis.Redis, ledger: Ledger, hasher: Hasher, recorder: Recorder,
                    inspector: Inspector) -> None:
    record_days(ledger, hasher, {0: 40, 3: 25, 12: 10})
    decide_some(config, redis_client, recorder, inspector)
    code, out, _ = run(capsys, "stats", "--config", str(config_file), "--json")
    assert code == 0
    stats = json.loads(out)
    # the recorded real message has one sender address and one (sender, recipient) pair
    live = 40 + 25 + 10 + 1 + 1
    assert stats["entries"] == live
    spread = {d["day"]: d["entries"] for d in stats["spread"]}
    assert spread == {day_date(today()): 42, day_date(today() - 3): 25, day_date(today() - 12): 10}
    assert stats["memory_exact"] and stats["memory_bytes"] > 0
    assert 5 < stats["bytes_per_entry"] < 200
    assert stats["redis_used_memory"] >= stats["memory_bytes"]
    day = stats["days"][0]
    assert day["day"] == day_date(today())
    assert (day["recorded"], day["candidates"], day["matched"], day["unmatched"]) == (1, 3, 1, 2)
    assert (day["rejected"], day["accepted"], day["tagged"], day["tempfailed"]) == (2, 1, 0, 0)
    assert day["causes"] == {"unmatched": 2, "matched": 1}
    assert day["kinds"] == {"dsn": 3}
    assert len(stats["days"]) == 7 and stats["days"][1]["candidates"] == 0


def test_stats_memory_sampled(capsys: pytest.CaptureFixture[str], config_file: Path, ledger: Ledger,
                              hasher: Hasher) -> None:
    record_days(ledger, hasher, {0: 300, 1: 300, 2: 300})
    exact = json.loads(run(capsys, "stats", "--config", str(config_file), "--json")[1])
    sampled = json.loads(run(capsys, "stats", "--config", str(config_file), "--json",
                             "--sample", "20")[1])
    assert exact["memory_exact"] and not sampled["memory_exact"]
    assert sampled["memory_sampled_keys"] == 20 and sampled["entries"] == 900
    assert 0.5 < sampled["memory_bytes"] / exact["memory_bytes"] < 2


def test_stats_table(capsys: pytest.CaptureFixture[str], config_file: Path, config: Config,
                     redis_client: redis.Redis, recorder: Recorder, inspector: Inspector) -> None:
    decide_some(config, redis_client, recorder, inspector)
    code, out, _ = run(capsys, "stats", "--config", str(config_file), "--days", "2")
    assert code == 0
    assert "2 live entries in 2 keys" in out  # the message and its (sender, recipient) pair
    line = next(li for li in out.splitlines() if li.startswith(day_date(today())) and "causes" not in li
                and "unmatched" in li)
    assert line.split()[1:9] == ["1", "3", "1", "2", "0", "2", "0", "0"]


def test_stats_unreachable_redis_is_one_line(capsys: pytest.CaptureFixture[str], config_file: Path,
                                             tmp_path: Path) -> None:
    code, out, err = run(capsys, "stats", "--config", str(config_file), "--redis",
                         f"unix://{tmp_path}/none.sock")
    assert code == 3 and out == "" and err.startswith("sender-ledger: ledger unreachable:")
    assert len(err.splitlines()) == 1


# -- log ---------------------------------------------------------------------
def test_log_json_and_filters(capsys: pytest.CaptureFixture[str], config_file: Path, config: Config,
                              redis_client: redis.Redis, recorder: Recorder,
                              inspector: Inspector) -> None:
    decide_some(config, redis_client, recorder, inspector)
    code, out, _ = run(capsys, "log", "--config", str(config_file), "--json")
    assert code == 0
    rows = [json.loads(line) for line in out.splitlines()]
    assert [r["queue_id"] for r in rows] == ["QR2", "QR1", "QA1"]
    assert set(rows[0]) >= {"time", "queue_id", "client", "mail_from", "recipients", "kind", "action",
                            "reason"}
    assert rows[0]["action"] == "reject" and rows[2]["action"] == "accept" and rows[2]["matched"]

    out = run(capsys, "log", "--config", str(config_file), "--json", "--action", "reject", "-n", "1")[1]
    assert [json.loads(li)["queue_id"] for li in out.splitlines()] == ["QR2"]
    out = run(capsys, "log", "--config", str(config_file), "--json", "--action", "accept",
              "--action", "tempfail")[1]
    assert [json.loads(li)["queue_id"] for li in out.splitlines()] == ["QA1"]
    out = run(capsys, "log", "--config", str(config_file), "--json", "--since", "1h")[1]
    assert len(out.splitlines()) == 3
    out = run(capsys, "log", "--config", str(config_file), "--since", "2999-01-01")[1]
    assert out.strip() == "no decisions logged that match"
    out = run(capsys, "log", "--config", str(config_file), "--json", "--address", SENDER.upper())[1]
    assert len(out.splitlines()) == 3
    out = run(capsys, "log", "--config", str(config_file), "--json", "--address", "bob@example.test")[1]
    assert out == ""


def test_log_table_and_bad_since(capsys: pytest.CaptureFixture[str], config_file: Path, config: Config,
                                 redis_client: redis.Redis, recorder: Recorder,
                                 inspector: Inspector) -> None:
    decide_some(config, redis_client, recorder, inspector)
    out = run(capsys, "log", "--config", str(config_file), "--action", "reject")[1]
    lines = out.splitlines()
    assert len(lines) == 2
    assert "QR2  mx.fail.test[192.0.2.7]  <> -> <h:" in lines[0]
    assert lines[0].endswith("dsn  reject: no reference is in the ledger (1 checked)")
    code, out, err = run(capsys, "log", "--config", str(config_file), "--since", "last tuesday")
    assert code == 1 and err.startswith("sender-ledger: --since: 'last tuesday' is neither")


def test_log_full_addresses_when_configured(capsys: pytest.CaptureFixture[str], tmp_path: Path,
                                            redis_server: object, redis_client: redis.Redis,
                                            inspector: Inspector) -> None:
    path = write_config(tmp_path / "full.toml", redis_server.url,  # type: ignore[attr-defined]
                        '[observe]\nlog_addresses = "full"\n')
    observer = Observer.from_config(load_config(str(path)), redis_client)
    envelope = bounce_envelope("QF1")
    observer.decided(envelope, inspector.inspect(envelope, dsn("f@x")), 0.0)
    [row] = [json.loads(li) for li in run(capsys, "log", "--config", str(path), "--json")[1].splitlines()]
    assert row["recipients"] == [SENDER]


# -- lookup ------------------------------------------------------------------
def test_lookup_json_found_day_and_matches(capsys: pytest.CaptureFixture[str], config_file: Path,
                                           config: Config, redis_client: redis.Redis,
                                           recorder: Recorder, inspector: Inspector) -> None:
    decide_some(config, redis_client, recorder, inspector)  # one bounce matched real@
    code, out, _ = run(capsys, "lookup", "--config", str(config_file), "--json", "<real@example.test>",
                       "--sender", SENDER)
    assert code == 0
    found = json.loads(out)
    assert (found["found"], found["day"], found["matches"], found["recipients"]) == (
        True, day_date(today()), 1, 1)
    envelope = bounce_envelope("QA2")
    inspector.inspect(envelope, dsn("real@example.test"), claim=True)
    assert json.loads(run(capsys, "lookup", "--config", str(config_file), "--json",
                          "real@example.test", "--sender", SENDER)[1])["matches"] == 2


def test_lookup_not_found_and_bad_input(capsys: pytest.CaptureFixture[str], config_file: Path) -> None:
    code, out, _ = run(capsys, "lookup", "--config", str(config_file), "--json", "<nope@example.test>",
                       "--sender", SENDER)
    assert code == 1
    assert json.loads(out) == {"message_id": "nope@example.test", "sender": SENDER, "found": False,
                               "day": None, "recipients": None, "matches": None}
    code, out, err = run(capsys, "lookup", "--config", str(config_file), "<>", "--sender", SENDER)
    assert code == 1 and "is not a Message-ID" in err
    code, out, err = run(capsys, "lookup", "--config", str(config_file), "<a@b>")
    assert code == 1 and "--sender" in err


def test_lookup_table(capsys: pytest.CaptureFixture[str], config_file: Path, recorder: Recorder) -> None:
    recorder.record(sent("t@example.test"))
    out = run(capsys, "lookup", "--config", str(config_file), "t@example.test", "--sender", SENDER)[1]
    assert out.strip() == (f"<t@example.test> from {SENDER}: in the ledger since {day_date(today())} "
                           "(1 recipient(s), 0 bounce(s) matched so far)")


# -- purge -------------------------------------------------------------------
def test_purge(capsys: pytest.CaptureFixture[str], config_file: Path, ledger: Ledger,
               hasher: Hasher, redis_client: redis.Redis) -> None:
    record_days(ledger, hasher, {0: 5, 9: 6, 10: 7, 20: 8})
    code, out, _ = run(capsys, "purge", "--config", str(config_file), "--older-than", "9", "--dry-run",
                       "--json")
    assert code == 0
    old_keys = [k for k in redis_client.scan_iter("sl:{*}:m:*") if int(k.rsplit(b":", 1)[1]) < today() - 9]
    assert json.loads(out) == {"before": day_date(today() - 9), "dry_run": True, "keys": len(old_keys),
                               "entries": 15, "days": [day_date(today() - 20), day_date(today() - 10)]}
    stats = json.loads(run(capsys, "stats", "--config", str(config_file), "--json")[1])
    assert stats["entries"] == 26
    out = run(capsys, "purge", "--config", str(config_file), "--older-than", "9")[1]
    assert out.startswith(f"deleted 15 entries in {len(old_keys)} keys sent before {day_date(today() - 9)}")
    assert redis_client.exists(*old_keys) == 0
    stats = json.loads(run(capsys, "stats", "--config", str(config_file), "--json")[1])
    assert stats["entries"] == 11
    assert {d["day"] for d in stats["spread"]} == {day_date(today()), day_date(today() - 9)}
    code, _, err = run(capsys, "purge", "--config", str(config_file), "--older-than", "-1")
    assert code == 1 and "--older-than" in err


def test_purge_leaves_other_namespaces_and_observing_keys(
        capsys: pytest.CaptureFixture[str], config_file: Path, config: Config, redis_client: redis.Redis,
        ledger: Ledger, hasher: Hasher, recorder: Recorder, inspector: Inspector) -> None:
    decide_some(config, redis_client, recorder, inspector)
    other = Ledger(redis_client, "other", 30, 6)
    other.record([hasher.message("o@x", SENDER)], day=today() - 5)
    run(capsys, "purge", "--config", str(config_file), "--older-than", "0")
    assert redis_client.exists(other.key(hasher.message("o@x", SENDER).bucket, today() - 5)) == 1
    # today's message entry and its (sender, recipient) pair are left
    assert json.loads(run(capsys, "stats", "--config", str(config_file), "--json")[1])["entries"] == 2
    assert run(capsys, "log", "--config", str(config_file))[1].count("\n") == 3


# -- export / import ---------------------------------------------------------
def test_export_import_round_trip_is_idempotent(
        capsys: pytest.CaptureFixture[str], config_file: Path, tmp_path: Path, redis_client: redis.Redis,
        ledger: Ledger, hasher: Hasher, recorder: Recorder, inspector: Inspector,
        monkeypatch: pytest.MonkeyPatch) -> None:
    record_days(ledger, hasher, {0: 30, 4: 20})
    recorder.record(sent("kept@example.test"))
    inspector.inspect(bounce_envelope(), dsn("kept@example.test"), claim=True)
    dump = tmp_path / "ledger.jsonl"
    code, _, err = run(capsys, "export", "--config", str(config_file), "-o", str(dump))
    assert code == 0 and err.strip() == "exported 52 entries"  # 50 + the message + its pair
    lines = dump.read_text().splitlines()
    head, first = json.loads(lines[0]), json.loads(lines[1])
    assert head["format"] == "sender-ledger-export" and head["bucket_bits"] == 6
    assert set(first) == {"kind", "bucket", "day", "field", "value"} and len(first["field"]) == 16
    # stdout export is the same data
    assert run(capsys, "export", "--config", str(config_file))[1].splitlines()[1:] == lines[1:]

    before = {k: (redis_client.hgetall(k), redis_client.ttl(k)) for k in redis_client.scan_iter("sl:{*}:m:*")}
    redis_client.flushall()
    code, out, _ = run(capsys, "import", "--config", str(config_file), str(dump), "--json")
    assert code == 0 and json.loads(out) == {"read": 52, "added": 52, "present": 0, "expired": 0}
    after = {k: (redis_client.hgetall(k), redis_client.ttl(k)) for k in redis_client.scan_iter("sl:{*}:m:*")}
    assert {k: v[0] for k, v in after.items()} == {k: v[0] for k, v in before.items()}
    for key, (_, ttl) in after.items():
        assert abs(ttl - before[key][1]) <= 5  # the same expiry, from the entry's day
    monkeypatch.setattr("sys.stdin", io.StringIO(dump.read_text()))
    out = run(capsys, "import", "--config", str(config_file))[1]
    assert out.strip() == "read 52 entries: 0 added, 52 already present, 0 skipped as expired"
    assert {k: redis_client.hgetall(k) for k in redis_client.scan_iter("sl:{*}:m:*")} == \
        {k: v[0] for k, v in after.items()}
    found = json.loads(run(capsys, "lookup", "--config", str(config_file), "--json", "kept@example.test",
                           "--sender", SENDER)[1])
    assert found["found"] and found["matches"] == 1


def test_import_refuses_what_could_never_match(capsys: pytest.CaptureFixture[str], config_file: Path,
                                               tmp_path: Path, redis_server: object, ledger: Ledger,
                                               hasher: Hasher, redis_client: redis.Redis) -> None:
    record_days(ledger, hasher, {0: 3})
    dump = tmp_path / "d.jsonl"
    run(capsys, "export", "--config", str(config_file), "-o", str(dump))
    other = tmp_path / "other.toml"
    other.write_text(f'[secret]\nvalue = "another-secret-0123456789"\n[redis]\nurl = '
                     f'"{redis_server.url}"\n')  # type: ignore[attr-defined]
    redis_client.flushall()
    code, _, err = run(capsys, "import", "--config", str(other), str(dump))
    assert code == 1 and "another site secret" in err
    assert redis_client.dbsize() == 0
    bits = tmp_path / "bits.toml"
    write_config(bits, redis_server.url, "[ledger]\nbucket_bits = 8\n")  # type: ignore[attr-defined]
    code, _, err = run(capsys, "import", "--config", str(bits), str(dump))
    assert code == 1 and "bucket_bits=6" in err


@pytest.mark.parametrize(("line", "message"), [
    ("not json", "d.jsonl:2: not a JSON line"),
    ('{"kind": "z", "bucket": 1, "day": 1, "field": "00", "value": 1}', "unknown kind 'z'"),
    ('{"kind": "m", "bucket": 64, "day": 20000, "field": "0011223344556677", "value": 1}',
     "does not fit bucket_bits=6"),
    ('{"kind": "m", "bucket": 1, "day": 20000, "field": "0011", "value": 1}', "16 hex digits"),
    ('{"kind": "m", "bucket": 1, "day": -3, "field": "0011223344556677", "value": 1}', "'day'"),
    ('[1, 2]', "not a JSON object"),
])
def test_import_names_the_bad_line(capsys: pytest.CaptureFixture[str], config_file: Path,
                                   tmp_path: Path, line: str, message: str) -> None:
    dump = tmp_path / "d.jsonl"
    good = json.dumps({"kind": "m", "bucket": 1, "day": today(), "field": "0011223344556677", "value": 1})
    dump.write_text(good + "\n" + line + "\n")
    code, _, err = run(capsys, "import", "--config", str(config_file), str(dump))
    assert code == 1 and message in err and len(err.splitlines()) == 1


def test_import_skips_expired_entries(capsys: pytest.CaptureFixture[str], config_file: Path,
                                      tmp_path: Path, redis_client: redis.Redis) -> None:
    dump = tmp_path / "old.jsonl"
    rows = [{"kind": "m", "bucket": 3, "day": day, "field": f"{n:016x}", "value": 1}
            for n, day in enumerate((today() - 40, today() - 2))]
    dump.write_text("".join(json.dumps(r) + "\n" for r in rows))
    out = run(capsys, "import", "--config", str(config_file), str(dump), "--json")[1]
    assert json.loads(out) == {"read": 2, "added": 1, "present": 0, "expired": 1}
    ttl = redis_client.ttl(f"sl:{{03}}:m:{today() - 2}")
    assert 28 * SECONDS_PER_DAY < ttl <= 30 * SECONDS_PER_DAY
    code, _, err = run(capsys, "import", "--config", str(config_file), str(tmp_path / "missing"))
    assert code == 1 and "No such file" in err


# -- config ------------------------------------------------------------------
@pytest.mark.parametrize(("extra", "message"), [
    ('[observe]\nlog_addresses = "plain"\n', "observe.log_addresses"),
    ("[observe]\nlog_entries = 5\n", "observe.log_entries"),
    ("[observe]\nkeep = 1\n", "observe.keep: unknown setting"),
    ('[metrics]\ninbound_listen = "9469"\n', "metrics.inbound_listen: expected HOST:PORT"),
])
def test_observe_config_errors(tmp_path: Path, extra: str, message: str) -> None:
    path = write_config(tmp_path / "c.toml", "unix:///nowhere.sock", extra)
    with pytest.raises(ConfigError, match=message):
        load_config(str(path))
