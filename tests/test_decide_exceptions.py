"""Step 6 of docs/policy.md: [inbound.exceptions] as a table of pure decisions."""

from __future__ import annotations

import pytest

from ledger.check.detectors.base import Finding
from ledger.check.message import Cut
from ledger.decide import ACCEPT, REJECT, TAG, TEMPFAIL, Cause, Policy, decide
from ledger.exceptions import RecipientExceptions, RelayList
from ledger.hashing import EntryHash
from ledger.match import Match

ALICE, BOB = "alice@example.test", "bob@branch.example.test"
EXC = RecipientExceptions.parse(["alice@example.test", "@branch.example.test"])
RELAYS = RelayList.parse(["relay.provider.example"])
PLAIN = Policy()
EXCEPTED = Policy(exception_recipients=EXC)
RELAYED = Policy(trusted_relays=RELAYS)
RELAY_ACCEPT = Policy(trusted_relays=RELAYS, relay_action="accept")
BOTH = Policy(exception_recipients=EXC, trusted_relays=RELAYS)
REF = Finding("dsn", ("orig@example.test",))
NOREF = Finding("dsn", ())
VIRUS = Finding("virus", ())
RCPTS_ONLY = Finding("bounce", (), recipients_of_original=("carol@example.com",))
CUT = Finding("dsn", (), cut=Cut.BYTES)
OUR_CUT = Finding("dsn", ("orig@example.test",), cut=Cut.TIME)
HINT = Finding("autoreply", ("orig@example.test",), form=False)


def m(matches: int = 0) -> Match:
    return Match(EntryHash(1, b"\x02" * 8), day=20419, recipients=1, matches=matches)


# policy, finding, recipients, found, relay -> outcome, cause
ROWS = [
    # no exception configured: what it always was
    (PLAIN, REF, [ALICE], {}, True, REJECT, Cause.UNMATCHED),
    (PLAIN, VIRUS, [ALICE], {}, True, REJECT, Cause.NO_REFERENCE),
    # exception recipients: every unmatched answer is tagged, by address or by domain
    (EXCEPTED, REF, [ALICE], {}, False, TAG, Cause.EXCEPTION_RECIPIENT),
    (EXCEPTED, REF, ["<Alice@Example.TEST>"], {}, False, TAG, Cause.EXCEPTION_RECIPIENT),
    (EXCEPTED, REF, [BOB], {}, False, TAG, Cause.EXCEPTION_RECIPIENT),
    (EXCEPTED, VIRUS, [ALICE], {}, False, TAG, Cause.EXCEPTION_RECIPIENT),
    (EXCEPTED, RCPTS_ONLY, [ALICE], {}, False, TAG, Cause.EXCEPTION_RECIPIENT),
    (EXCEPTED, CUT, [ALICE], {}, False, TAG, Cause.EXCEPTION_RECIPIENT),
    (EXCEPTED, NOREF, [ALICE], {}, False, TAG, Cause.EXCEPTION_RECIPIENT),  # was a tag: its own cause
    (EXCEPTED, REF, [ALICE, BOB], {ALICE: [m()]}, False, TAG, Cause.EXCEPTION_RECIPIENT),  # partial
    # ... but not for a recipient who is not listed, nor a subdomain, nor a mixed envelope
    (EXCEPTED, REF, ["dave@example.test"], {}, False, REJECT, Cause.UNMATCHED),
    (EXCEPTED, REF, ["eve@sub.branch.example.test"], {}, False, REJECT, Cause.UNMATCHED),
    (EXCEPTED, REF, [ALICE, "dave@example.test"], {}, False, REJECT, Cause.UNMATCHED),
    # a match stays a match, a spent budget stays spent, our fault stays a tempfail
    (EXCEPTED, REF, [ALICE], {ALICE: [m()]}, False, ACCEPT, Cause.MATCHED),
    (EXCEPTED, REF, [ALICE], {ALICE: [m(matches=3)]}, False, REJECT, Cause.BUDGET_EXHAUSTED),
    (EXCEPTED, OUR_CUT, [ALICE], {}, False, TEMPFAIL, Cause.CHECK_UNFINISHED),
    (BOTH, OUR_CUT, [ALICE], {}, True, TEMPFAIL, Cause.CHECK_UNFINISHED),
    # a configured accept is not made a tag
    (Policy(exception_recipients=EXC, unmatched={"arf": "accept"}), Finding("arf", ("o@x.test",)),
     [ALICE], {}, False, ACCEPT, Cause.UNMATCHED),
    # trusted relays: tag by default, accept when so configured, only when the relay was seen
    (RELAYED, REF, ["dave@example.test"], {}, True, TAG, Cause.TRUSTED_RELAY),
    (RELAYED, REF, ["dave@example.test"], {}, False, REJECT, Cause.UNMATCHED),
    (RELAY_ACCEPT, REF, ["dave@example.test"], {}, True, ACCEPT, Cause.TRUSTED_RELAY),
    (RELAY_ACCEPT, VIRUS, ["dave@example.test"], {}, True, ACCEPT, Cause.TRUSTED_RELAY),
    (RELAY_ACCEPT, CUT, ["dave@example.test"], {}, True, ACCEPT, Cause.TRUSTED_RELAY),
    (Policy(), REF, ["dave@example.test"], {}, True, REJECT, Cause.UNMATCHED),  # relay=True, none set
    (RELAY_ACCEPT, REF, [ALICE], {ALICE: [m(matches=3)]}, True, REJECT, Cause.BUDGET_EXHAUSTED),
    # the relay is asked first; a heuristic alone is at most tagged whatever the exception
    (BOTH, REF, [ALICE], {}, True, TAG, Cause.TRUSTED_RELAY),
    (BOTH, REF, [ALICE], {}, False, TAG, Cause.EXCEPTION_RECIPIENT),
    (EXCEPTED, HINT, [ALICE], {}, False, TAG, Cause.EXCEPTION_RECIPIENT),
]


@pytest.mark.parametrize(("policy", "finding", "rcpts", "found", "relay", "outcome", "cause"), ROWS)
def test_exception_rows(policy: Policy, finding: Finding, rcpts: list[str], found: dict[str, list[Match]],
                        relay: bool, outcome: str, cause: Cause) -> None:
    d = decide(policy, finding, rcpts, found, relay=relay)
    assert (d.outcome, d.cause) == (outcome, cause), d.reason
    if outcome == TAG:
        assert d.action == ACCEPT and d.trace is not None and d.trace.startswith("unverified (")
        assert d.reply is None
    if outcome == REJECT:
        assert d.reply is not None and d.reply[:2] == ("550", "5.7.1")
    if cause in (Cause.EXCEPTION_RECIPIENT, Cause.TRUSTED_RELAY):
        assert not d.matched and not d.matches  # an exception is no ledger match, and counts nothing
        assert "@" not in d.reason  # the reason is logged: it names no address


def test_a_relay_accept_says_so_in_its_trace_header() -> None:
    d = decide(RELAY_ACCEPT, REF, ["dave@example.test"], {}, relay=True)
    assert d.trace is not None and d.trace.startswith("relay (dsn; the returned original left through")
