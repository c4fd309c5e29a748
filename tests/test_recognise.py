"""Finding the original where real software puts it (pure logic, no server).

The corpus (tests/corpus/backscatter/, the formats of tests/corpus/generate/realworld.py)
holds the whole messages; these tests pin the subtle rules one by one: one
bounce test for every path, the lenient fall-backs and their limits, weak
(``@``-less) Message-IDs, bounces of our own notices, the screen's patterns.
"""

from __future__ import annotations

import base64
import quopri

import pytest

from ledger import msgid
from ledger.check import Envelope, examine, lenient, parse, screen
from ledger.check.candidate import Candidate
from ledger.check.detectors.base import Finding
from ledger.check.extract import is_bounce, original_references, references_or_reply
from ledger.check.nested import is_bounce_section, sent_by
from ledger.check.patterns import is_daemon_localpart, list_manager_address
from ledger.check.quoted import HeaderBlock, header_block_ids, weak_id
from ledger.check.stream import Scanner
from ledger.decide import Policy, decide
from ledger.hashing import EntryHash
from ledger.match import Match

USER = "alice@example.test"
OWN = "<own.1@mx.example.com>"
ORIG = "<orig.7@example.test>"


def dsn(returned: str, boundary: str = "R", declared: str | None = None, extra: str = "") -> bytes:
    """A multipart/report whose third part is ``returned`` (its part header, a blank line, content)."""
    parts = [
        "Content-Type: text/plain\n\nYour message could not be delivered.\n",
        "Content-Type: message/delivery-status\n\nReporting-MTA: dns; mx.example.com\n\n"
        "Final-Recipient: rfc822; bob@example.com\nAction: failed\nStatus: 5.1.1\n",
        returned,
    ]
    body = "".join(f"--{boundary}\n{p}\n" for p in parts) + f"--{boundary}--\n"
    return (f"From: MAILER-DAEMON@mx.example.com\nTo: {USER}\nSubject: Undelivered Mail Returned to Sender\n"
            f"Message-ID: {OWN}\n{extra}MIME-Version: 1.0\nContent-Type: multipart/report; "
            f'report-type=delivery-status; boundary="{declared or boundary}"\n\n{body}').encode()


def refs_of(raw: bytes) -> list[str]:
    finding = examine(parse(raw, Envelope("", [USER])))
    assert finding is not None
    return list(finding.references)


def section(**fields: str) -> dict[str, str]:
    return {name.rstrip("_").replace("_", "-"): value for name, value in fields.items()}


# -- 1. one bounce test for every path ---------------------------------------------------------

# (fields of a returned section, is it a bounce's, is its own ID taken when nothing is inside)
BOUNCE_OR_NOT = [
    (section(from_="postmaster@example.test", subject="Mailbox quota at 90 %"), False, True),
    (section(from_="Mailer <mailer@example.test>", subject="Monthly statement"), False, True),
    (section(from_="postmaster@example.test", subject="Undelivered Mail Returned to Sender"), True, False),
    (section(from_="MAILER-DAEMON (Mail Delivery System)", subject="failure notice"), True, False),
    (section(from_="bob@example.com", subject="hi", return_path="<>"), True, False),
    (section(from_="bob@example.com", subject="hi", content_type="multipart/report; report-type=x"),
     True, False),
    (section(from_="bob@example.com", subject="hi", auto_submitted="auto-replied"), True, True),
    (section(from_="bob@example.com", subject="hi", auto_submitted="no"), False, True),
    (section(from_="bob@example.com", subject="Undeliverable: hi"), False, True),
]


@pytest.mark.parametrize(("fields", "bounce", "taken"), BOUNCE_OR_NOT)
def test_every_path_asks_the_same_bounce_question(fields: dict[str, str], bounce: bool, taken: bool) -> None:
    """The attached part, the quoted block and the stream scan agree (a daemon From alone is no bounce)."""
    assert is_bounce_section(fields.get) is bounce
    text = "".join(f"{name}: {value}\n" for name, value in fields.items()) + f"Message-ID: {ORIG}\n"
    assert is_bounce(parse((text + "\nbody\n").encode()).message) is bounce
    block = HeaderBlock(fields=[*fields.items(), ("message-id", ORIG)])
    assert block.is_bounce_header() is bounce
    returned = dsn("Content-Type: message/rfc822\n\n" + text + "\nbody\n")
    scanner = Scanner()
    scanner.feed(returned)
    scanner.close()
    norm = msgid.normalise(ORIG)
    assert (norm in scanner.references()) is taken
    assert (norm in refs_of(returned)) is taken
    quoted = (b"From: MAILER-DAEMON@mx.example.com\nTo: alice@example.test\nSubject: failure notice\n\n"
              b"Hi. This is the qmail-send program at mx.example.com.\n\n"
              b"--- Below this line is a copy of the message.\n\n" + text.encode() + b"\nbody\n")
    assert (norm in refs_of(quoted)) is taken


