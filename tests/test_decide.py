"""The decision rules, as pure logic."""

from __future__ import annotations

from ledger.check.detectors.base import Finding
from ledger.decide import ACCEPT, REJECT, TEMPFAIL, Policy, decide, unreachable
from ledger.hashing import EntryHash
from ledger.match import Match

POLICY = Policy(reject_text="Backscatter refused")
DSN = Finding("dsn", ("orig@example.test",), form=True)
RCPT = ["alice@example.test"]


def match(matches: int = 0, recipients: int = 1) -> Match:
    return Match(EntryHash(1, b"\x00" * 8), day=20419, recipients=recipients, matches=matches)


def test_reference_in_ledger_is_accepted_with_trace() -> None:
    d = decide(POLICY, DSN, RCPT, {"alice@example.test": [match()]})
    assert d.action == ACCEPT and d.matched and d.reply is None
    assert d.trace is not None and d.trace.startswith("pass (dsn; original sent")
    assert d.matches == (match(),)


def test_unmatched_form_is_rejected_with_550() -> None:
    d = decide(POLICY, DSN, RCPT, {})
    assert d.action == REJECT and not d.matched
    assert d.reply == ("550", "5.7.1", "Backscatter refused")
    assert "no reference is in the ledger" in d.reason


def test_heuristic_alone_never_rejects() -> None:
    hint = Finding("autoreply", ("orig@example.test",), form=False)
    d = decide(POLICY, hint, RCPT, {})
    assert d.action == ACCEPT and d.reply is None
    assert d.trace is not None and d.trace.startswith("unverified")


def test_tag_and_accept_policies() -> None:
    tagged = decide(Policy(unmatched_action="tag"), DSN, RCPT, {})
    assert tagged.action == ACCEPT and tagged.trace and tagged.reason.startswith("tagged")
    passed = decide(Policy(unmatched_action="accept"), DSN, RCPT, {})
    assert passed.action == ACCEPT and passed.trace is None


def test_bounce_budget_is_enforced() -> None:
    policy = Policy(matches_per_recipient=3)
    assert decide(policy, DSN, RCPT, {RCPT[0]: [match(matches=2)]}).action == ACCEPT
    spent = decide(policy, DSN, RCPT, {RCPT[0]: [match(matches=3)]})
    assert spent.action == REJECT and "as many bounces" in spent.reason
    assert decide(policy, DSN, RCPT, {RCPT[0]: [match(matches=5, recipients=2)]}).action == ACCEPT


def test_every_recipient_must_have_sent_the_original() -> None:
    rcpts = ["alice@example.test", "mallory@example.test"]
    d = decide(POLICY, DSN, rcpts, {"alice@example.test": [match()]})
    assert d.action == REJECT and "not every recipient" in d.reason


def test_no_reference_uses_its_own_setting() -> None:
    bare = Finding("dsn", (), form=True)
    assert decide(Policy(no_reference_action="tag"), bare, RCPT, {}).action == ACCEPT
    assert decide(Policy(no_reference_action="reject"), bare, RCPT, {}).action == REJECT


def test_unreachable_ledger_tempfails_or_accepts() -> None:
    d = unreachable(POLICY, DSN, "connection refused")
    assert d.action == TEMPFAIL and d.reply is not None and d.reply[:2] == ("451", "4.7.1")
    assert unreachable(Policy(unreachable_action="accept"), DSN, "x").action == ACCEPT


def test_json_shape() -> None:
    d = decide(POLICY, DSN, RCPT, {})
    assert set(d.as_dict()) == {"action", "outcome", "cause", "candidate", "kind", "references", "matched",
                                "reason", "reply"}
    assert d.as_dict()["reply"] == "550 5.7.1 Backscatter refused"


def test_unmatched_arf_reports_are_tagged_by_default() -> None:
    arf = Finding("arf", ("orig@example.test",), form=True)
    d = decide(POLICY, arf, ["abuse@example.test"], {})
    assert d.action == ACCEPT and d.reason.startswith("tagged: ") and d.trace is not None
    strict = decide(Policy(unmatched={}), arf, ["abuse@example.test"], {})
    assert strict.action == REJECT
