"""Trusted relays and exception recipients: parsing the lists and reading the returned Received chain."""

from __future__ import annotations

import pytest

from ledger.check import Envelope, parse
from ledger.check.relays import left_through, returned_fields, trusted_relay
from ledger.config import ConfigError, load_config
from ledger.exceptions import ExceptionError, RecipientExceptions, RelayList
from tests import messages

RELAYS = RelayList.parse(["relay.provider.example", ".out.example.net", "198.51.100.0/24", "2001:db8::/32"])


def original_via(received: str, message_id: str = "<orig-9@example.test>") -> bytes:
    return (f"Received: {received}\r\n" + messages.original(message_id=message_id).decode()).encode()


def dsn_of(original: bytes, headers_only: bool = False) -> bytes:
    return messages.dsn(original, headers_only=headers_only)


@pytest.mark.parametrize("received", [
    "from relay.provider.example (relay.provider.example [203.0.113.5]) by mx.remote.example "
    "(Postfix) with ESMTPS id 4ABC; Fri, 27 Nov 2026 09:00:01 +0000",
    "from client.example.test ([192.0.2.7]) by relay.provider.example with ESMTPSA id x; Fri, 27 Nov 2026",
    "from [198.51.100.23] (helo=laptop) by mx.remote.example with esmtp; Fri, 27 Nov 2026",
    "from unknown (HELO laptop) (198.51.100.200) by mx.remote.example; Fri, 27 Nov 2026",
    "from smtp7.out.example.net (smtp7.out.example.net [192.0.2.9]) by mx.remote.example; x",
    "from mail (mail [IPv6:2001:db8::25]) by mx.remote.example; x",
    "FROM Relay.Provider.Example. BY mx.remote.example; x",
])
def test_a_returned_received_line_naming_a_relay_counts(received: str) -> None:
    fields = [("received", received), ("from", "alice@example.test")]
    assert left_through(fields, RELAYS)


@pytest.mark.parametrize("received", [
    "from mx.remote.example by mx2.remote.example; x",
    "from notrelay.provider.example ([203.0.113.5]) by mx.remote.example; x",  # another host
    "from relay.provider.example.evil.test ([203.0.113.5]) by mx.remote.example; x",
    "from out.example.net ([203.0.113.5]) by mx.remote.example; x",  # the suffix's own name: not below
    "from x ([198.51.101.1]) by mx.remote.example; x",  # outside the network
    "from x by y for <someone@relay.provider.example>; x",  # an address, not a host of the chain
])
def test_other_received_lines_do_not(received: str) -> None:
    assert not left_through([("received", received)], RELAYS)


def test_only_received_fields_count_and_nothing_without_relays() -> None:
    assert not left_through([("x-note", "from relay.provider.example by mx.remote.example")], RELAYS)
    assert not left_through([("received", "from relay.provider.example by x")], RelayList())


def test_the_returned_original_is_read_in_each_of_its_places() -> None:
    line = "from relay.provider.example ([203.0.113.5]) by mx.remote.example; Fri, 27 Nov 2026"
    original = original_via(line)
    inline = (b"From: MAILER-DAEMON@mx.remote.example\r\nTo: alice@example.test\r\n"
              b"Subject: failure notice\r\n\r\nSorry, it failed.\r\n\r\n"
              b"--- Below this line is a copy of the message.\r\n\r\n" + original)
    for raw in (dsn_of(original), dsn_of(original, headers_only=True), inline):
        parsed = parse(raw, Envelope("", ["alice@example.test"]))
        assert ("received", line) in returned_fields(parsed), raw[:200]
        assert trusted_relay(parsed, RELAYS)


def test_the_bounces_own_received_chain_and_the_returned_body_never_count() -> None:
    """Our own MX (or a relay) in the bounce's path, and a Received line in the original's body."""
    body_line = b"Received: from relay.provider.example by mx.remote.example; x\r\n"
    original = messages.original().replace(b"Hello Bob,\r\n", b"Hello Bob,\r\n" + body_line)
    raw = (b"Received: from relay.provider.example ([198.51.100.1]) by mx.example.test; x\r\n"
           + dsn_of(original))
    parsed = parse(raw, Envelope("", ["alice@example.test"]))
    assert returned_fields(parsed)  # the original was found ...
    assert not trusted_relay(parsed, RELAYS)  # ... and shows no relay


def test_lists_are_parsed_or_refused_with_the_entry_named() -> None:
    exc = RecipientExceptions.parse(["Bob@Example.ORG", "@branch.example.org", "example.net."])
    assert exc.addresses == {"bob@example.org"} and exc.domains == {"branch.example.org", "example.net"}
    assert exc.covers("<BOB@example.org>") and exc.covers("x@example.net")
    assert not exc.covers("x@sub.example.net") and not exc.covers("carol@example.org")
    assert not exc.cover_all([]) and not RecipientExceptions()
    for bad in ("", "not an address", "bob@", "@", "bob@localhost", "a b@example.org"):
        with pytest.raises(ExceptionError, match="neither an address nor a domain"):
            RecipientExceptions.parse([bad])
    for bad in ("", "relay", "relay..example", "300.1.2.3/8", "host/24", "-"):
        with pytest.raises(ExceptionError, match="neither a host name nor an IP"):
            RelayList.parse([bad])
    assert RelayList.parse(["192.0.2.1"]).address("192.0.2.1")
    assert RelayList.parse(["192.0.2.0/24"]).address("::ffff:192.0.2.7")  # v4-mapped


def test_config_section_is_validated_with_one_line_errors(tmp_path) -> None:  # type: ignore[no-untyped-def]
    path = tmp_path / "c.toml"
    good = ('[inbound.exceptions]\nrecipients = ["bob@example.org", "example.net"]\n'
            'trusted_relays = ["relay.example.org", "192.0.2.0/24"]\nrelay_action = "accept"\n')
    path.write_text(good)
    cfg = load_config(str(path), require_secret=False)
    assert cfg.inbound.exceptions.recipients == ("bob@example.org", "example.net")
    assert cfg.inbound.exceptions.relay_action == "accept"
    for text, message in (
        ('[inbound.exceptions]\nrecipients = ["bob@"]\n', "inbound.exceptions.recipients: 'bob@'"),
        ('[inbound.exceptions]\ntrusted_relays = ["relay"]\n', "inbound.exceptions.trusted_relays: 'relay'"),
        ('[inbound.exceptions]\nrelay_action = "reject"\n', "relay_action: must be one of tag, accept"),
        ('[inbound.exceptions]\nrecipients = "bob@example.org"\n', "recipients: expected tuple"),
        ('[inbound.exceptions]\nsenders = []\n', "inbound.exceptions.senders: unknown setting"),
    ):
        path.write_text(text)
        with pytest.raises(ConfigError) as err:
            load_config(str(path), require_secret=False)
        assert message in str(err.value) and "\n" not in str(err.value)