def test_a_qmail_bounce_of_mail_from_our_postmaster_names_it() -> None:
    """Before: the quoted block of an original from postmaster@ was taken for a nested bounce."""
    raw = (f"From: MAILER-DAEMON@mx.example.com\nTo: postmaster@example.test\nSubject: failure notice\n"
           f"Message-ID: {OWN}\n\nHi. This is the qmail-send program at mx.example.com.\n"
           "<bob@example.com>:\nSorry, no mailbox here by that name. (#5.1.1)\n\n"
           "--- Below this line is a copy of the message.\n\nReturn-Path: <postmaster@example.test>\n"
           f"Message-ID: {ORIG}\nFrom: postmaster@example.test\nTo: bob@example.com\n"
           "Subject: Mailbox quota at 90 %\nDate: Tue, 1 Dec 2026 09:00:00 +0000\n\n"
           "Your mailbox is full.\n").encode()
    assert refs_of(raw) == [msgid.normalise(ORIG)]


def test_sent_by_is_a_non_null_address_of_ours() -> None:
    assert sent_by(section(from_=f"Alice <{USER}>").get, [USER])
    assert sent_by(section(return_path=f"<{USER}>", from_="x@example.com").get, [f"<{USER}>"])
    assert not sent_by(section(return_path="<>", from_=USER).get, [USER])
    assert not sent_by(section(from_="bob@example.com").get, [USER])
    assert not sent_by(section(from_=USER).get, [""])


# -- 7. a bounce of our own notice ----------------------------------------------------------------

def _returned_notice(sender: str, notice_id: str) -> str:
    return ("Content-Type: message/rfc822\n\n"
            f"Return-Path: <{sender}>\nMessage-ID: {notice_id}\nFrom: {sender}\nTo: bob@example.com\n"
            "Subject: Out of office: hi\nIn-Reply-To: <theirs.1@example.com>\nAuto-Submitted: auto-replied\n"
            "Date: Tue, 1 Dec 2026 09:00:00 +0000\n\nAway until Monday.\n")


def test_a_bounce_of_our_own_autoreply_names_the_autoreply() -> None:
    refs = refs_of(dsn(_returned_notice(USER, "<auto.1@example.test>")))
    assert refs == ["auto.1@example.test"]


def test_a_bounce_of_an_autoreply_names_the_autoreply_never_its_in_reply_to() -> None:
    """Nothing is found inside an Auto-Submitted notice: its own ID is the reference (ours or not)."""
    refs = refs_of(dsn(_returned_notice("carol@example.com", "<auto.1@example.com>")))
    assert refs == ["auto.1@example.com"]


def test_a_bounce_of_a_report_of_someone_else_names_nothing() -> None:
    """A returned DSN of another host: its own ID is never ours."""
    returned = ("Content-Type: message/rfc822\n\nReturn-Path: <>\nMessage-ID: <dsn.1@mx.example.com>\n"
                "From: MAILER-DAEMON@mx.example.com\nTo: bob@example.com\nSubject: Undelivered Mail\n"
                "Date: Tue, 1 Dec 2026 09:00:00 +0000\n\nThe message could not be delivered.\n")
    assert refs_of(dsn(returned)) == []


# -- 2-5. the lenient fall-backs -------------------------------------------------------------------

def test_lenient_section_joins_unindented_continuations_and_stops_at_the_first_empty_line() -> None:
    text = ("\n\nReceived: from a.example\n(192.0.2.1) by b.example with SMTP\nid 15.20; Tue, 1 Dec 2026\n"
            f"Message-ID: {ORIG}\nFrom: {USER}\nSubject: hi\n\nMessage-ID: <body.1@example.com>\n")
    block = lenient.section(text)
    assert block is not None
    joined = "from a.example (192.0.2.1) by b.example with SMTP id 15.20; Tue, 1 Dec 2026"
    assert block.get("received") == joined
    assert block.references() == [msgid.normalise(ORIG)]
    assert lenient.section("Dear user,\nMessage-ID: <x@y>\n") is None  # not a header section


