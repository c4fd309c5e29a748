"""Keyed hashing: bound to the sender and the secret, spread over buckets."""

from __future__ import annotations

from collections import Counter

import pytest

from ledger.hashing import Hasher


def test_entry_is_deterministic_and_eight_bytes() -> None:
    h = Hasher(b"s" * 32, 6)
    a = h.message("id@example.test", "alice@example.test")
    assert a == h.message("id@example.test", "alice@example.test")
    assert len(a.field) == 8 and 0 <= a.bucket < 64


def test_entry_depends_on_sender_secret_and_kind() -> None:
    h = Hasher(b"s" * 32, 6)
    base = h.message("id@example.test", "alice@example.test")
    assert base != h.message("id@example.test", "bob@example.test")
    assert base != Hasher(b"t" * 32, 6).message("id@example.test", "alice@example.test")
    assert base.field != h.pair("id@example.test", "alice@example.test").field


def test_concatenation_is_unambiguous() -> None:
    h = Hasher(b"s" * 32, 6)
    assert h.message("a@b", "c@d") != h.message("a@bc", "@d")


def test_buckets_are_evenly_used() -> None:
    h = Hasher(b"s" * 32, 4)
    counts = Counter(h.message(f"{i}@example.test", "a@example.test").bucket for i in range(16000))
    assert set(counts) == set(range(16))
    assert max(counts.values()) < 1.15 * 1000


def test_zero_bucket_bits_and_missing_secret() -> None:
    assert Hasher(b"s" * 32, 0).message("x@y", "a@b").bucket == 0
    with pytest.raises(ValueError):
        Hasher(b"", 6)
