"""A cut reading, as pure logic: never milder than an unmatched reference; our own cut is a 451."""

from __future__ import annotations

import pytest

from ledger.check.detectors.base import Finding
from ledger.check.message import Cut
from ledger.decide import ACCEPT, REJECT, TEMPFAIL, Policy, decide
from ledger.hashing import EntryHash
from ledger.match import Match

RCPT = ["alice@example.test"]
PAIRS = {"alice@example.test": ["bob@example.com"]}  # alice did write to bob
LIMITS = (Cut.BYTES, Cut.PARTS, Cut.DEPTH)


def match() -> Match:
    return Match(EntryHash(1, b"\x00" * 8), day=20419, recipients=1, matches=0)


def cut_dsn(cut: Cut, refs: tuple[str, ...] = (), kind: str = "dsn", form: bool = True) -> Finding:
    return Finding(kind, refs, form=form, recipients_of_original=("bob@example.com",), cut=cut)


@pytest.mark.parametrize("cut", LIMITS)
def test_cut_without_reference_is_refused_not_tagged_nor_rescued(cut: Cut) -> None:
    d = decide(Policy(), cut_dsn(cut), RCPT, {}, PAIRS)
    assert d.action == REJECT and d.reply is not None and d.reply[0] == "550" and not d.matched
    assert d.reason == f"the reading was cut ({cut.value}) before any reference was found"
    whole = decide(Policy(), Finding("dsn", (), recipients_of_original=("bob@example.com",)), RCPT, {}, PAIRS)
    assert whole.action == ACCEPT and whole.matched  # uncut, the envelope check still rescues


def test_cut_gets_the_unmatched_action_of_its_kind() -> None:
    assert decide(Policy(), cut_dsn(Cut.BYTES, kind="arf"), RCPT, {}).reason.startswith("tagged: ")
    tag_all = Policy(unmatched_action="tag")
    assert decide(tag_all, cut_dsn(Cut.BYTES), RCPT, {}).trace is not None
    heuristic = decide(Policy(), cut_dsn(Cut.BYTES, kind="autoreply", form=False), RCPT, {})
    assert heuristic.action == ACCEPT and heuristic.reply is None  # a heuristic alone never rejects


@pytest.mark.parametrize("cut", LIMITS)
def test_cut_with_a_reference_is_looked_up_as_usual(cut: Cut) -> None:
    refs = ("orig@example.test",)
    assert decide(Policy(), cut_dsn(cut, refs), RCPT, {RCPT[0]: [match()]}).action == ACCEPT
    assert decide(Policy(), cut_dsn(cut, refs), RCPT, {}).action == REJECT


@pytest.mark.parametrize("cut", [Cut.TIME, Cut.FAILED])
def test_our_own_cut_tempfails_unless_the_ledger_matched(cut: Cut) -> None:
    for finding in (cut_dsn(cut), cut_dsn(cut, ("orig@example.test",))):
        d = decide(Policy(), finding, RCPT, {}, PAIRS)
        assert d.action == TEMPFAIL and d.reply is not None and d.reply[:2] == ("451", "4.7.1")
        assert cut.value in d.reason and d.trace is None
    tagging = decide(Policy(unmatched_action="tag"), cut_dsn(cut), RCPT, {})
    assert tagging.action == TEMPFAIL  # never a tag either
    matched = decide(Policy(), cut_dsn(cut, ("orig@example.test",)), RCPT, {RCPT[0]: [match()]})
    assert matched.action == ACCEPT and matched.matched