def test_unindented_continuation_before_the_message_id_in_a_returned_message() -> None:
    returned = ("Content-Type: message/rfc822\n\nReceived: from a.example\n(192.0.2.1) by b.example\n"
                f"Message-ID: {ORIG}\nFrom: {USER}\nTo: bob@example.com\nSubject: hi\n\nbody\n")
    assert refs_of(dsn(returned)) == [msgid.normalise(ORIG)]


def test_an_id_after_the_returned_sections_first_empty_line_is_never_taken() -> None:
    returned = ("Content-Type: message/rfc822\n\nReceived: from a.example\n(192.0.2.1) by b.example\n"
                f"From: {USER}\nTo: bob@example.com\nSubject: hi\n\nMessage-ID: {ORIG}\n")
    assert refs_of(dsn(returned)) == []


ORIGINAL_TEXT = (f"Message-ID: {ORIG}\nFrom: {USER}\nTo: bob@example.com\nSubject: hi\n"
                 "Date: Tue, 1 Dec 2026 09:00:00 +0000\n\nbody\n")


@pytest.mark.parametrize("returned", [
    "Content-Type: message/rfc822\n\n\n\n" + ORIGINAL_TEXT,
    "Content-Type: message/rfc822\nContent-Transfer-Encoding: base64\n\n"
    + base64.encodebytes(ORIGINAL_TEXT.encode()).decode(),
    "Content-Type: message/rfc822\nContent-Transfer-Encoding: quoted-printable\n\n"
    + quopri.encodestring(ORIGINAL_TEXT.replace(ORIG, "<CA" + "x" * 70 + "=y@example.test>").encode())
    .decode(),
    'Content-Type: message/partial; id="p1@mx.example.com"; number=1; total=2\n\n' + ORIGINAL_TEXT[:120],
    f"Content-Type: text/rfc822-headers\nMessage-ID: {ORIG}\nFrom: {USER}\nTo: bob@example.com\n"
    "Subject: hi\n\n",
], ids=["leading-blank", "base64", "quoted-printable", "partial", "headers-in-part"])
def test_returned_containers_real_software_uses(returned: str) -> None:
    found = refs_of(dsn(returned))
    assert len(found) == 1 and found[0].endswith("@example.test")
    assert found[0] in (msgid.normalise(ORIG), "ca" + "x" * 70 + "=y@example.test")


def test_a_later_fragment_of_a_message_partial_is_not_a_header_section() -> None:
    returned = ('Content-Type: message/partial; id="p1@mx.example.com"; number=2; total=2\n\n'
                f"Message-ID: {ORIG}\nFrom: {USER}\nSubject: hi\n\nrest of the body\n")
    assert refs_of(dsn(returned)) == []


@pytest.mark.parametrize("damage", ["other", "glued"])
def test_a_boundary_used_differently_from_the_one_declared(damage: str) -> None:
    returned = "Content-Type: text/rfc822-headers\n\n" + ORIGINAL_TEXT.split("\n\n")[0] + "\n"
    raw = dsn(returned, boundary="actually-used", declared="declared-one")
    if damage == "glued":
        raw = raw.replace(b'boundary="declared-one"', b"boundary=actually-usedX-Mailer: gw")
    assert refs_of(raw) == [msgid.normalise(ORIG)]
    assert lenient.actual_boundary("--a\nContent-Type: text/plain\n\nx\n--a--\n") == "a"
    assert lenient.actual_boundary("-- \nsignature\n") is None


def test_the_lenient_readings_run_only_when_the_strict_path_found_nothing() -> None:
    """A returned message with a proper Message-ID: the part's own (gateway) fields are not read."""
    returned = ("Content-Type: message/rfc822\nMessage-ID: <part.1@gw.example.com>\nFrom: x@gw.example.com\n"
                "Subject: s\n\n" + ORIGINAL_TEXT)
    assert refs_of(dsn(returned)) == [msgid.normalise(ORIG)]


# -- 6. weak (@-less) Message-IDs ------------------------------------------------------------------

def test_weak_id_shape() -> None:
    assert weak_id("20140913142357") == "20140913142357"
    assert weak_id("<ABC.20140913142357>") == "abc.20140913142357"
    assert weak_id("1234567") is None  # too short to be anything but a counter
    assert weak_id("<a@b.example>") is None  # not weak: an ordinary ID
    assert weak_id("hello there friend") is None


