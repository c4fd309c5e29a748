"""SRS addresses, as pure logic: the public SRS0/SRS1 format, written here from the spec.

The expected hashes are computed in this file with hmac, sha1 and base64 as
the format defines them (the first characters of the base64 HMAC-SHA1 of the
lowercased fields), never with ledger.srs's own helpers, so a mistake there
cannot hide behind the same mistake here. tests/test_srs_postsrsd.py checks
the same code against addresses a real postsrsd wrote.
"""

from __future__ import annotations

import base64
import hashlib
import hmac

import pytest

from ledger.check.detectors.base import Finding
from ledger.decide import ACCEPT, REJECT, TAG, Cause, Policy, srs
from ledger.srs import SrsChecker, SrsStatus, SrsVerdict, day_stamp, is_srs, stamp_age

SECRET = b"srs-test-secret-one"
OLD_SECRET = b"srs-test-secret-before"
DAY = 86400
NOW = 1_764_590_400.0  # 2025-12-01 12:00 UTC
BASE32 = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"


def spec_hash(secret: bytes, *fields: str) -> str:
    data = "".join(fields).lower().encode()
    return base64.b64encode(hmac.new(secret, data, hashlib.sha1).digest()).decode()[:4]


def spec_stamp(when: float) -> str:
    day = int(when // DAY) % 1024
    return BASE32[day // 32] + BASE32[day % 32]


def srs0(local: str, domain: str, when: float = NOW, secret: bytes = SECRET, sep: str = "=",
         ours: str = "fwd.example.test") -> str:
    stamp = spec_stamp(when)
    return f"SRS0{sep}{spec_hash(secret, stamp, domain, local)}={stamp}={domain}={local}@{ours}"


def srs1(first_host: str, inner: str, secret: bytes = SECRET) -> str:
    """Our SRS1 around another forwarder's SRS0 local part (``inner`` starts after "SRS0")."""
    return f"SRS1={spec_hash(secret, first_host, inner)}={first_host}={inner}@fwd.example.test"


CHECKER = SrsChecker((SECRET, OLD_SECRET))


def status(address: str, now: float = NOW, checker: SrsChecker = CHECKER) -> SrsStatus | None:
    verdict = checker.check(address, now)
    return None if verdict is None else verdict.status


def test_the_day_stamp_is_the_day_number_in_base32_modulo_1024() -> None:
    assert day_stamp(NOW) == spec_stamp(NOW)
    assert day_stamp(0) == "AA" and day_stamp(1023 * DAY) == "77" and day_stamp(1024 * DAY) == "AA"
    assert stamp_age(spec_stamp(NOW - 5 * DAY), NOW) == 5
    assert stamp_age(spec_stamp(NOW).lower(), NOW) == 0  # read case-insensitively
    assert stamp_age(spec_stamp(NOW + DAY), NOW) == 1023  # "tomorrow" is almost 1024 days old
    assert stamp_age("A", NOW) is None and stamp_age("A1", NOW) is None


def test_a_valid_srs0_address_of_ours_is_valid() -> None:
    address = srs0("bob", "remote.example")
    verdict = CHECKER.check(address, NOW)
    assert verdict == SrsVerdict(SrsStatus.VALID, "written 0 day(s) ago", 0)
    # the hash compares case-insensitively, and the fields hash lowercased
    assert status(address.lower()) == SrsStatus.VALID
    assert status(srs0("Bob", "Remote.Example")) == SrsStatus.VALID
    # any of the three separators after SRS0, and a local part holding "="
    assert status(srs0("bob", "remote.example", sep="+")) == SrsStatus.VALID
    assert status(srs0("bob", "remote.example", sep="-")) == SrsStatus.VALID
    assert status(srs0("a=b", "remote.example")) == SrsStatus.VALID


def test_every_secret_verifies() -> None:
    assert status(srs0("bob", "remote.example", secret=OLD_SECRET)) == SrsStatus.VALID
    assert status(srs0("bob", "remote.example", secret=b"somebody-elses-secret")) == SrsStatus.FORGED


def test_a_tampered_hash_or_field_is_forged() -> None:
    address = srs0("bob", "remote.example")
    hash_ = address[5:9]
    flipped = ("B" if hash_[0] != "B" else "C") + hash_[1:]
    assert status(address.replace(hash_, flipped, 1)) == SrsStatus.FORGED
    # the hash covers timestamp, domain and local part: changing one breaks it
    assert status(address.replace("=bob@", "=eve@")) == SrsStatus.FORGED
    assert status(address.replace("=remote.example=", "=other.example=")) == SrsStatus.FORGED
    stamp = spec_stamp(NOW)
    assert status(address.replace(f"={stamp}=", f"={spec_stamp(NOW - DAY)}=")) == SrsStatus.FORGED


def test_a_short_hash_is_forged_and_a_long_one_is_cut_to_hash_length() -> None:
    address = srs0("bob", "remote.example")
    assert status(address[:8] + address[9:]) == SrsStatus.FORGED  # 3 of 4 characters
    long_hash = base64.b64encode(hmac.new(SECRET, f"{spec_stamp(NOW)}remote.examplebob".lower().encode(),
                                          hashlib.sha1).digest()).decode()[:8]
    longer = f"SRS0={long_hash}={spec_stamp(NOW)}=remote.example=bob@fwd.example.test"
    assert status(longer) == SrsStatus.VALID
    assert status(longer, checker=SrsChecker((SECRET,), hash_length=8, hash_min=8)) == SrsStatus.VALID
    assert status(address, checker=SrsChecker((SECRET,), hash_length=8, hash_min=8)) == SrsStatus.FORGED


def test_an_address_older_than_max_age_days_is_expired() -> None:
    assert status(srs0("bob", "remote.example", when=NOW - 21 * DAY)) == SrsStatus.VALID
    expired = CHECKER.check(srs0("bob", "remote.example", when=NOW - 22 * DAY), NOW)
    assert expired is not None and (expired.status, expired.age_days) == (SrsStatus.EXPIRED, 22)
    assert status(srs0("bob", "remote.example", when=NOW - 5 * DAY),
                  checker=SrsChecker((SECRET,), max_age_days=4)) == SrsStatus.EXPIRED
    # a stamp from the future (a forger's guess, a wrapped counter) is not fresh
    assert status(srs0("bob", "remote.example", when=NOW + 2 * DAY)) == SrsStatus.EXPIRED


def test_a_forged_hash_is_forged_even_when_also_expired() -> None:
    address = srs0("bob", "remote.example", when=NOW - 100 * DAY, secret=b"not-ours-at-all")
    assert status(address) == SrsStatus.FORGED


@pytest.mark.parametrize("address", [
    "SRS0=@fwd.example.test",
    "SRS0=abcd@fwd.example.test",
    "SRS0=abcd=AB@fwd.example.test",
    "SRS0=abcd=AB=remote.example@fwd.example.test",
    "SRS0=abcd=AB=remote.example=@fwd.example.test",
    "SRS0==AB=remote.example=bob@fwd.example.test",
    "SRS1=abcd@fwd.example.test",
    "SRS1=abcd=first.example@fwd.example.test",
    "SRS1==first.example==abcd=AB=x.example=y@fwd.example.test",
])
def test_an_unreadable_srs_address_is_malformed(address: str) -> None:
    assert status(address) == SrsStatus.MALFORMED


def test_an_unreadable_timestamp_under_a_valid_hash_is_malformed() -> None:
    fields = ("A1", "remote.example", "bob")
    address = f"SRS0={spec_hash(SECRET, *fields)}=A1=remote.example=bob@fwd.example.test"
    assert status(address) == SrsStatus.MALFORMED


def test_srs1_checks_our_hash_and_the_inner_day_stamp() -> None:
    inner = f"=zzzz={spec_stamp(NOW - DAY)}=orig.example=carol"  # the first forwarder's hash
    assert status(srs1("first.example", inner)) == SrsStatus.VALID
    assert status(srs1("first.example", inner, secret=b"not-ours-at-all")) == SrsStatus.FORGED
    assert status(srs1("first.example", inner).replace("=first.example=", "=evil.example=")) \
        == SrsStatus.FORGED
    old = f"=zzzz={spec_stamp(NOW - 30 * DAY)}=orig.example=carol"
    assert status(srs1("first.example", old)) == SrsStatus.EXPIRED
    assert status(srs1("first.example", "xzzzz=AB=orig.example=carol")) == SrsStatus.MALFORMED


def test_other_addresses_are_not_srs() -> None:
    for address in ("alice@example.test", "srs@example.test", "SRS0@example.test", "SRS2=x=y@z",
                    "SRS0_abc=AB=x=y@z", "bounces+SRS0=x@z", ""):
        assert not is_srs(address) and CHECKER.check(address, NOW) is None
    assert is_srs("srs0=abcd=AB=x=y@z") and is_srs("SRS1+x@z")


def test_a_verdict_never_names_the_decoded_address() -> None:
    for address in (srs0("bobby", "remote.example"), srs0("bobby", "remote.example", when=NOW - 40 * DAY),
                    srs0("bobby", "remote.example", secret=b"nope-nope-nope")):
        verdict = CHECKER.check(address, NOW)
        assert verdict is not None and "bobby" not in verdict.why and "remote" not in verdict.why


DSN = Finding("dsn", (), form=True)
POLICY = Policy(reject_text="Backscatter refused")


def test_decide_accepts_a_bounce_to_valid_srs_addresses_as_matched() -> None:
    decision = srs(POLICY, DSN, [SrsVerdict(SrsStatus.VALID, "written 2 day(s) ago", 2)])
    assert (decision.action, decision.outcome, decision.cause, decision.matched) == \
        (ACCEPT, ACCEPT, Cause.SRS, True)
    assert decision.trace is not None and decision.trace.startswith("pass (dsn; srs:")
    assert decision.matches == ()  # nothing to count: the ledger never saw the forwarded mail


@pytest.mark.parametrize(("status_", "cause"), [
    (SrsStatus.FORGED, Cause.SRS_FORGED),
    (SrsStatus.EXPIRED, Cause.SRS_EXPIRED),
    (SrsStatus.MALFORMED, Cause.SRS_MALFORMED),
])
def test_decide_refuses_an_invalid_srs_address_like_an_unmatched_bounce(
        status_: SrsStatus, cause: Cause) -> None:
    verdicts = [SrsVerdict(SrsStatus.VALID, "ok", 0), SrsVerdict(status_, "why")]
    decision = srs(POLICY, DSN, verdicts)
    assert (decision.action, decision.cause, decision.matched) == (REJECT, cause, False)
    assert decision.reply == ("550", "5.7.1", "Backscatter refused")
    # the unmatched action of the kind applies, as for any unmatched bounce
    assert srs(Policy(unmatched_action=TAG), DSN, verdicts).outcome == TAG
    # a heuristic alone is tagged, never refused
    assert srs(POLICY, Finding("unknown", (), form=False), verdicts).outcome == TAG


def test_a_cut_reading_neither_spoils_a_valid_srs_address_nor_lets_our_fault_refuse() -> None:
    """The address alone proves the bounce ours; but a refusal with our side's cut is a 451."""
    from ledger.check import Cut

    valid = [SrsVerdict(SrsStatus.VALID, "ok", 0)]
    forged = [SrsVerdict(SrsStatus.FORGED, "why")]
    for cut in Cut:
        finding = Finding("dsn", (), form=True, cut=cut)
        assert srs(POLICY, finding, valid).cause == Cause.SRS
        refusal = srs(POLICY, finding, forged)
        assert refusal.outcome == ("tempfail" if cut.ours else REJECT)
