"""SRS against a real postsrsd, run privately: what it writes we accept, what it refuses we refuse.

postsrsd (Debian's package) runs as our child on loopback ports with a
private secret file (testbed/postsrsd.py) and rewrites addresses through its
tcp_table protocol, as Postfix would ask it. sender-ledger is configured with
that same secret file (``[srs] secret_file``) on a real private Redis, and
decides bounces sent to the addresses postsrsd wrote. Each refusal is checked
against postsrsd's own reverse lookup too: both sides must agree.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from ledger.check import Envelope
from ledger.config import load_config
from ledger.decide import ACCEPT, REJECT, Cause
from ledger.record import Recorder, SentMessage
from ledger.services import inspector_for
from ledger.store import Ledger
from ledger.verdict import Inspector
from testbed import RedisServer
from testbed.postsrsd import PrivatePostsrsd, SrsLookupError
from tests import messages
from tests.conftest import write_config

DOMAIN = "fwd.example.test"
CURRENT = "srs-current-secret-7f3a9c"
OLD = "srs-previous-secret-2b81"
BASE32 = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"


@pytest.fixture(scope="module")
def postsrsd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PrivatePostsrsd]:
    daemon = PrivatePostsrsd(tmp_path_factory.mktemp("postsrsd"), DOMAIN, [CURRENT, OLD]).start()
    yield daemon
    daemon.stop()


def srs_inspector(tmp_path: Path, redis_server: RedisServer, secret_file: Path | None) -> Inspector:
    extra = f'[srs]\nsecret_file = "{secret_file}"\n' if secret_file else ""
    cfg = load_config(str(write_config(tmp_path / "sender-ledger.toml", redis_server.url, extra)))
    return inspector_for(cfg)


@pytest.fixture()
def inspector(tmp_path: Path, redis_server: RedisServer, ledger: Ledger,
              postsrsd: PrivatePostsrsd) -> Inspector:
    """Our inspector, reading postsrsd's own secret file."""
    return srs_inspector(tmp_path, redis_server, postsrsd.secret_file)


def bounce_to(inspector: Inspector, rcpt: str, sender: str = "bob@remote.example"):  # type: ignore[no-untyped-def]
    """A real-looking DSN of forwarded mail (its original never passed our outbound side)."""
    original = messages.original(message_id="<forwarded-1@remote.example>", sender=sender)
    return inspector.inspect(Envelope("", [rcpt], client="mx.elsewhere.test[192.0.2.7]"),
                             messages.dsn(original, rcpt=rcpt))