def test_an_id_without_at_only_from_a_returned_sections_message_id_field() -> None:
    headers = f"Message-ID: 20140913142357\nFrom: {USER}\nTo: bob@example.com\nSubject: hi\n"
    raw = dsn("Content-Type: text/rfc822-headers\n\n" + headers)
    finding = examine(parse(raw, Envelope("", [USER])))
    assert finding is not None
    assert finding.references == ("20140913142357",) and finding.weak == ("20140913142357",)
    assert header_block_ids(headers) == []  # a quoted text block: never
    assert msgid.in_text("see 20140913142357 and <20140913142357>") == []
    assert msgid.all_in_header("<20140913142357>") == []


def test_an_id_without_at_in_the_bounce_text_or_in_reply_to_is_no_reference() -> None:
    raw = dsn("Content-Type: text/plain\n\nYour message 20140913142357 "
              "(Message-ID: 20140913142357) failed.\n",
              extra="In-Reply-To: <20140913142357>\n")
    assert refs_of(raw) == []


def test_the_outbound_side_keeps_an_id_without_at() -> None:
    assert msgid.normalise("20140913142357") == "20140913142357"
    assert msgid.normalise(" <20140913142357> ") == "20140913142357"


ENTRY = EntryHash(bucket=1, field=b"12345678")


@pytest.mark.parametrize(("weak", "matches", "outcome"), [
    (False, 2, "accept"), (True, 0, "accept"), (True, 1, "reject"),
])
def test_a_weak_reference_has_one_bounce_per_recipient(weak: bool, matches: int, outcome: str) -> None:
    ref = "20140913142357" if weak else "orig.7@example.test"
    finding = Finding("dsn", (ref,), form=True, weak=(ref,) if weak else ())
    found = {USER: [Match(ENTRY, day=20000, recipients=1, matches=matches)]}
    decision = decide(Policy(), finding, [USER], found, via={ENTRY: ref})
    assert decision.outcome == outcome
    if outcome == "reject":
        assert str(decision.cause) == "budget exhausted"


# -- 8. the bounce's own In-Reply-To ---------------------------------------------------------------

def test_in_reply_to_is_used_only_when_the_body_names_no_original() -> None:
    returned = "Content-Type: text/rfc822-headers\n\n" + ORIGINAL_TEXT.split("\n\n")[0] + "\n"
    with_body = parse(dsn(returned, extra="In-Reply-To: <other.1@example.test>\n"), Envelope("", [USER]))
    assert references_or_reply(with_body) == [msgid.normalise(ORIG)]
    bare = parse(dsn("Content-Type: text/plain\n\nnothing returned\n", extra=f"In-Reply-To: {ORIG}\n"),
                 Envelope("", [USER]))
    assert original_references(bare) == [] and references_or_reply(bare) == [msgid.normalise(ORIG)]


# -- 9. rewritten Message-IDs --------------------------------------------------------------------

def test_x_microsoft_original_message_id_of_a_returned_section_is_a_reference() -> None:
    headers = (f"Message-ID: <AM0PR01MB1234@AM0PR01MB1234.eurprd04.prod.outlook.com>\n"
               f"X-Microsoft-Original-Message-ID: {ORIG}\nFrom: {USER}\nTo: bob@example.com\nSubject: hi\n")
    found = refs_of(dsn("Content-Type: text/rfc822-headers\n\n" + headers))
    assert msgid.normalise(ORIG) in found
    raw = dsn("Content-Type: message/rfc822\n\n" + headers + "\nbody\n")
    assert msgid.normalise(ORIG) in refs_of(raw)


def test_x_microsoft_original_message_id_in_the_returned_body_is_not() -> None:
    returned = ("Content-Type: message/rfc822\n\nMessage-ID: <a.1@example.test>\nFrom: x@example.test\n"
                f"Subject: s\n\nX-Microsoft-Original-Message-ID: {ORIG}\n")
    assert refs_of(dsn(returned)) == ["a.1@example.test"]


# -- 10. the header screen ---------------------------------------------------------------------

def _encoded(text: str, charset: str) -> str:
    return f"=?{charset}?B?{base64.b64encode(text.encode(charset)).decode()}?="


