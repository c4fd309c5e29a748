"""Quoted header blocks in the untidy shapes real bounces give them (no server)."""

from __future__ import annotations

import pytest

from ledger.check.quoted import header_block_ids, labelled_ids, prose, recipients_in

BLOCK = ("From: Alice <alice@example.test>\nTo: bob@example.com\nSubject: Hi\n"
         "Date: Fri, 27 Nov 2026 09:00:00 +0000\nMessage-ID: <Orig-1@Example.TEST>\n"
         "In-Reply-To: <earlier@example.com>\nReferences: <root@example.com>\n")
BODY = "\nHello\nMessage-ID: <in-body@example.org>\n"


@pytest.mark.parametrize(
    "text",
    [
        BLOCK + BODY,
        BLOCK.replace("Message-ID: <Orig-1@Example.TEST>", "Message-ID:\n\t<Orig-1@Example.TEST>") + BODY,
        BLOCK.replace("Message-ID: <Orig-1@Example.TEST>", "Message-ID: <Orig-1@\n Example.TEST>") + BODY,
        "".join("> " + line + "\n" for line in BLOCK.splitlines()) + ">\n> Hello\n",
        "".join("    " + line + "\n" for line in BLOCK.splitlines()) + BODY,
        (BLOCK + BODY).replace("\n", "\r\n", 3),
        (BLOCK + BODY).replace("\n", "\r"),
        (BLOCK + BODY).replace("<", "&lt;").replace(">", "&gt;"),
        (BLOCK + BODY).replace("<", "&amp;lt;").replace(">", "&amp;gt;"),
        "Return-Path: <>\nFrom: MAILER-DAEMON@relay.example.net\nSubject: failure notice\n"
        "Message-ID: <bounce-9@relay.example.net>\n\nqmail said no.\n\n" + BLOCK + BODY,
    ],
    ids=["plain", "folded", "folded-inside", "quoted", "indented", "crlf-mix", "cr-only", "escaped",
         "double-escaped", "bounce-of-bounce"],
)
def test_the_original_id_and_nothing_else(text: str) -> None:
    assert header_block_ids(text) == ["orig-1@example.test"]


def test_a_prose_list_is_not_a_header_block() -> None:
    text = "Your message\n\n  Subject: Hi\n  Sent: Friday\n\ndid not reach some recipients.\n" + BODY
    assert header_block_ids(text) == []


def test_a_block_without_message_id_gives_nothing_not_the_body() -> None:
    text = BLOCK.replace("Message-ID: <Orig-1@Example.TEST>\n", "") + BODY
    assert header_block_ids(text) == []


def test_labelled_ids_and_prose() -> None:
    assert labelled_ids("Message-ID of the message: <A@B.example>\n") == ["a@b.example"]
    assert labelled_ids("The original message ID was <x@y.example>.") == ["x@y.example"]
    before, after = prose("Sorry.\n<bob@example.com>: no such user\n\n" + BLOCK + BODY)
    assert "bob@example.com" in before and "Orig-1" not in before and "Hello" in after


@pytest.mark.parametrize(
    ("line", "address"),
    [
        ("<bob@example.com>:", "bob@example.com"),
        ("  bob@example.com", "bob@example.com"),
        ("Bob Smith (bob@example.com)", "bob@example.com"),
        ("550 5.1.1 <bob@example.com>... User unknown", "bob@example.com"),
        ("550 bob@example.com... User unknown", "bob@example.com"),
        ("bob@example.com: 550 5.1.1 mailbox unavailable", "bob@example.com"),
        ("-> bob@example.com", "bob@example.com"),
        ("Recipient address: bob@example.com", "bob@example.com"),
        ("Your message to bob@example.com couldn't be delivered.", "bob@example.com"),
        ("      bob@example.com on 11/27/2026 9:00 AM", "bob@example.com"),
    ],
)
def test_recipients_in_bounce_prose(line: str, address: str) -> None:
    assert recipients_in(line) == [address]


def test_recipients_skip_ours_and_daemons() -> None:
    text = "<alice@example.test>:\n<postmaster@example.com>:\nContact helpdesk@example.com for help.\n"
    assert recipients_in(text, frozenset({"alice@example.test"})) == []
