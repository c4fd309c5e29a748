"""SRS: is an envelope recipient a valid, unexpired SRS0/SRS1 address of ours?

A domain that forwards mail with the Sender Rewriting Scheme (postsrsd and
similar) replaces the envelope sender of each forwarded message by an address
of its own, and the bounces of that mail come back to it::

    SRS0=HHHH=TT=orig.domain=localpart@our.domain
    SRS1=HHHH=first.forwarder==HHHH=TT=orig.domain=localpart@our.domain

The public format (Shevek's SRS, as libsrs2 and postsrsd write it): after
``SRS0`` or ``SRS1`` one separator (``=``, ``+`` or ``-``), then fields joined
by ``=``. ``HHHH`` is the first ``hash_length`` characters of the base64
HMAC-SHA1, under one of the forwarder's secrets, of the lowercased fields that
follow it (SRS0: timestamp, domain, local part; SRS1: the first forwarder's
host and the rest of the address after it); hashes compare case-insensitively
(mail systems fold case) over at least ``hash_min`` characters. ``TT`` is the
day of writing, ``unix time // 86400`` modulo 1024, in two base32 characters.
An SRS1 address wraps the SRS0 of another forwarder: its inner hash is that
forwarder's and cannot be checked here, only ours and the inner day stamp.

Invariants: pure logic, no I/O; a verdict never carries the decoded original
address (it names no address at all), so nothing that logs one can leak it.
Every separator is accepted on reading, as postsrsd does: the configured one
only says what postsrsd writes. Cost: one HMAC-SHA1 per secret tried, a few
microseconds, and only for a candidate whose recipient starts with SRS0/SRS1.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum

SEPARATORS = "=+-"
SECONDS_PER_DAY = 86400
TIME_SLOTS = 1024  # 10 bits of days: the stamp wraps after about 2.8 years
TIME_CHARS = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"  # base32, 5 bits a character
DEFAULT_MAX_AGE_DAYS = 21  # postsrsd's
DEFAULT_HASH_LENGTH = 4


class SrsStatus(StrEnum):
    """What an SRS-looking recipient turned out to be."""

    VALID = "valid"          # our hash, within max_age_days
    FORGED = "forged"        # well-formed, but no secret of ours wrote its hash
    EXPIRED = "expired"      # our hash, but older than max_age_days
    MALFORMED = "malformed"  # SRS0/SRS1 prefix, fields missing or unreadable


@dataclass(frozen=True)
class SrsVerdict:
    """The judgement on one recipient; ``age_days`` is known for VALID and EXPIRED."""

    status: SrsStatus
    why: str
    age_days: int | None = None


def is_srs(address: str) -> bool:
    """True when the local part starts like an SRS address (SRS0/SRS1 and a separator)."""
    local = address.rpartition("@")[0] if "@" in address else address
    return len(local) > 4 and local[:4].upper() in ("SRS0", "SRS1") and local[4] in SEPARATORS


def day_stamp(now: float) -> str:
    """The two-character timestamp written for ``now`` (seconds since the epoch)."""
    day = int(now // SECONDS_PER_DAY) % TIME_SLOTS
    return TIME_CHARS[day >> 5] + TIME_CHARS[day & 31]


def stamp_age(stamp: str, now: float) -> int | None:
    """Days since ``stamp`` was written, modulo the 1024-day wrap; None if unreadable.

    A stamp "in the future" is read as written almost 1024 days ago, as postsrsd reads it.
    """
    if len(stamp) != 2:
        return None
    then = 0
    for char in stamp.upper():
        index = TIME_CHARS.find(char)
        if index < 0:
            return None
        then = (then << 5) | index
    today = int(now // SECONDS_PER_DAY) % TIME_SLOTS
    return (today - then) % TIME_SLOTS


def srs_hash(secret: bytes, fields: Sequence[str], length: int = DEFAULT_HASH_LENGTH) -> str:
    """The first ``length`` base64 characters of HMAC-SHA1(secret, lowercased fields joined)."""
    data = "".join(fields).lower().encode("utf-8", "surrogateescape")
    digest = hmac.new(secret, data, hashlib.sha1).digest()
    return base64.b64encode(digest).decode("ascii")[:length]


@dataclass(frozen=True)
class SrsChecker:
    """Checks recipients against the forwarder's secrets (the first signs, all verify)."""

    secrets: tuple[bytes, ...]
    max_age_days: int = DEFAULT_MAX_AGE_DAYS
    hash_length: int = DEFAULT_HASH_LENGTH
    hash_min: int = DEFAULT_HASH_LENGTH

    def _hash_ok(self, given: str, fields: Sequence[str]) -> bool:
        given = given[:self.hash_length]
        if len(given) < self.hash_min:
            return False
        for secret in self.secrets:
            expected = srs_hash(secret, fields, self.hash_length)[:len(given)]
            if hmac.compare_digest(given.lower().encode(), expected.lower().encode()):
                return True
        return False

    def _aged(self, stamp: str, now: float) -> SrsVerdict:
        age = stamp_age(stamp, now)
        if age is None:
            return SrsVerdict(SrsStatus.MALFORMED, "its timestamp is not two base32 characters")
        if age > self.max_age_days:
            return SrsVerdict(SrsStatus.EXPIRED, f"written {age} days ago, more than "
                              f"max_age_days ({self.max_age_days})", age)
        return SrsVerdict(SrsStatus.VALID, f"written {age} day(s) ago", age)

    def check(self, address: str, now: float) -> SrsVerdict | None:
        """The verdict on one envelope recipient; None when it is no SRS address at all."""
        if not is_srs(address):
            return None
        local = address.rpartition("@")[0] if "@" in address else address
        if local[:4].upper() == "SRS0":
            return self._check_srs0(local[5:], now)
        return self._check_srs1(local[5:], now)

    def _check_srs0(self, rest: str, now: float) -> SrsVerdict:
        parts = rest.split("=", 3)
        if len(parts) != 4 or not all(parts):
            return SrsVerdict(SrsStatus.MALFORMED, "an SRS0 address needs hash, timestamp, "
                              "domain and local part")
        given, stamp, domain, user = parts
        if not self._hash_ok(given, (stamp, domain, user)):
            return SrsVerdict(SrsStatus.FORGED, "its SRS0 hash was not made with our secret")
        return self._aged(stamp, now)

    def _check_srs1(self, rest: str, now: float) -> SrsVerdict:
        parts = rest.split("=", 2)
        if len(parts) != 3 or not all(parts):
            return SrsVerdict(SrsStatus.MALFORMED, "an SRS1 address needs hash, first "
                              "forwarder and the wrapped SRS0 address")
        given, first_host, inner = parts
        if not self._hash_ok(given, (first_host, inner)):
            return SrsVerdict(SrsStatus.FORGED, "its SRS1 hash was not made with our secret")
        # inner is the first forwarder's SRS0 after "SRS0": separator, hash, stamp, domain, user
        inner_parts = inner[1:].split("=", 3) if inner[0] in SEPARATORS else []
        if len(inner_parts) != 4 or not all(inner_parts):
            return SrsVerdict(SrsStatus.MALFORMED, "the SRS0 address inside SRS1 cannot be read")
        return self._aged(inner_parts[1], now)
