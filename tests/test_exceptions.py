"""[inbound.exceptions] through the Inspector on a real private Redis, and in `stats`.

Mail of the domain that left around the outbound milter (another provider, a relay
without a milter) is not in the ledger: its bounces are tagged for exception
recipients, and count as ours (tagged by default) when the returned original left
through a trusted relay. Everything else is refused as before.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import redis

from ledger.check import Envelope
from ledger.cli import main
from ledger.config import Config, load_config
from ledger.decide import Cause
from ledger.observe import Observer
from ledger.record import SentMessage
from ledger.services import inspector_for, open_ledger, recorder_for
from ledger.verdict import Inspector
from testbed import RedisServer
from tests import messages
from tests.conftest import write_config

EXCEPTIONS = ('[inbound.exceptions]\nrecipients = ["bob@example.test", "@branch.example.test"]\n'
              'trusted_relays = ["smtp.provider.example", "198.51.100.0/24"]\n')
RELAY_LINE = ("Received: from laptop ([192.0.2.7]) by smtp.provider.example with ESMTPSA id 4Q;"
              " Fri, 27 Nov 2026 09:00:00 +0000\r\n")


def config_with(tmp_path: Path, server: RedisServer, extra: str) -> tuple[Path, Config]:
    path = write_config(tmp_path / "sender-ledger.toml", server.url, extra)
    return path, load_config(str(path))


def forged_dsn(rcpt: str, received: str = "") -> bytes:
    """A DSN of a message never sent through us, returned to ``rcpt``."""
    original = received.encode() + messages.original(message_id="<elsewhere-1@example.test>", sender=rcpt)
    return messages.dsn(original, rcpt=rcpt, failed="nobody@remote.example")


def verdict(inspector: Inspector, rcpt: str, raw: bytes) -> tuple[str, Cause]:
    d = inspector.inspect(Envelope("", [rcpt], client="mx.remote.example[203.0.113.9]"), raw)
    return d.outcome, d.cause


def test_exception_recipients_are_tagged_others_still_refused(tmp_path: Path, redis_server: RedisServer,
                                                             redis_client: redis.Redis) -> None:
    _, cfg = config_with(tmp_path, redis_server, EXCEPTIONS)
    inspector = inspector_for(cfg)
    recorder_for(cfg, open_ledger(cfg)).record(SentMessage(
        "alice@example.test", ["nobody@remote.example"], "<sent-1@example.test>", "alice@example.test"))
    assert verdict(inspector, "bob@example.test", forged_dsn("bob@example.test")) == (
        "tag", Cause.EXCEPTION_RECIPIENT)
    assert verdict(inspector, "carol@branch.example.test", forged_dsn("carol@branch.example.test")) == (
        "tag", Cause.EXCEPTION_RECIPIENT)
    assert verdict(inspector, "alice@example.test", forged_dsn("alice@example.test")) == (
        "reject", Cause.UNMATCHED)
    # a real bounce of mail sent through us is still a match for everybody
    real = messages.dsn(messages.original(message_id="<sent-1@example.test>"), failed="nobody@remote.example")
    assert verdict(inspector, "alice@example.test", real) == ("accept", Cause.MATCHED)


def test_trusted_relay_tags_by_default_and_accepts_when_configured(
        tmp_path: Path, redis_server: RedisServer, redis_client: redis.Redis) -> None:
    _, cfg = config_with(tmp_path, redis_server, EXCEPTIONS)
    inspector = inspector_for(cfg)
    via_relay = forged_dsn("alice@example.test", RELAY_LINE)
    assert verdict(inspector, "alice@example.test", via_relay) == ("tag", Cause.TRUSTED_RELAY)
    by_ip = forged_dsn("alice@example.test", "Received: from x ([198.51.100.4]) by mx.remote.example; x\r\n")
    assert verdict(inspector, "alice@example.test", by_ip) == ("tag", Cause.TRUSTED_RELAY)
    other = forged_dsn("alice@example.test", RELAY_LINE.replace("smtp.provider", "smtp.stranger"))
    assert verdict(inspector, "alice@example.test", other) == ("reject", Cause.UNMATCHED)

    _, accepting = config_with(tmp_path, redis_server, EXCEPTIONS + 'relay_action = "accept"\n')
    decision = inspector_for(accepting).inspect(Envelope("", ["alice@example.test"]), via_relay)
    assert (decision.outcome, decision.cause) == ("accept", Cause.TRUSTED_RELAY)
    assert decision.trace is not None and decision.trace.startswith("relay (dsn;")


def test_without_exceptions_configured_the_same_bounces_are_refused(
        config: Config, inspector: Inspector) -> None:
    assert verdict(inspector, "bob@example.test", forged_dsn("bob@example.test")) == (
        "reject", Cause.UNMATCHED)
    assert verdict(inspector, "alice@example.test", forged_dsn("alice@example.test", RELAY_LINE)) == (
        "reject", Cause.UNMATCHED)


def test_a_relay_line_in_the_bounces_own_header_is_no_evidence(
        tmp_path: Path, redis_server: RedisServer, redis_client: redis.Redis) -> None:
    _, cfg = config_with(tmp_path, redis_server, EXCEPTIONS)
    raw = RELAY_LINE.encode() + forged_dsn("alice@example.test")
    assert verdict(inspector_for(cfg), "alice@example.test", raw) == ("reject", Cause.UNMATCHED)


def test_redis_down_is_still_a_tempfail_for_an_exception_recipient(
        tmp_path: Path, redis_server: RedisServer) -> None:
    path = write_config(tmp_path / "down.toml", "redis://127.0.0.1:1", EXCEPTIONS)
    inspector = inspector_for(load_config(str(path)))
    assert verdict(inspector, "bob@example.test", forged_dsn("bob@example.test")) == (
        "tempfail", Cause.UNREACHABLE)


def test_each_exception_is_counted_and_shown_by_stats(
        tmp_path: Path, redis_server: RedisServer, redis_client: redis.Redis,
        capsys: pytest.CaptureFixture[str]) -> None:
    path, cfg = config_with(tmp_path, redis_server, EXCEPTIONS)
    inspector, observer = inspector_for(cfg), Observer.from_config(cfg, redis_client)
    for rcpt, raw in (("bob@example.test", forged_dsn("bob@example.test")),
                      ("carol@branch.example.test", forged_dsn("carol@branch.example.test")),
                      ("alice@example.test", forged_dsn("alice@example.test", RELAY_LINE)),
                      ("alice@example.test", forged_dsn("alice@example.test"))):
        envelope = Envelope("", [rcpt], queue_id="Q1")
        observer.decided(envelope, inspector.inspect(envelope, raw), 0.001)
    observer.close()
    assert main(["stats", "--config", str(path), "--json"]) == 0
    day = json.loads(capsys.readouterr().out)["days"][0]
    assert day["exceptions"] == {"exception recipient": 2, "trusted relay": 1}
    assert (day["tagged"], day["rejected"]) == (3, 1)
    assert main(["stats", "--config", str(path), "--days", "1"]) == 0
    out = capsys.readouterr().out
    assert "exceptions used ([inbound.exceptions])" in out
    assert "exception recipient: 2; trusted relay: 1" in out
    # nothing in clear: the counters and the decision log name no exception address
    for key in redis_client.keys("*"):
        if redis_client.type(key) == b"hash":
            dumped = repr(redis_client.hgetall(key))
        elif redis_client.type(key) == b"stream":
            dumped = repr(redis_client.xrange(key))
        else:
            continue
        assert "bob@" not in dumped and "carol@" not in dumped and "provider" not in dumped
