"""Read limits are no lever: padded forgeries are refused, padded real bounces accepted.

A forged DSN quoting a never-sent Message-ID is refused; padding the returned
original (150 KB of header lines, a 130 KB first text part, 70 small parts,
100 levels of nesting) so that its Message-ID lies past the parse limits must
not change that, neither into a tag nor into an envelope-check accept (the
failed recipient is one alice did write to). The same shapes as real DSNs
(the original recorded first) are accepted with the pass trace, found by the
stream scan past the parse cap. Through the Inspector on a real Redis, over
the milter protocol, and end to end through a real Postfix.
"""

from __future__ import annotations

import json
import smtplib
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from ledger.check import Envelope, Limits
from ledger.check.detectors.dsn import DsnDetector
from ledger.check.message import ParsedMessage
from ledger.decide import Cause
from ledger.record import Recorder, SentMessage
from ledger.verdict import Inspector
from testbed import MilterProcess, PrivateSite, RedisServer
from tests import messages, padded
from tests.conftest import SECRET, write_config
from tests.milterclient import send_message
from tests.test_end_to_end import submit, wait_for_file

ALICE = "alice@example.test"
BOB = "bob@example.com"


def sent(recorder: Recorder, message_id: str, to: str = BOB) -> None:
    recorder.record(SentMessage(mail_from=ALICE, recipients=[to], message_id=message_id,
                                from_header=f"Alice <{ALICE}>"))


def bounce() -> Envelope:
    return Envelope(mail_from="", recipients=[ALICE], client="mx.example.com[192.0.2.1]")


@pytest.mark.parametrize("shape", padded.SHAPES)
def test_a_padded_forgery_is_refused(shape: str, recorder: Recorder, inspector: Inspector) -> None:
    # alice did write to bob (so the envelope check would rescue a bounce without a reference)
    sent(recorder, "<an-earlier-real-one@example.test>")
    decision = inspector.inspect(bounce(), padded.padded_dsn("<never-sent@example.test>", shape))
    assert (decision.action, decision.kind, decision.matched) == ("reject", "dsn", False)
    assert decision.reply is not None and decision.reply[:2] == ("550", "5.7.1")


@pytest.mark.parametrize("shape", padded.SHAPES)
def test_a_padded_real_dsn_is_accepted(shape: str, recorder: Recorder, inspector: Inspector) -> None:
    sent(recorder, f"<real-{shape}@example.test>")
    decision = inspector.inspect(bounce(), padded.padded_dsn(f"<real-{shape}@example.test>", shape))
    assert (decision.action, decision.matched) == ("accept", True)
    assert decision.references == (f"real-{shape}@example.test",)
    assert decision.trace is not None and decision.trace.startswith("pass (dsn; original sent")


def test_a_padded_text_bounce_is_judged_by_its_quoted_header(recorder: Recorder,
                                                             inspector: Inspector) -> None:
    sent(recorder, "<real-qmail@example.test>")
    real = inspector.inspect(bounce(), padded.qmail("<real-qmail@example.test>"))
    assert (real.action, real.matched, real.kind) == ("accept", True, "bounce")
    forged = inspector.inspect(bounce(), padded.qmail("<never-sent-qmail@example.test>"))
    assert forged.action == "reject" and forged.reply is not None and forged.reply[0] == "550"


def test_an_id_in_the_returned_body_never_counts(recorder: Recorder, inspector: Inspector) -> None:
    # The returned original has no Message-ID of its own, its body quotes a recorded one.
    sent(recorder, padded.BODY_ID)
    raw = padded.padded_dsn("", "header")
    assert padded.BODY_ID.encode() in raw
    decision = inspector.inspect(bounce(), raw)
    assert decision.action == "reject" and decision.references == ()
    assert "the reading was cut (byte cap) before any reference was found" in decision.reason


def test_a_cut_reading_without_a_reference_is_never_tagged(recorder: Recorder,
                                                           inspector: Inspector) -> None:
    sent(recorder, "<an-earlier-real-one@example.test>")
    raw = padded.padded_dsn("", "text")  # no Message-ID anywhere in the returned header
    decision = inspector.inspect(bounce(), raw)
    assert decision.action == "reject" and decision.trace is None
    assert "reading was cut" in decision.reason


