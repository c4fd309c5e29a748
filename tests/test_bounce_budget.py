"""The bounce budget: a sent message may cause recipients x matches_per_recipient bounces.

Recorded with the outbound code (Recorder.record), decided and counted with
the inbound code (Inspector.inspect, Inspector.count), on the private Redis.
A ten-recipient message must take thirty real bounces and refuse the
thirty-first; recording every message with one recipient (a regression that
once passed the suite) refuses the fourth.
"""

from __future__ import annotations

from ledger.check import Envelope
from ledger.config import Config
from ledger.hashing import Hasher
from ledger.record import Recorder, SentMessage
from ledger.store import Ledger
from ledger.verdict import Inspector
from tests import messages

ALICE = "alice@example.test"
RECIPIENTS = [f"r{i}@example.com" for i in range(10)]
MID = "<budget-1@example.test>"


def bounce_of(failed: str) -> bytes:
    return messages.dsn(messages.original(message_id=MID, to=failed), failed=failed)


def test_the_recorder_stores_the_recipient_count(recorder: Recorder, ledger: Ledger,
                                                 hasher: Hasher) -> None:
    recorder.record(SentMessage(mail_from=ALICE, recipients=list(RECIPIENTS), message_id=MID))
    entry = hasher.message("budget-1@example.test", ALICE)
    assert ledger.find([entry])[entry].recipients == 10


def test_ten_recipients_take_thirty_bounces_and_refuse_the_thirty_first(
        recorder: Recorder, inspector: Inspector, config: Config) -> None:
    assert config.ledger.matches_per_recipient == 3  # the documented default
    recorder.record(SentMessage(mail_from=ALICE, recipients=list(RECIPIENTS), message_id=MID))
    actions = []
    for i in range(31):
        decision = inspector.inspect(Envelope("", [ALICE]), bounce_of(RECIPIENTS[i % 10]), claim=True)
        actions.append((decision.action, decision.matched))
    assert actions[:30] == [("accept", True)] * 30
    assert actions[30] == ("reject", False)
    last = inspector.inspect(Envelope("", [ALICE]), bounce_of(RECIPIENTS[0]))
    assert last.reason == "the original has already had as many bounces as it can cause"
