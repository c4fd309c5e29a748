"""The fuzzer, bounded for CI: 20,000 mutated messages through the inbound check.

scripts/fuzz.py runs a million and prints its figures; here the same inputs
(seed 1, the first 20,000) with a real private Redis, asserting none raises
and none hangs.
"""

from __future__ import annotations

from pathlib import Path

import redis

from scripts import fuzz
from testbed import RedisServer


def test_twenty_thousand_mutated_messages_raise_nothing(tmp_path: Path, redis_server: RedisServer,
                                                        redis_client: redis.Redis) -> None:
    config = fuzz.write_config(tmp_path, redis_server.url)
    tally, _ = fuzz.fuzz(config, 20_000, seed=1, processes=2, hang=30)
    assert tally.tried == 20_000
    assert tally.exception_count == 0, tally.exceptions
    assert tally.hangs == []
    assert tally.actions["reject"] > 0 and tally.actions["accept"] > 0  # it reached decisions


def test_an_input_is_rebuilt_exactly_from_seed_and_index() -> None:
    seeds, _ = fuzz.load_seeds()
    first = fuzz.make_input(seeds, 7, 123)
    again = fuzz.make_input(seeds, 7, 123)
    assert first[0] == again[0] and first[2] == again[2]
    assert fuzz.make_input(seeds, 8, 123)[0] != first[0]