def today_stamp(days_ago: int = 0) -> str:
    day = (int(time.time() // 86400) - days_ago) % 1024
    return BASE32[day >> 5] + BASE32[day & 31]


def spec_address(secret: str, local: str, domain: str, days_ago: int) -> str:
    """An SRS0 address written by the public spec with ``secret``, ``days_ago`` days old."""
    stamp = today_stamp(days_ago)
    mac = hmac.new(secret.encode(), (stamp + domain + local).lower().encode(), hashlib.sha1)
    return f"SRS0={base64.b64encode(mac.digest()).decode()[:4]}={stamp}={domain}={local}@{DOMAIN}"


@pytest.mark.parametrize("original", [
    "bob@remote.example",
    "Bob.Smith@Remote.Example",
    "bob+lists@remote.example",
    "SRS0=abcd=<today>=first.example=carol@other.example",  # forwarded twice: postsrsd writes SRS1
])
def test_bounces_to_addresses_postsrsd_wrote_are_accepted(
        inspector: Inspector, postsrsd: PrivatePostsrsd, original: str) -> None:
    # (an SRS1's inner day stamp is the first forwarder's, and is held to max_age_days too)
    address = postsrsd.forward(original.replace("<today>", today_stamp()))
    assert address.startswith(("SRS0=", "SRS1=")) and address.endswith(f"@{DOMAIN}")
    decision = bounce_to(inspector, address)
    assert (decision.action, decision.cause, decision.matched) == (ACCEPT, Cause.SRS, True)
    assert decision.trace is not None and decision.trace.startswith("pass (dsn; srs:")
    # so do addresses folded to lower case by a relay on the way back (postsrsd agrees)
    postsrsd.reverse(address.lower())
    assert bounce_to(inspector, address.lower()).cause == Cause.SRS
    # the decoded original is named nowhere in what is logged
    assert "remote" not in decision.reason.lower() and "first.example" not in decision.reason


def test_without_srs_configured_the_same_bounce_is_refused(
        tmp_path: Path, redis_server: RedisServer, ledger: Ledger, postsrsd: PrivatePostsrsd) -> None:
    address = postsrsd.forward("bob@remote.example")
    decision = bounce_to(srs_inspector(tmp_path, redis_server, None), address)
    assert (decision.action, decision.cause) == (REJECT, Cause.UNMATCHED)


def test_a_tampered_hash_is_refused_as_forged(inspector: Inspector, postsrsd: PrivatePostsrsd) -> None:
    address = postsrsd.forward("bob@remote.example")
    hash_ = address[5:9]
    tampered = address.replace(hash_, ("Q" if hash_[0] not in "Qq" else "R") + hash_[1:], 1)
    with pytest.raises(SrsLookupError):
        postsrsd.reverse(tampered)
    decision = bounce_to(inspector, tampered)
    assert (decision.action, decision.cause) == (REJECT, Cause.SRS_FORGED)
    assert decision.reply is not None and decision.reply[:2] == ("550", "5.7.1")


def test_an_expired_timestamp_is_refused_as_expired(inspector: Inspector,
                                                    postsrsd: PrivatePostsrsd) -> None:
    fresh = spec_address(CURRENT, "bob", "remote.example", days_ago=21)
    assert postsrsd.reverse(fresh) == "bob@remote.example"  # the spec, as postsrsd reads it
    assert bounce_to(inspector, fresh).cause == Cause.SRS
    expired = spec_address(CURRENT, "bob", "remote.example", days_ago=22)
    with pytest.raises(SrsLookupError, match="out of date"):
        postsrsd.reverse(expired)
    decision = bounce_to(inspector, expired)
    assert (decision.action, decision.cause) == (REJECT, Cause.SRS_EXPIRED)
    assert "22 days ago" in decision.reason


def test_an_address_signed_with_a_different_secret_is_refused(
        inspector: Inspector, tmp_path: Path) -> None:
    other = PrivatePostsrsd(tmp_path / "other", DOMAIN, ["somebody-elses-secret-91"]).start()
    try:
        address = other.forward("bob@remote.example")
        assert other.reverse(address) == "bob@remote.example"
    finally:
        other.stop()
    decision = bounce_to(inspector, address)
    assert (decision.action, decision.cause) == (REJECT, Cause.SRS_FORGED)


def test_every_secret_of_the_file_verifies_and_any_separator_reads(
        inspector: Inspector, tmp_path: Path) -> None:
    # A postsrsd that still signs with the old secret (the second line of ours), with "+".
    before = PrivatePostsrsd(tmp_path / "before", DOMAIN, [OLD], separator="+").start()
    try:
        address = before.forward("bob@remote.example")
    finally:
        before.stop()
    assert address.startswith("SRS0+")
    assert bounce_to(inspector, address).cause == Cause.SRS


def test_a_bounce_to_an_srs_and_an_ordinary_recipient_needs_both(
        inspector: Inspector, postsrsd: PrivatePostsrsd) -> None:
    """The valid SRS recipient is ours; the other still needs its ledger match."""
    address = postsrsd.forward("bob@remote.example")
    original = messages.original(message_id="<never-sent-9@example.test>")
    decision = inspector.inspect(Envelope("", [address, "alice@example.test"]),
                                 messages.dsn(original))
    assert (decision.action, decision.cause) == (REJECT, Cause.UNMATCHED)


def test_with_its_other_recipient_matched_the_bounce_is_accepted(
        inspector: Inspector, postsrsd: PrivatePostsrsd, recorder: Recorder) -> None:
    recorder.record(SentMessage(mail_from="alice@example.test", recipients=["bob@example.com"],
                                message_id="<sent-by-alice-3@example.test>"))
    address = postsrsd.forward("bob@remote.example")
    original = messages.original(message_id="<sent-by-alice-3@example.test>")
    decision = inspector.inspect(Envelope("", [address, "alice@example.test"]),
                                 messages.dsn(original))
    assert (decision.action, decision.cause, decision.matched) == (ACCEPT, Cause.MATCHED, True)
