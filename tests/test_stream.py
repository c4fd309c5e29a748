"""The stream scanner: the returned message's Message-ID only, in bounded memory, any chunking."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from ledger.check.stream import Scanner
from tests import padded, samples

MB = 1024 * 1024
CHUNK = 64 * 1024


def scan(raw: bytes, chunk: int = CHUNK, cap: int = 16 * MB) -> Scanner:
    scanner = Scanner(cap)
    for start in range(0, len(raw), chunk):
        scanner.feed(raw[start:start + chunk])
    scanner.close()
    return scanner


def refs(raw: bytes, chunk: int = CHUNK) -> list[str]:
    return scan(raw, chunk).references()


def report(*parts: str, boundary: str = "R") -> bytes:
    """A multipart/report with the given parts (each: its part headers, a blank line, content)."""
    body = "".join(f"--{boundary}\n{part}\n" for part in parts)
    return (f"From: MAILER-DAEMON@mx.example.com\nMessage-ID: {samples.OWN_ID}\nMIME-Version: 1.0\n"
            f'Content-Type: multipart/report; report-type=delivery-status; boundary="{boundary}"\n\n'
            f"{body}--{boundary}--\n").replace("\n", "\r\n").encode()


RETURNED = "Content-Type: message/rfc822\n\n"
ORIGINAL = "From: alice@example.test\nTo: bob@example.com\nSubject: hi\n"


@pytest.mark.parametrize("shape", padded.SHAPES)
@pytest.mark.parametrize("chunk", [1, 7, 4096, CHUNK, 10 * MB])
def test_padded_shapes_give_the_returned_id_whatever_the_chunking(shape: str, chunk: int) -> None:
    assert refs(padded.padded_dsn("<wanted@example.test>", shape), chunk) == ["wanted@example.test"]


@pytest.mark.parametrize("chunk", [1, 5, CHUNK])
def test_a_text_bounce_gives_the_id_after_its_marker(chunk: int) -> None:
    assert refs(padded.qmail("<Quoted@Example.TEST>"), chunk) == ["quoted@example.test"]
    for raw in (samples.qmail(), samples.exim(), samples.exchange_text(), samples.gmail(),
                samples.exchange_text(quoting="> "), samples.mangled_crlf_qmail()):
        assert refs(raw, chunk) == [samples.ORIG_ID]


def test_ids_in_the_returned_body_never_count() -> None:
    raw = padded.padded_dsn("", "header")  # the returned header has no Message-ID; its body has two
    assert padded.BODY_ID.encode() in raw
    assert refs(raw) == []
    assert refs(padded.qmail("")) == []


def test_the_bounces_own_id_and_its_prose_never_count() -> None:
    prose = samples.qmail().replace(b"--- Below this line is a copy of the message.", b"(nothing)")
    assert refs(prose) == []
    assert refs(report("Content-Type: text/plain\n\nMessage-ID: <prose@example.test>\n")) == []


def test_two_ids_in_one_returned_header_give_none() -> None:
    two = ORIGINAL + "Message-ID: <one@example.test>\nMessage-ID: <two@example.test>\n\nbody\n"
    assert refs(report(RETURNED + two)) == []
    same = ORIGINAL + "Message-ID: <one@example.test>\nMessage-ID: <ONE@example.test>\n\nbody\n"
    assert refs(report(RETURNED + same)) == ["one@example.test"]


def test_a_returned_part_wins_over_a_marker_block() -> None:
    text = ("Content-Type: text/plain\n\nOriginal message headers:\n\n"
            + ORIGINAL + "Message-ID: <quoted@example.test>\n")
    raw = report(text, RETURNED + ORIGINAL + "Message-ID: <attached@example.test>\n\nbody\n")
    assert refs(raw) == ["attached@example.test"]
    assert refs(report(text)) == ["quoted@example.test"]


def test_folded_ids_and_leading_blank_lines() -> None:
    raw = report(RETURNED + "\n\n" + ORIGINAL + "Message-ID:\n  <Folded@Example.test>\n\nbody\n")
    assert refs(raw) == ["folded@example.test"]
    headers_only = report("Content-Type: text/rfc822-headers\n\n" + ORIGINAL
                          + "Message-ID: <h@example.test>\n")
    assert refs(headers_only) == ["h@example.test"]


def test_a_returned_bounce_is_entered_never_taken() -> None:
    inner = samples.dsn_of(samples.original_message())  # its own ID is samples.OWN_ID
    assert refs(samples.dsn_of(inner)) == [samples.ORIG_ID]
    assert refs(samples.forwarded_bounce()) == [samples.ORIG_ID]


def test_a_marker_followed_by_prose_ends_the_search_in_that_part() -> None:
    raw = samples.qmail().replace(b"--- Below this line is a copy of the message.\r\n\r\n",
                                  b"--- Below this line is a copy of the message.\r\n\r\nSorry.\r\n"
                                  b"--- Below this line is a copy of the message.\r\n\r\n")
    assert refs(raw) == []


def test_parts_of_the_epilogue_and_unknown_boundaries_are_skipped() -> None:
    raw = report("Content-Type: text/plain\n\nhello\n") + (
        "\r\n--R\r\n" + RETURNED.replace("\n", "\r\n") + "Message-ID: <late@example.test>\r\n").encode()
    assert refs(raw) == []  # after the closing delimiter: the epilogue, not a part
    other = report("Content-Type: text/plain\n\n--X\nContent-Type: message/rfc822\n\n"
                   + ORIGINAL + "Message-ID: <x@example.test>\n")
    assert refs(other) == []


def test_the_cap_stops_the_scan() -> None:
    raw = padded.padded_dsn("<far@example.test>", "header")
    capped = scan(raw, cap=100 * 1024)
    assert capped.done and capped.capped and capped.references() == []
    found = scan(raw, cap=len(raw))
    assert found.done and found.references() == ["far@example.test"]


def test_an_id_cut_by_the_cap_is_not_taken() -> None:
    raw = report(RETURNED + ORIGINAL + "Message-ID: <cut-here@example.test>\n\nbody\n")
    end = raw.index(b"ample.test>")
    assert scan(raw, cap=end).references() == []
    # the same bytes as a whole message that ends there: its last line counts
    assert scan(raw[:end]).references() == ["cut-here@ex"]


def test_the_scan_is_done_at_the_first_returned_id() -> None:
    raw = padded.padded_dsn("<first@example.test>", "header")
    scanner = Scanner()
    scanner.feed(raw[: raw.index(b"Message-ID: <first@") + 200])
    assert scanner.done and scanner.references() == ["first@example.test"]
    scanner.feed(b"anything at all")
    assert scanner.read == raw.index(b"Message-ID: <first@") + 200


def _repeat(head: bytes, unit: bytes, total: int) -> Iterator[bytes]:
    yield head
    chunk = unit * max(1, CHUNK // len(unit))
    for _ in range(total // len(chunk)):
        yield chunk


# name: (head, repeated unit, megabytes fed)
HOSTILE = {
    "no line breaks": (b"From: x\r\n\r\n", b"x" * 4096, 50),
    "an endless returned header": (report(RETURNED).split(b"--R--")[0], b"X-Pad: " + b"a" * 67 + b"\r\n", 50),
    "an endless folded field": (report(RETURNED).split(b"--R--")[0] + b"Subject: x\r\n",
                                b" folded-" + b"b" * 60 + b"\r\n", 50),
    "endless Message-ID fields": (report(RETURNED).split(b"--R--")[0],
                                  b"Message-ID: <" + b"c" * 40 + b"@example.test>\r\n", 20),
    "endless parts": (b'Content-Type: multipart/mixed; boundary="n"\r\n\r\n',
                      b'--n\r\nContent-Type: multipart/mixed; boundary="n' + b"d" * 60 + b'"\r\n\r\n', 20),
    "endless nesting": (b'Content-Type: multipart/mixed; boundary="n"\r\n\r\n--n\r\n',
                        b'Content-Type: multipart/mixed; boundary="' + b"f" * 60 + b'"\r\n\r\n--'
                        + b"f" * 60 + b"\r\n", 20),
    "an endless quoted block": (samples.qmail().split(b"Return-Path")[0],
                                b"    > X-Quoted: " + b"e" * 60 + b"\r\n", 50),
}


@pytest.mark.parametrize("name", list(HOSTILE))
def test_memory_stays_bounded_over_tens_of_megabytes(name: str) -> None:
    head, unit, megabytes = HOSTILE[name]
    scanner = Scanner(cap=64 * MB)
    assert scanner.bound() <= 64 * 1024
    most = 0
    for chunk in _repeat(head, unit, megabytes * MB):
        scanner.feed(chunk)
        most = max(most, scanner.held())
        assert scanner.held() <= scanner.bound()
    assert scanner.read >= (megabytes - 1) * MB or scanner.done
    assert most <= scanner.bound()
