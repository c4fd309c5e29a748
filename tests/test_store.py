"""The Redis ledger, against a private redis-server."""

from __future__ import annotations

import redis

from ledger.days import today
from ledger.errors import LedgerUnavailable
from ledger.hashing import MESSAGE, PAIR, Hasher
from ledger.redis_client import connect
from ledger.store import Ledger

HASHER = Hasher(b"k" * 32, 6)


def test_record_then_find_returns_day_and_counters(ledger: Ledger) -> None:
    entry = HASHER.message("a@example.test", "alice@example.test")
    assert ledger.record([entry], recipients=4) == 1
    assert ledger.record([entry], recipients=9) == 0  # idempotent: first record wins
    found = ledger.find([entry, HASHER.message("b@example.test", "alice@example.test")])
    assert list(found) == [entry]
    assert found[entry].day == today() and found[entry].recipients == 4
    assert found[entry].matches == 0
    ledger.count_match(found[entry])
    ledger.count_match(found[entry])
    assert ledger.find([entry])[entry].matches == 2


def test_entries_from_older_days_are_found_within_the_lifetime(ledger: Ledger) -> None:
    old = HASHER.message("old@example.test", "alice@example.test")
    ancient = HASHER.message("ancient@example.test", "alice@example.test")
    ledger.record([old], day=today() - ledger.lifetime_days)
    ledger.record([ancient], day=today() - ledger.lifetime_days - 1)
    found = ledger.find([old, ancient])
    assert old in found and found[old].day == today() - ledger.lifetime_days
    assert ancient not in found


def test_keys_expire_whole_days_and_hold_no_plaintext(ledger: Ledger, redis_client: redis.Redis) -> None:
    ledger.record([HASHER.message("plain-id@example.test", "alice@example.test")])
    keys = list(redis_client.scan_iter("*"))
    assert len(keys) == 1
    key = keys[0].decode()
    assert key.startswith("sl:{") and key.endswith(f":m:{today()}")
    ttl = redis_client.ttl(key)
    assert (ledger.lifetime_days) * 86400 < ttl <= (ledger.lifetime_days + 2) * 86400
    dump = b"".join(k + b"".join(f + v for f, v in redis_client.hgetall(k).items()) for k in keys)
    assert b"plain-id" not in dump and b"alice" not in dump
    assert redis_client.object("encoding", key) == b"listpack"


def test_cluster_hash_tag_is_the_bucket_only(ledger: Ledger) -> None:
    key_a = ledger.key(5, 20000)
    key_b = ledger.key(5, 20001, PAIR)
    assert key_a.split("{")[1].split("}")[0] == key_b.split("{")[1].split("}")[0] == "05"
    assert ledger.key(5, 20000, MESSAGE) != key_b


def test_many_lookups_are_one_round_trip(ledger: Ledger, redis_client: redis.Redis) -> None:
    entries = [HASHER.message(f"{i}@example.test", "alice@example.test") for i in range(40)]
    ledger.record(entries[:20])
    ledger.find(entries[:1])  # loads the script once
    redis_client.config_resetstat()
    found = ledger.find(entries)
    stats = redis_client.info("commandstats")
    assert len(found) == 20
    buckets = len({e.bucket for e in entries})
    # One FCALL_RO per bucket, sent together in one pipeline: one network round trip,
    # with no SCRIPT EXISTS before it.
    assert stats["cmdstat_fcall_ro"]["calls"] == buckets
    assert not any(name.startswith(("cmdstat_script", "cmdstat_function")) for name in stats)


def test_lookup_code_is_reloaded_after_redis_forgets_it(ledger: Ledger, redis_client: redis.Redis) -> None:
    entry = HASHER.message("a@example.test", "alice@example.test")
    ledger.record([entry])
    assert entry in ledger.find([entry])
    redis_client.function_flush()  # as after a restart of a Redis without persistence
    assert entry in ledger.find([entry])


def test_redis_without_functions_falls_back_to_a_script(ledger: Ledger) -> None:
    entry = HASHER.message("a@example.test", "alice@example.test")
    ledger.record([entry])
    ledger._use_function = False  # as on Redis 6, which has no FUNCTION LOAD
    ledger.client.script_flush()
    assert entry in ledger.find([entry])


def test_unreachable_redis_raises_ledger_unavailable(tmp_path: object) -> None:
    dead = Ledger(connect("unix:///nonexistent/redis.sock", 0.2, 0.2))
    entry = HASHER.message("a@example.test", "alice@example.test")
    for call in (lambda: dead.find([entry]), lambda: dead.record([entry]), dead.ping):
        try:
            call()
        except LedgerUnavailable:
            pass
        else:
            raise AssertionError("expected LedgerUnavailable")
