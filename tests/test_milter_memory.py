"""What a milter session used is released when it ends, and is bounded while it lasts.

A milter process lives for months; per-session state that waits for a full
garbage collection (or is never dropped) grows with the session count.
"""

from __future__ import annotations

import gc
import time
import weakref
from collections.abc import Iterator
from pathlib import Path

import Milter
import pytest

from ledger.milter.inbound import InboundMilter, make_inbound
from ledger.milter.outbound import make_outbound
from ledger.record import Recorder
from ledger.verdict import Inspector
from scripts import loadmail
from testbed import MilterProcess, RedisServer
from tests import messages
from tests.conftest import SECRET, write_config
from tests.milterclient import send_message

FIELD = ("X-Trace", b"t" * 1000)


def inbound_for(inspector: Inspector) -> InboundMilter:
    milter = make_inbound(inspector)()
    milter._setctx(None)  # as pymilter does at close: no MTA context in a unit test
    return milter


def big_candidate(milter: InboundMilter, head: int, body: int) -> None:
    """One null-sender message: ``head`` bytes of header fields, ``body`` bytes of body."""
    milter.envfrom("<>")
    milter.envrcpt("<alice@example.test>")
    for _ in range(head // 1000):
        milter.header_bytes(*FIELD)
    milter.header_bytes("Subject", b"Undelivered Mail Returned to Sender")
    assert milter.eoh() == Milter.CONTINUE  # a candidate: the body is read
    for start in range(0, body, 65535):
        milter.body(b"x" * min(65535, body - start))


@pytest.fixture()
def no_gc() -> Iterator[None]:
    """Only reference counting frees objects while the test runs."""
    gc.collect()
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


def test_a_closed_inbound_session_is_freed_without_the_garbage_collector(
        inspector: Inspector, no_gc: None) -> None:
    milter = inbound_for(inspector)
    big_candidate(milter, 200_000, 300_000)
    milter.close()
    assert milter.headers == [] and milter.body_chunks == [] and milter.candidate is None
    gone = weakref.ref(milter)
    del milter
    assert gone() is None, "the milter object outlived its session (a reference cycle)"


def test_a_closed_outbound_session_is_freed_without_the_garbage_collector(
        recorder: Recorder, no_gc: None) -> None:
    milter = make_outbound(recorder)()
    milter._setctx(None)
    milter.envfrom("<alice@example.test>")
    milter.envrcpt("<bob@example.com>")
    milter.header_bytes("Message-ID", b"<m-1@example.test>")
    milter.close()
    assert milter.sent.message_id is None and milter.sent.recipients == []
    gone = weakref.ref(milter)
    del milter
    assert gone() is None


def test_abort_and_the_next_message_drop_the_last_ones_buffers(inspector: Inspector) -> None:
    milter = inbound_for(inspector)
    big_candidate(milter, 50_000, 100_000)
    assert milter.headers and milter.body_chunks
    milter.abort()
    assert milter.headers == [] and milter.body_chunks == [] and milter.body_size == 0
    big_candidate(milter, 50_000, 100_000)
    milter.envfrom("<carol@example.com>")
    assert milter.headers == [] and milter.body_chunks == [] and milter.head_size == 0


def test_header_fields_past_the_read_limit_are_counted_and_screened_not_kept(inspector: Inspector) -> None:
    milter = inbound_for(inspector)
    milter.envfrom("<scanner@example.com>")  # a real sender: only a header can make it a candidate
    for _ in range(1000):  # 1 MB of fields, far past inbound.max_bytes (128 KiB)
        milter.header_bytes(*FIELD)
    milter.header_bytes("X-Sender-Ledger", b"pass (forged)")
    milter.header_bytes("Auto-Submitted", b"auto-replied")
    kept = sum(len(n) + len(v) + 4 for n, v in milter.headers)
    assert kept == milter.head_kept <= inspector.max_bytes
    assert milter.head_size > 1_000_000
    assert milter.trace_headers_seen == 1  # still removed at eom, though not kept
    milter.eoh()
    assert milter.candidate is not None and milter.candidate.marker.startswith("Auto-Submitted")


@pytest.fixture()
def inbound_process(tmp_path: Path, redis_server: RedisServer) -> Iterator[MilterProcess]:
    tmp_path.chmod(0o755)
    config = write_config(tmp_path / "sender-ledger.toml", redis_server.url)
    milter = MilterProcess(tmp_path, "inbound", config, SECRET).start()
    yield milter
    milter.stop()


def test_the_inbound_milters_rss_does_not_grow_with_the_session_count(
        inbound_process: MilterProcess) -> None:
    """60 sessions of large bounces (1 MB of header fields, 0.5 MB of body, as a forger may
    send) over the milter protocol. Kept until a full collection, they took it up by about
    20 MB; released, it levels off within a few MB of warm-up."""
    pid = inbound_process.proc.pid  # type: ignore[union-attr]
    headers = [(FIELD[0], FIELD[1].decode())] * 1000 + [
        ("From", "MAILER-DAEMON@mx.example.com"), ("Subject", "Undelivered Mail Returned to Sender")]
    body = loadmail.padding(512 * 1024)
    time.sleep(0.5)
    before = loadmail.vm_rss_mb(pid)
    answers = set()
    for _ in range(60):
        outcome = send_message(str(inbound_process.socket_path), "", ["alice@example.test"], headers, body,
                               timeout=60)
        answers.add(outcome.code)
    time.sleep(0.5)
    growth = loadmail.vm_rss_mb(pid) - before
    assert answers <= {"accept", "reject"}, answers
    assert growth < 12, f"inbound milter grew by {growth:.1f} MiB over 60 sessions"


def test_header_fields_past_the_kept_bytes_make_a_cut_reading_never_a_milder_answer(
        inbound_process: MilterProcess) -> None:
    """A forger pads the header section so that its Content-Type (and with it the MIME
    structure) lies past what the milter keeps: the reading is cut, and a cut reading with no
    reference found gets the unmatched action (550 for a DSN), never the no-reference tag."""
    raw = messages.dsn(messages.original("<padded-head-forgery@example.test>"), failed="x@example.net")
    head, body = messages.split(raw)
    padding = [("X-Padding", "p" * 990)] * 200  # about 200 KB, past inbound.max_bytes
    outcome = send_message(str(inbound_process.socket_path), "", ["alice@example.test"],
                           padding + head, body, timeout=60)
    assert outcome.code == "reject", outcome
    assert "cause=truncated" in inbound_process.log_text() or "cause=unmatched" in inbound_process.log_text()