@pytest.mark.parametrize(("subject", "charset"), [
    ("Недоставленное сообщение", "koi8-r"), ("无法投递: 会议", "gb2312"), ("배달되지 않음: 회의", "euc-kr"),
    ("Niedostarczalne: spotkanie", "iso-8859-2"), ("配信不能: 会議", "iso-2022-jp"),
    ("Nedoručitelné: schůzka", "utf-8"),
])
def test_localised_bounce_subjects_make_a_candidate(subject: str, charset: str) -> None:
    headers = [("From", "Mail Delivery Subsystem <postmaster@mx.example.com>"),
               ("Subject", _encoded(subject, charset))]
    assert screen("postmaster@mx.example.com", headers) is not None


@pytest.mark.parametrize("local", ["post_master", "mailer_daemon", "MAILER.DAEMON",
                                   "Mail-Delivery-Subsystem"])
def test_daemon_spellings(local: str) -> None:
    assert is_daemon_localpart(local)
    assert screen(f"{local}@mx.example.com", [("From", f"{local}@mx.example.com"),
                                               ("Subject", "Returned mail: User unknown")]) is not None


def test_a_bounce_subject_from_any_sender_is_a_candidate_but_a_reply_to_one_is_not() -> None:
    found = screen("relay@gw.example.com", [("From", "Gateway <relay@gw.example.com>"),
                                            ("Subject", "Undeliverable: hi")])
    assert found == Candidate("bounce subject", strong=False)
    reply = [("From", "bob@example.com"), ("Subject", "Re: Undeliverable: hi")]
    assert screen("bob@example.com", reply) is None
    assert not is_daemon_localpart("postmistress") and not is_daemon_localpart("bob")


@pytest.mark.parametrize(("address", "manager"), [
    ("sympa@lists.example.org", True), ("devel+owners@groups.example.com", True),
    ("users-owner@lists.example.org", True), ("bob+news@example.com", False), ("bob@example.com", False),
])
def test_list_manager_addresses(address: str, manager: bool) -> None:
    assert list_manager_address(address) is manager


@pytest.mark.parametrize("subject", [
    'Request to mailing list "Devel" rejected', "Message rejected for list devel", "Moderating your message",
])
def test_list_manager_notice_subjects(subject: str) -> None:
    headers = [("From", "devel-owner@lists.example.org"), ("Subject", subject)]
    assert screen("devel-owner@lists.example.org", headers) is not None


def test_every_daemon_local_part_carries_a_hint() -> None:
    """nested._daemon_from skips address parsing when no hint is in the From: no name may lack one."""
    from ledger.check.nested import _DAEMON_HINTS
    from ledger.check.patterns import DAEMON_LOCALPARTS

    for name in DAEMON_LOCALPARTS:
        squashed = name.replace("-", "").replace("_", "").replace(".", "")
        assert any(hint in squashed for hint in _DAEMON_HINTS), name


def test_a_lenient_section_with_two_message_ids_gives_none() -> None:
    returned = ("Content-Type: message/rfc822\n\nReceived: from a.example\n(192.0.2.1) by b.example\n"
                f"Message-ID: {ORIG}\nMessage-ID: <other.2@example.test>\nFrom: {USER}\n"
                "Subject: hi\n\nbody\n")
    assert refs_of(dsn(returned)) == []


def test_a_bounce_subject_candidate_needs_a_detector_before_any_refusal() -> None:
    """From outside the daemon list: a candidate now, but ordinary words are no recognised form."""
    raw = (b"From: Carol <carol@example.com>\nTo: alice@example.test\nSubject: Undeliverable parcel\n"
           b"Message-ID: <c.1@example.com>\n\nThe parcel could not be delivered, please call us.\n")
    parsed = parse(raw, Envelope("carol@example.com", [USER]))
    assert screen("carol@example.com", [(n, str(v)) for n, v in parsed.message.items()]) is not None
    finding = examine(parsed)
    assert finding is None or not finding.form


@pytest.mark.parametrize(("subject", "list_id"), [
    ("[Devel] Re: Returned mail in logs", True), ("[Devel] Re: Returned mail in logs", False),
    ("[Users] mail delivery failed after upgrade", True),
])
def test_list_posts_about_bounces_are_no_candidates(subject: str, list_id: bool) -> None:
    """A bounce subject from any sender makes a candidate, but not a list's post or a reply on a list."""
    headers = [("From", "Bob <bob@example.com>"), ("Subject", subject)]
    if list_id:
        headers.append(("List-Id", "<devel.lists.example.org>"))
    assert screen("devel-bounces@lists.example.org" if list_id else "bob@example.com", headers) is None
