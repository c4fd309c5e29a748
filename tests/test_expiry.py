"""Expiry of the ledger's day keys, against the documented policy (docs/redis-layout.md).

Policy: an entry of day D is kept ``ledger.lifetime_days`` (L) after its day,
so its key lives until the end of day D + L, which is also the last day a
lookup window (``Ledger.window``: tomorrow back to L days ago) still scans
it. The expected instants are worked out here from that sentence, never from
``Ledger.expires_at``; writing the expiry a day late (a regression that once
passed the suite) fails them.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest
import redis

from ledger.config import load_config
from ledger.days import today
from ledger.hashing import MESSAGE, PAIR
from ledger.record import SentMessage
from ledger.services import hasher_for, open_ledger, recorder_for
from testbed.procs import RedisServer
from tests.conftest import write_config

DAY = 86400


def end_of_day(day: int) -> int:
    """The Unix time at which UTC day number ``day`` ends."""
    return (day + 1) * DAY


@pytest.mark.parametrize("lifetime", [30, 7, 1])
def test_a_day_key_lives_exactly_until_the_end_of_its_last_day_in_the_window(
        tmp_path: Path, redis_server: RedisServer, redis_client: redis.Redis, lifetime: int) -> None:
    extra = f"[ledger]\nlifetime_days = {lifetime}\n" if lifetime != 30 else ""
    cfg = load_config(str(write_config(tmp_path / "c.toml", redis_server.url, extra)))
    assert cfg.ledger.lifetime_days == lifetime  # 30 is the default
    ledger = open_ledger(cfg)
    day = today() - lifetime + 1  # old, but still alive for a day or two
    last_day = day + lifetime  # "kept lifetime_days after its day"
    assert max(t for t in range(day - 3, day + lifetime + 5) if day in ledger.window(t)) == last_day

    sent = SentMessage(mail_from="alice@example.test", recipients=["bob@example.com"],
                       message_id="<expiry-1@example.test>")
    entries = recorder_for(cfg, ledger).entries(sent)
    ledger.record_kinds([(MESSAGE, entries.entries, 1), (PAIR, entries.pairs, 1)], day=day)
    keys = list(redis_client.scan_iter("sl:{*}:[mp]:*"))
    assert len(keys) == 2  # one message key and one pair key, both of that day
    for key in keys:
        assert key.decode().endswith(f":{day}")
        assert redis_client.expiretime(key) == end_of_day(last_day)
        ttl = redis_client.ttl(key)
        assert end_of_day(last_day) - time.time() - 5 <= ttl <= end_of_day(last_day) - time.time() + 1

    entry = hasher_for(cfg).message("expiry-1@example.test", "alice@example.test")
    assert entry in ledger.find([entry], day=last_day)  # found on its last day of life
    assert entry not in ledger.find([entry], day=last_day + 1)  # and not after
    assert entry in ledger.find([entry], day=day - 1)  # tomorrow's key is scanned too (clock skew)


def test_recording_today_expires_at_the_end_of_today_plus_the_lifetime(
        tmp_path: Path, redis_server: RedisServer, redis_client: redis.Redis) -> None:
    cfg = load_config(str(write_config(tmp_path / "c.toml", redis_server.url,
                                       "[ledger]\nlifetime_days = 12\n")))
    before = today()
    recorder_for(cfg).record(SentMessage(mail_from="alice@example.test", recipients=["b@example.com"],
                                         message_id="<expiry-2@example.test>"))
    days = {before, today()}  # the same day unless this ran across midnight
    (key,) = redis_client.scan_iter("sl:{*}:m:*")
    assert redis_client.expiretime(key) in {end_of_day(day + 12) for day in days}
