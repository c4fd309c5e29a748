"""Record with the outbound code, decide with the inbound code, on a real Redis."""

from __future__ import annotations

import redis

from ledger.check import Envelope
from ledger.config import Config
from ledger.record import Recorder, SentMessage
from ledger.redis_client import connect
from ledger.services import inspector_for
from ledger.store import Ledger
from ledger.verdict import Inspector
from tests import messages

ALICE = "alice@example.test"


def send(recorder: Recorder, message_id: str = "<orig-1@example.test>", rcpts: int = 1) -> None:
    recorder.record(SentMessage(mail_from=ALICE, recipients=[f"r{i}@example.com" for i in range(rcpts)],
                                message_id=message_id, from_header=f"Alice <{ALICE}>"))


def bounce_envelope(rcpt: str = ALICE) -> Envelope:
    return Envelope(mail_from="", recipients=[rcpt], client="mx.example.com[192.0.2.1]")


def test_real_bounce_is_accepted_forged_one_rejected(recorder: Recorder, inspector: Inspector) -> None:
    send(recorder)
    real = inspector.inspect(bounce_envelope(), messages.dsn(messages.original()))
    assert (real.action, real.kind, real.matched) == ("accept", "dsn", True)
    assert real.references == ("orig-1@example.test",)
    forged = inspector.inspect(bounce_envelope(),
                               messages.dsn(messages.original(message_id="<never-sent@example.test>")))
    assert forged.action == "reject" and forged.reply is not None and forged.reply[0] == "550"


def test_entry_is_bound_to_its_sender(recorder: Recorder, inspector: Inspector) -> None:
    send(recorder)
    other = inspector.inspect(bounce_envelope("mallory@example.test"),
                              messages.dsn(messages.original(), rcpt="mallory@example.test"))
    assert other.action == "reject"


def test_from_address_also_counts_for_autoreplies(recorder: Recorder, inspector: Inspector) -> None:
    recorder.record(SentMessage(mail_from="bounces+123@lists.example.test", recipients=["bob@example.com"],
                                message_id="<news-1@example.test>", from_header="News <news@example.test>"))
    reply = inspector.inspect(Envelope(mail_from="bob@example.com", recipients=["news@example.test"]),
                              messages.autoreply("<news-1@example.test>", to="news@example.test"))
    assert reply.action == "accept" and reply.matched


def test_autoreply_and_mdn_match(recorder: Recorder, inspector: Inspector) -> None:
    send(recorder)
    auto = inspector.inspect(Envelope("bob@example.com", [ALICE]), messages.autoreply())
    assert auto.action == "accept" and auto.kind == "autoreply"
    mdn = inspector.inspect(Envelope("", [ALICE]), messages.mdn())
    assert mdn.action == "accept" and mdn.kind == "mdn"


def test_ordinary_mail_is_not_a_candidate(inspector: Inspector) -> None:
    d = inspector.inspect(Envelope("carol@example.com", [ALICE]), messages.ordinary())
    assert (d.action, d.candidate, d.kind) == ("accept", False, None)


def test_bounce_budget_runs_out(recorder: Recorder, inspector: Inspector) -> None:
    send(recorder, rcpts=1)
    raw = messages.dsn(messages.original())
    for _ in range(3):
        d = inspector.inspect(bounce_envelope(), raw, claim=True)
        assert d.action == "accept"
    d = inspector.inspect(bounce_envelope(), raw)
    assert d.action == "reject" and "as many bounces" in d.reason


def test_unreachable_ledger_tempfails_candidates_only(config: Config) -> None:
    dead = Ledger(connect("unix:///nonexistent/redis.sock", 0.2, 0.2))
    inspector = inspector_for(config, dead)
    d = inspector.inspect(bounce_envelope(), messages.dsn(messages.original()))
    assert d.action == "tempfail" and d.reply is not None and d.reply[:2] == ("451", "4.7.1")
    assert inspector.inspect(Envelope("carol@example.com", [ALICE]), messages.ordinary()).action == "accept"


def test_recording_without_message_id_or_with_null_sender(recorder: Recorder,
                                                         redis_client: redis.Redis) -> None:
    assert recorder.record(SentMessage(mail_from=ALICE, message_id=None)).entries == ()
    assert recorder.record(SentMessage(mail_from="", message_id="<x@example.test>")).entries == ()
    assert redis_client.dbsize() == 0
