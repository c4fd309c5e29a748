"""The decision order of docs/policy.md, step by step (pure logic)."""

from __future__ import annotations

import pytest

from ledger.check.detectors.base import Finding
from ledger.decide import ACCEPT, NO_REFERENCE_DEFAULTS, REJECT, Policy, decide
from ledger.hashing import EntryHash
from ledger.match import Match

R = ["alice@example.test"]
BOB = "bob@example.com"
POLICY = Policy()


def match(matches: int = 0) -> Match:
    return Match(EntryHash(1, b"\x01" * 8), day=20419, recipients=1, matches=matches)


def test_step1_reference_in_ledger_wins_over_everything() -> None:
    f = Finding("bounce", ("orig@example.test",), recipients_of_original=(BOB,))
    d = decide(POLICY, f, R, {R[0]: [match()]}, {})
    assert d.action == ACCEPT and d.matched and d.matches and "original sent" in d.reason


def test_step3_envelope_pair_accepts_a_bounce_without_reference() -> None:
    f = Finding("bounce", (), recipients_of_original=(BOB,))
    d = decide(POLICY, f, R, {}, {R[0]: [BOB]})
    assert d.action == ACCEPT and d.matched and d.reason.startswith("envelope")
    assert d.matches == ()  # pairs carry no bounce budget to count against
    assert d.trace is not None and d.trace.startswith("pass (bounce; envelope")


def test_envelope_does_not_rescue_a_reference_that_is_not_ours() -> None:
    # The bounce names its original and the ledger does not know it: a forger can
    # quote a fake ID and bounce it off someone the user really wrote to.
    f = Finding("dsn", ("not-ours@example.net",), recipients_of_original=(BOB,))
    d = decide(POLICY, f, R, {}, {R[0]: [BOB]})
    assert d.action == REJECT and "no reference is in the ledger" in d.reason


def test_a_spent_budget_is_not_rescued_by_the_envelope() -> None:
    f = Finding("dsn", ("orig@example.test",), recipients_of_original=(BOB,))
    d = decide(Policy(matches_per_recipient=1), f, R, {R[0]: [match(matches=1)]}, {R[0]: [BOB]})
    assert d.action == REJECT and "as many bounces" in d.reason


def test_step2_unmatched_reference_is_rejected() -> None:
    f = Finding("bounce", ("orig@example.test",), recipients_of_original=(BOB,))
    assert decide(POLICY, f, R, {}, {}).action == REJECT


def test_step4_unrecorded_original_recipient_is_rejected() -> None:
    f = Finding("bounce", (), recipients_of_original=(BOB,))
    d = decide(POLICY, f, R, {}, {})
    assert d.action == REJECT and "original's recipient" in d.reason


def test_steps_2_and_4_only_tag_a_heuristic() -> None:
    f = Finding("autoreply", (), form=False, recipients_of_original=(BOB,))
    d = decide(POLICY, f, R, {}, {})
    assert d.action == ACCEPT and d.trace is not None and d.trace.startswith("unverified")


def test_every_envelope_recipient_needs_a_pair() -> None:
    f = Finding("bounce", (), recipients_of_original=(BOB,))
    two = ["alice@example.test", "carol@example.test"]
    assert decide(POLICY, f, two, {}, {two[0]: [BOB]}).action == REJECT


@pytest.mark.parametrize(("kind", "action"), sorted(NO_REFERENCE_DEFAULTS.items()))
def test_step5_per_kind_defaults(kind: str, action: str) -> None:
    d = decide(POLICY, Finding(kind, (), form=True), R, {}, {})
    assert d.action == (REJECT if action == REJECT else ACCEPT)
    assert (d.trace is not None and d.trace.startswith("unverified")) == (action == "tag")


def test_step5_never_rejects_a_heuristic_even_for_virus() -> None:
    assert decide(POLICY, Finding("virus", (), form=False), R, {}, {}).action == ACCEPT


def test_unknown_kind_falls_back_to_the_unknown_setting() -> None:
    policy = Policy(no_reference={"unknown": REJECT})
    assert decide(policy, Finding("novel", (), form=True), R, {}, {}).action == REJECT