def test_the_milter_path_and_the_file_path_agree(recorder: Recorder, inspector: Inspector) -> None:
    """What the milter holds (a prefix and its scanner) decides like the whole file."""
    sent(recorder, "<real-header@example.test>")
    for raw in (padded.padded_dsn("<real-header@example.test>", "header"),
                padded.padded_dsn("<never-sent@example.test>", "text"),
                padded.qmail("<real-header@example.test>")):
        whole = inspector.inspect(bounce(), raw)
        head, _, body = raw.partition(b"\r\n\r\n")
        scanner = inspector.scanner()
        for start in range(0, len(raw), 65535):
            scanner.feed(raw[start:start + 65535])
        prefix = head + b"\r\n\r\n" + body[: inspector.max_bytes]
        assert inspector.inspect(bounce(), prefix, scanner=scanner) == whole


def test_a_detector_raising_gives_451_not_a_tag(recorder: Recorder, inspector: Inspector,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    def explode(self: DsnDetector, message: ParsedMessage) -> None:
        raise RuntimeError("a bug meets hostile input")

    monkeypatch.setattr(DsnDetector, "detect", explode)
    decision = inspector.inspect(bounce(), padded.padded_dsn("<never-sent@example.test>", ""))
    assert decision.action == "tempfail" and decision.reply is not None
    assert decision.reply[:2] == ("451", "4.7.1") and "a detector failed" in decision.reason


def test_a_spent_time_budget_gives_451(recorder: Recorder, inspector: Inspector) -> None:
    sent(recorder, "<an-earlier-real-one@example.test>")
    hasty = Inspector(inspector.ledger, inspector.hasher, inspector.policy, inspector.max_bytes,
                      Limits(parse_seconds=1e-9))
    decision = hasty.inspect(bounce(), padded.padded_dsn("<never-sent@example.test>", ""))
    assert decision.action == "tempfail" and decision.reply is not None and decision.reply[0] == "451"
    assert "time budget spent" in decision.reason


def test_a_spent_time_budget_gives_451_when_no_detector_recognised_the_candidate(
        inspector: Inspector) -> None:
    # A candidate by its headers only (a daemon From, a bounce subject, a real sender)
    hasty = Inspector(inspector.ledger, inspector.hasher, inspector.policy, inspector.max_bytes,
                      Limits(parse_seconds=1e-9))
    raw = (b"From: MAILER-DAEMON@mx.example.com\r\nTo: alice@example.test\r\n"
           b"Subject: failure notice\r\n\r\nSomething happened.\r\n")
    decision = hasty.inspect(Envelope("daemon@mx.example.com", [ALICE]), raw)
    assert decision.candidate and decision.action == "tempfail" and "time budget spent" in decision.reason


def test_check_on_the_command_line_answers_as_the_milter(tmp_path: Path, config_file: Path,
                                                          recorder: Recorder) -> None:
    sent(recorder, "<an-earlier-real-one@example.test>")
    sent(recorder, "<real-text@example.test>")
    files = {"forged.eml": padded.padded_dsn("<never-sent@example.test>", "header"),
             "real.eml": padded.padded_dsn("<real-text@example.test>", "text")}
    for name, raw in files.items():
        (tmp_path / name).write_bytes(raw)
    result = subprocess.run(
        [sys.executable, "-m", "ledger", "check", "--json", "--config", str(config_file), "--mail-from", "",
         "--rcpt", ALICE, *(str(tmp_path / name) for name in files)],
        capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    rows = {Path(row["file"]).name: row for row in map(json.loads, result.stdout.splitlines())}
    assert rows["forged.eml"]["action"] == "reject" and rows["forged.eml"]["reply"].startswith("550 5.7.1")
    assert rows["forged.eml"]["references"] == ["never-sent@example.test"]
    assert rows["real.eml"]["action"] == "accept" and rows["real.eml"]["matched"]


# -- over the milter protocol ---------------------------------------------------------------


@pytest.fixture(scope="module")
def inbound(scratch: Path, redis_server: RedisServer) -> Iterator[MilterProcess]:
    base = scratch / "limits-milter"
    base.mkdir()
    milter = MilterProcess(base, "inbound", write_config(base / "sender-ledger.toml", redis_server.url),
                           SECRET).start()
    yield milter
    milter.stop()


def through_milter(milter: MilterProcess, raw: bytes):  # type: ignore[no-untyped-def]
    head, _, body = raw.partition(b"\r\n\r\n")
    headers: list[tuple[str, str]] = []
    for line in head.decode().split("\r\n"):
        if line[:1] in (" ", "\t") and headers:
            headers[-1] = (headers[-1][0], headers[-1][1] + "\r\n" + line)
        else:
            name, _, value = line.partition(":")
            headers.append((name, value.lstrip()))
    return send_message(str(milter.socket_path), "", [ALICE], headers, body)


@pytest.mark.parametrize("shape", padded.SHAPES)
def test_the_milter_refuses_padded_forgeries_and_accepts_real_ones(
        shape: str, inbound: MilterProcess, recorder: Recorder, redis_client: redis.Redis) -> None:
    sent(recorder, "<an-earlier-real-one@example.test>")
    forged = through_milter(inbound, padded.padded_dsn("<never-sent@example.test>", shape))
    assert forged.code == "reject" and forged.reply is not None and forged.reply.startswith("550 5.7.1")
    sent(recorder, f"<real-{shape}@example.test>")
    real = through_milter(inbound, padded.padded_dsn(f"<real-{shape}@example.test>", shape))
    assert (real.stage, real.code) == ("eom", "accept")
    assert [v.split(" original sent")[0] for _, v in real.added_headers] == ["pass (dsn;"]


def test_the_milter_skips_the_rest_once_the_scan_found_the_id(inbound: MilterProcess,
                                                              recorder: Recorder) -> None:
    sent(recorder, "<real-huge@example.test>")
    returned = padded.original("<real-huge@example.test>", 150 * 1024)
    huge = returned.replace(b"Hello Bob,", b"Hello Bob,\r\n" + b"y" * 76 * 40000)  # ~3 MB body
    result = through_milter(inbound, padded.dsn(huge))
    assert result.code == "accept" and result.body_skipped
    # matched by its Message-ID (not rescued by the envelope check)
    assert [v.split(" original sent")[0] for _, v in result.added_headers] == ["pass (dsn;"]


# -- end to end through Postfix -------------------------------------------------------------


def refused(testbed: PrivateSite, raw: bytes) -> smtplib.SMTPDataError:
    with pytest.raises(smtplib.SMTPDataError) as caught:
        submit(testbed.postfix.mx_port, "", [ALICE], raw)
    return caught.value


@pytest.mark.postfix
@pytest.mark.parametrize("shape", ["header", "text", "parts"])
def test_postfix_refuses_padded_forgeries_during_smtp(shape: str, testbed: PrivateSite) -> None:
    # alice really writes to the address the forgery says bounced: the envelope check must not help
    friend = f"friend-{uuid.uuid4().hex[:12]}@example.com"
    mid = f"<e2e-friend-{uuid.uuid4().hex}@example.test>"
    submit(testbed.postfix.submission_port, ALICE, [friend],
           f"From: {ALICE}\r\nTo: {friend}\r\nSubject: hi\r\nMessage-ID: {mid}\r\n\r\nhi\r\n".encode())
    wait_for_file(testbed.relay, mid)
    forged = padded.padded_dsn(f"<never-sent-{uuid.uuid4().hex}@example.test>", shape, failed=friend)
    error = refused(testbed, forged)
    assert error.smtp_code == 550 and error.smtp_error.startswith(b"5.7.1 Backscatter refused")


@pytest.mark.postfix
@pytest.mark.parametrize("shape", ["header", "deep"])
def test_postfix_delivers_padded_real_dsns_with_the_pass_trace(shape: str, testbed: PrivateSite) -> None:
    mid = f"<e2e-padded-{shape}-{uuid.uuid4().hex}@example.test>"
    submit(testbed.postfix.submission_port, ALICE, [BOB],
           f"From: Alice <{ALICE}>\r\nTo: {BOB}\r\nSubject: figures\r\nMessage-ID: {mid}\r\n\r\n"
           "hello\r\n".encode())
    wait_for_file(testbed.relay, mid)
    submit(testbed.postfix.mx_port, "", [ALICE], padded.padded_dsn(mid, shape))  # raises on a refusal
    delivered = wait_for_file(testbed.capture, mid).read_text(errors="replace")
    assert "X-Sender-Ledger: pass (dsn; original sent" in delivered


def test_headers_the_milter_did_not_keep_make_the_reading_cut(inspector: Inspector) -> None:
    """The inbound milter keeps only inbound.max_bytes of header fields; whatever was dropped
    (a top-level Content-Type, a returned original named in a header) may be what would have
    made a refusal, so such a reading is cut, however short the rest is."""
    no_reference = messages.dsn(b"", failed="")
    envelope = Envelope("", ["alice@example.test"])
    assert inspector.inspect(envelope, no_reference).outcome == "tag"  # no reference: tagged
    cut = inspector.inspect(envelope, no_reference, headers_cut=True)
    assert (cut.action, cut.cause) == ("reject", Cause.TRUNCATED)
