"""Pure logic of the observe package: classes, times, addresses, key names."""

from __future__ import annotations

import pytest

from ledger.check.detectors.base import Finding
from ledger.config import parse_listen
from ledger.decide import Cause, Decision, Policy, decide, internal_error, unreachable
from ledger.observe.classify import cause, failed, outcome
from ledger.observe.counters import decision_fields
from ledger.observe.decision_log import AddressMasker
from ledger.observe.inventory import parse_key
from ledger.observe.timefmt import day_date, parse_since


def test_counter_fields_come_from_fixed_sets_whatever_the_reason_text() -> None:
    """Fields are built from outcome and cause, never from reason text (which may name anything)."""
    policy = Policy()
    finding = Finding("dsn", ("orig-1@example.test",))
    rcpts = ["alice@example.test"]
    decisions = [
        decide(policy, finding, rcpts, {}),
        decide(policy, Finding("dsn", ()), rcpts, {}),
        decide(policy, Finding("dsn", (), recipients_of_original=("bob@example.com",)), rcpts,
               {}, {"alice@example.test": ["bob@example.com"]}),
        decide(Policy(unmatched_action="tag"), finding, rcpts, {}),
        unreachable(policy, finding, "Error 111 connecting to carol@example.org"),
        internal_error(),
    ]
    allowed = {f"cause:{c}" for c in Cause} | {f"action:{a}" for a in ("accept", "tag", "reject", "tempfail")}
    allowed |= {"candidates", "matched", "unmatched", "failed", "kind:dsn", "kind:unknown"}
    allowed |= {"would_reject", "would_reject:dsn", "would_reject:unknown"}
    for decision in decisions:
        fields = decision_fields(decision)
        assert set(fields) <= allowed, fields
        assert not any("@" in f for f in fields)
    assert [outcome(d) for d in decisions] == ["reject", "tag", "accept", "tag", "tempfail", "tempfail"]
    assert [cause(d) for d in decisions] == ["unmatched", "no reference", "envelope", "unmatched",
                                            "unreachable", "internal error"]
    assert "bob@example.com" not in decisions[2].reason  # the reason is logged: no address in it
    assert failed(decisions[4]) and failed(decisions[5]) and not failed(decisions[0])


def test_decision_fields_separate_matched_unmatched_and_failed() -> None:
    matched = decision_fields(Decision("accept", "original sent 2026-11-20", True, "dsn", matched=True,
                                       cause=Cause.MATCHED))
    assert matched == ["candidates", "matched", "action:accept", "kind:dsn", "cause:matched"]
    down = Decision("tempfail", "ledger unreachable (timeout)", True, "dsn", cause=Cause.UNREACHABLE,
                    outcome="tempfail")
    assert failed(down)
    assert decision_fields(down)[1] == "failed"
    assert decision_fields(Decision("reject", "no reference is in the ledger (1 checked)", True,
                                    "dsn", cause=Cause.UNMATCHED, outcome="reject"))[1] == "unmatched"


def test_our_own_cut_reading_counts_as_failed_a_cut_by_the_sender_as_unmatched() -> None:
    from ledger.check.detectors.base import Finding
    from ledger.check.message import Cut
    from ledger.decide import Policy, decide

    for cut in (Cut.TIME, Cut.FAILED):
        for refs in ((), ("orig@example.test",)):
            decision = decide(Policy(), Finding("dsn", refs, cut=cut), ["alice@example.test"], {})
            assert decision.action == "tempfail" and failed(decision)
            assert decision_fields(decision)[1] == "failed"
    sender = decide(Policy(), Finding("dsn", (), cut=Cut.BYTES), ["alice@example.test"], {})
    assert sender.action == "reject" and decision_fields(sender)[1] == "unmatched"


def test_parse_since() -> None:
    now = 1_000_000.0
    assert parse_since("30m", now) == now - 1800
    assert parse_since("2h", now) == now - 7200
    assert parse_since("1d", now) == now - 86400
    assert parse_since("2026-11-27T08:00:00") == 1795766400.0
    assert parse_since("2026-11-27T09:00:00+01:00") == 1795766400.0
    with pytest.raises(ValueError, match="neither a duration"):
        parse_since("yesterday")


def test_day_date() -> None:
    assert day_date(0) == "1970-01-01"
    assert day_date(20784) == "2026-11-27"


def test_parse_listen() -> None:
    assert parse_listen("127.0.0.1:9469") == ("127.0.0.1", 9469)
    assert parse_listen("[::1]:9469") == ("::1", 9469)
    for bad in ("9469", "host:", "host:http", "host:70000", ":9469"):
        assert parse_listen(bad) is None


def test_address_masker_modes() -> None:
    secret = b"s" * 16
    domain = AddressMasker(secret, "domain")
    masked = domain.mask("<Alice@Example.TEST>")
    assert masked.startswith("h:") and masked.endswith("@example.test") and "alice" not in masked
    assert masked == domain.mask("alice@example.test")  # same address, same mask: correlatable
    assert masked != AddressMasker(b"t" * 16, "domain").mask("alice@example.test")  # keyed
    hashed = AddressMasker(secret, "hash").mask("alice@example.test")
    assert hashed.startswith("h:") and "example" not in hashed
    assert AddressMasker(secret, "full").mask("<Alice@Example.TEST>") == "alice@example.test"
    assert domain.mask("") == ""  # the null sender stays visible as such


def test_parse_key() -> None:
    key = parse_key(b"sl:{2a}:m:20784")
    assert key is not None and (key.bucket, key.kind, key.day) == (42, "m", 20784)
    assert parse_key(b"my:ns:{0}:p:20000") is not None
    for bad in (b"sl:{obs}:stats:20784", b"sl:{2a}x:m:1", b"sl:2a:m:1", b"sl:{2a}:m:day"):
        assert parse_key(bad) is None
