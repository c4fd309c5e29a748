"""The envelope check against a real Redis: pairs recorded outbound, found inbound in one round trip."""

from __future__ import annotations

import re
from typing import Any

import redis

from ledger.check import Envelope
from ledger.hashing import MESSAGE, PAIR
from ledger.record import SentMessage
from ledger.store import Ledger
from tests import samples

ALICE = "alice@example.test"


def sent(recipients: list[str], message_id: str | None = "<other-77@example.test>") -> SentMessage:
    return SentMessage(mail_from=ALICE, recipients=recipients, message_id=message_id,
                       from_header="Alice <Alice@Example.TEST>")


def test_recorder_stores_one_pair_per_sender_and_recipient(recorder: Any, hasher: Any,
                                                           ledger: Ledger) -> None:
    result = recorder.record(sent(["Bob@Example.com", "carol@example.net"]))
    assert len(result.pairs) == 2  # envelope sender == From address: one sender, two recipients
    found = ledger.find_kinds({PAIR: [hasher.pair(ALICE, "bob@example.com"),
                                      hasher.pair(ALICE, "dave@example.org")]})
    assert list(found[PAIR]) == [hasher.pair(ALICE, "bob@example.com")]
    assert next(iter(found[PAIR].values())).recipients == 1  # value 1


def test_find_kinds_is_one_round_trip(ledger: Ledger, hasher: Any, redis_client: redis.Redis) -> None:
    ledger.record([hasher.message("a@example.test", ALICE)], kind=MESSAGE)
    ledger.record([hasher.pair(ALICE, "bob@example.com")], kind=PAIR)
    calls = []
    real = ledger.client.pipeline

    def counting(*args: Any, **kwargs: Any) -> Any:
        pipe = real(*args, **kwargs)
        calls.append(pipe)
        return pipe

    ledger.client.pipeline = counting  # type: ignore[method-assign]
    found = ledger.find_kinds({
        MESSAGE: [hasher.message("a@example.test", ALICE), hasher.message("b@example.test", ALICE)],
        PAIR: [hasher.pair(ALICE, "bob@example.com")],
    })
    assert len(calls) == 1
    assert len(found[MESSAGE]) == 1 and len(found[PAIR]) == 1


def test_bounce_without_reference_is_accepted_by_the_envelope(recorder: Any, inspector: Any) -> None:
    raw = samples.sendmail_v5_no_reference()
    envelope = Envelope(mail_from="", recipients=[ALICE])
    before = inspector.inspect(envelope, raw)
    assert before.action == "reject" and before.kind == "bounce"
    recorder.record(sent(["bob@example.com"]))
    after = inspector.inspect(envelope, raw)
    assert after.action == "accept" and after.matched and after.reason.startswith("envelope")


def test_pair_of_another_user_does_not_count(recorder: Any, inspector: Any) -> None:
    recorder.record(SentMessage(mail_from="mallory@example.test", recipients=["bob@example.com"],
                                message_id="<m-1@example.test>"))
    envelope = Envelope(mail_from="", recipients=[ALICE])
    decision = inspector.inspect(envelope, samples.sendmail_v5_no_reference())
    assert decision.action == "reject"


def test_challenge_is_matched_by_its_from(recorder: Any, inspector: Any) -> None:
    # A challenge that quotes no Message-ID: only the (alice, bob) pair can match.
    raw = re.sub(rb"> Message-I[Dd]:[^\r\n]*\r?\n", b"", samples.generic_challenge())
    envelope = Envelope(mail_from="bob@example.com", recipients=[ALICE])
    recorder.record(sent(["bob@example.com"]))
    decision = inspector.inspect(envelope, raw)
    assert decision.kind == "challenge" and decision.references == ()
    assert decision.action == "accept" and decision.reason.startswith("envelope")


def test_a_quoted_id_not_ours_is_not_rescued_by_the_envelope(recorder: Any, inspector: Any) -> None:
    # A joe-job: malware on bob's side sends as alice to bob, whose C/R system
    # challenges alice quoting the forged message. alice did write to bob once,
    # but the challenge names an original that is not hers: refuse it.
    recorder.record(sent(["bob@example.com"]))
    decision = inspector.inspect(Envelope(mail_from="bob@example.com", recipients=[ALICE]),
                                 samples.generic_challenge())
    assert decision.references == (samples.ORIG_ID,) and decision.action == "reject"


def test_unreachable_ledger_tempfails(config: Any) -> None:
    from ledger.services import inspector_for

    dead = inspector_for(config.with_redis_url("redis://127.0.0.1:1/0"))
    decision = dead.inspect(Envelope(mail_from="", recipients=[ALICE]), samples.qmail())
    assert decision.action == "tempfail" and decision.reply is not None and decision.reply[0] == "451"
