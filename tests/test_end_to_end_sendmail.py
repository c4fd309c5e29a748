"""End to end behind a real Sendmail: the milters work with Sendmail's libmilter too.

A private Sendmail (Debian's sendmail-bin, unpacked, never installed: testbed/sendmail.py)
has a submission daemon with the outbound milter and an MX daemon with the inbound one
(``INPUT_MAIL_FILTER``, ``F=T``). Mail sent to a recipient whose server refuses it makes
Sendmail write its own DSN; that DSN, handed to the MX with ``MAIL FROM:<>``, is accepted,
a forged one gets 550 in the SMTP transaction, and with Redis stopped the real one gets 451.
Both milters listen on unix sockets, as in production (/run/sender-ledger): in a 0750
directory whose every parent only root may write (testbed.sendmail.socket_dir, next to the
.deb cache): Sendmail refuses a socket below a world-writable directory such as /tmp.

Each milter runs the real command line behind a probe (:data:`PROBE`) that only logs what
Sendmail's libmilter offered in the option negotiation and what the milter took, and when the
inbound milter answers SKIP: Sendmail offers other protocol steps than Postfix, and a milter
asking for actions the MTA does not offer is cut off at the first connection.

Skipped, with the reason, only when apt cannot fetch the Sendmail packages or not root.
"""

from __future__ import annotations

import os
import re
import shutil
import smtplib
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import TypeVar

import Milter
import pytest

from ledger.config import load_config
from ledger.services import hasher_for, open_ledger
from testbed import MilterProcess, RedisServer, SmtpSink, free_port
from testbed.sendmail import PrivateSendmail, SendmailUnavailable, fetch_debs, socket_dir
from tests import messages
from tests.conftest import SECRET
from tests.test_end_to_end import forge, message, strip_sink_headers, submit

pytestmark = pytest.mark.sendmail

Part = TypeVar("Part", RedisServer, MilterProcess, SmtpSink, PrivateSendmail)
SENDMAIL_QID = re.compile(r"decision qid=([0-9A-Za-z]{14}) ")  # Sendmail's queue id, via {i}
NEGOTIATED = re.compile(r"probe: (\w+) negotiated: offered actions=(\d+) steps=(\d+); took steps=(\d+)")

# The real command line, with negotiate() and InboundMilter.body() wrapped to log; nothing changed.
PROBE = '''\
import logging
import sys

import Milter

from ledger.milter.inbound import InboundMilter

log = logging.getLogger("sender-ledger.probe")
negotiate, body = Milter.Base.negotiate, InboundMilter.body


def logged_negotiate(self, opts):
    actions, steps = opts[0], opts[1]
    answer = negotiate(self, opts)
    log.info("probe: %s negotiated: offered actions=%d steps=%d; took steps=%d",
             type(self).__name__, actions, steps, self._protocol)
    return answer


def logged_body(self, chunk):
    answer = body(self, chunk)
    if answer == Milter.SKIP:
        log.info("probe: answered SKIP after %d body bytes", self.body_size)
    return answer


Milter.Base.negotiate, InboundMilter.body = logged_negotiate, logged_body
from ledger.cli import main

sys.exit(main(sys.argv[1:]))
'''


class SendmailSite:
    """Redis, both milters, the sinks and Sendmail, up in order and down in reverse."""

    def __init__(self, base: Path, sockets: Path, debs: list[Path]) -> None:
        self.base = base
        self.started: list[RedisServer | MilterProcess | SmtpSink | PrivateSendmail] = []
        self.redis = self._up(RedisServer(base / "redis").start())
        secret = base / "secret"
        secret.write_text(SECRET + "\n")
        secret.chmod(0o600)
        self.config = base / "sender-ledger.toml"
        self.config.write_text(f'[secret]\nfile = "{secret}"\n\n[redis]\nurl = "{self.redis.url}"\n\n'
                               f'[outbound]\nmessage_id_domain = "example.test"\n'
                               f'spool_dir = "{base / "spool"}"\nspool_retry_seconds = 0.2\n')
        probe = base / "probe_milter.py"
        probe.write_text(PROBE)
        program = (sys.executable, str(probe))
        self.outbound = self._up(MilterProcess(sockets, "outbound", self.config, SECRET,
                                               program=program).start())
        self.inbound = self._up(MilterProcess(sockets, "inbound", self.config, SECRET,
                                              program=program).start())
        self.capture = self._up(SmtpSink(base, free_port(), "capture", dump=True).start())
        fail = self._up(SmtpSink(base, free_port(), "fail", reject_rcpt="550 5.1.1 User unknown").start())
        relay = self._up(SmtpSink(base, free_port(), "relay", dump=True).start())
        self.sendmail = self._up(PrivateSendmail(
            base / "sendmail", mx_port=free_port(), submission_port=free_port(),
            inbound_milter=self.inbound.milter_socket, outbound_milter=self.outbound.milter_socket,
            capture_port=self.capture.port, fail_port=fail.port, relay_port=relay.port,
            debs=debs).start())

    def _up(self, thing: Part) -> Part:
        self.started.append(thing)
        return thing

    def stop(self) -> None:
        while self.started:
            self.started.pop().stop()

    def in_ledger(self, message_id: str, sender: str = "alice@example.test") -> bool:
        cfg = load_config(str(self.config))
        entry = hasher_for(cfg).message(message_id.strip("<>").lower(), sender)
        return entry in open_ledger(cfg).find([entry])

    def arrived(self, *markers: str, timeout: float = 90.0) -> Path:
        """The captured message containing every marker; if none comes, what Sendmail said."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for path in self.capture.messages():
                text = path.read_text(errors="replace")
                if all(marker in text for marker in markers):
                    return path
            time.sleep(0.1)
        raise AssertionError(f"no message containing {markers!r} arrived; Sendmail's SMTP "
                             f"traffic ends:\n{self.sendmail.traffic_text()[-3000:]}")

    def real_dsn(self, to: str = "nobody@fail.test") -> tuple[str, bytes]:
        """Send a message out through Sendmail to a recipient that fails; Sendmail's own DSN."""
        mid = f"<sm-{uuid.uuid4().hex}@example.test>"
        submit(self.sendmail.submission_port, "alice@example.test", [to], message(mid, to))
        raw = self.arrived(mid).read_bytes()
        assert b"X-Mail-Args: <>" in raw, "Sendmail's DSN comes with a null sender"
        assert b"report-type=delivery-status" in raw and b"Reporting-MTA: dns; mx.sendmail.test" in raw
        return mid, strip_sink_headers(raw)


@pytest.fixture(scope="module")
def site(scratch: Path) -> Iterator[SendmailSite]:
    if os.geteuid() != 0 or shutil.which("unshare") is None:
        pytest.skip("needs root and unshare(1): Sendmail runs in a private mount namespace")
    try:
        debs = fetch_debs()
    except SendmailUnavailable as exc:
        pytest.skip(f"the Sendmail packages cannot be fetched here: {exc}")
    base = scratch / "sendmail-site"
    base.mkdir()
    sockets = socket_dir()
    try:
        try:
            running = SendmailSite(base, sockets, debs)
        except BaseException:
            for log in sorted([*base.rglob("*.log"), *sockets.glob("*.log")]):
                print(f"== {log}\n{log.read_text(errors='replace')[-2000:]}")
            raise
        yield running
        running.stop()
    finally:
        shutil.rmtree(sockets, ignore_errors=True)


def deliver_to_mx(site: SendmailSite, raw: bytes, mail_from: str = "") -> None:
    submit(site.sendmail.mx_port, mail_from, ["alice@example.test"], raw)


def test_mail_sent_through_sendmail_is_recorded_and_its_real_dsn_accepted(site: SendmailSite) -> None:
    mid, dsn = site.real_dsn()
    assert site.in_ledger(mid)
    deliver_to_mx(site, dsn)  # raises on any refusal
    delivered = site.arrived(mid, "X-Sender-Ledger: pass (dsn;").read_text()
    assert "X-Mail-Args: <>" in delivered
    # The queue id came through Sendmail's {i} macro, on both sides.
    assert SENDMAIL_QID.search(site.inbound.log_text())
    assert re.search(r"record qid=[0-9A-Za-z]{14} from=<alice@example.test>", site.outbound.log_text())


def negotiations(milter: MilterProcess, name: str) -> list[re.Match[str]]:
    return [m for m in NEGOTIATED.finditer(milter.log_text()) if m[1] == name]


def test_each_daemon_runs_only_its_own_milter(site: SendmailSite) -> None:
    """Sendmail connects to its filters at the start of each SMTP session: the MSA's
    InputMailFilters replaces the global list (the inbound milter), it does not add to it."""
    before = (len(negotiations(site.outbound, "OutboundMilter")),
              len(negotiations(site.inbound, "InboundMilter")))
    site.real_dsn()
    assert (len(negotiations(site.outbound, "OutboundMilter")),
            len(negotiations(site.inbound, "InboundMilter"))) == (before[0] + 1, before[1])
    deliver_to_mx(site, site.real_dsn()[1])
    assert (len(negotiations(site.outbound, "OutboundMilter")),
            len(negotiations(site.inbound, "InboundMilter"))) == (before[0] + 2, before[1] + 1)


def test_sendmail_offers_every_action_and_step_the_milters_take(site: SendmailSite) -> None:
    site.real_dsn()  # one session on each side
    deliver_to_mx(site, site.real_dsn()[1])
    needed_actions = Milter.ADDHDRS | Milter.CHGHDRS  # ledger/milter/runner.py's set_flags
    for milter, name in ((site.outbound, "OutboundMilter"), (site.inbound, "InboundMilter")):
        seen = negotiations(milter, name)
        assert seen, f"{name} logged no negotiation with Sendmail"
        for match in seen:
            offered_actions, offered, took = (int(match[i]) for i in (2, 3, 4))
            print(f"{name}: Sendmail offered actions={offered_actions:#x} steps={offered:#x}; "
                  f"took steps={took:#x}")
            assert offered_actions & needed_actions == needed_actions
            assert took & ~offered == 0  # asks for no step Sendmail lacks
            # The no-reply steps it declared are honoured, so Sendmail does not wait for them.
            assert took & (Milter.P_NR_MAIL | Milter.P_NR_RCPT | Milter.P_NR_HDR) == (
                Milter.P_NR_MAIL | Milter.P_NR_RCPT | Milter.P_NR_HDR)
            if name == "InboundMilter":
                assert took & Milter.P_SKIP, "Sendmail's libmilter offers SKIP (8.14 and later)"
                assert not took & Milter.P_RCPT_REJ  # refused recipients are not in the envelope


def test_a_forged_dsn_is_refused_with_550_in_the_smtp_transaction(site: SendmailSite) -> None:
    mid, dsn = site.real_dsn()
    with pytest.raises(smtplib.SMTPDataError) as refused:
        deliver_to_mx(site, forge(dsn, mid))
    assert refused.value.smtp_code == 550
    assert refused.value.smtp_error.startswith(b"5.7.1 Backscatter refused")


def test_ordinary_mail_through_sendmail_is_accepted_untouched(site: SendmailSite) -> None:
    mid = f"<plain-{uuid.uuid4().hex}@example.com>"
    raw = (f"From: carol@example.com\r\nTo: alice@example.test\r\nSubject: lunch\r\n"
           f"Message-ID: {mid}\r\n\r\nFriday?\r\n").encode()
    deliver_to_mx(site, raw, mail_from="carol@example.com")
    assert "X-Sender-Ledger" not in site.arrived(mid).read_text()


def test_mail_from_sendmail_1_goes_through_the_msp_and_is_recorded(site: SendmailSite) -> None:
    """Locally submitted mail (cron, web applications): submit.cf relays it to the MSA."""
    mid = f"<sm-local-{uuid.uuid4().hex}@example.test>"
    site.sendmail.sendmail(message(mid, "nobody@fail.test"), "alice@example.test", "nobody@fail.test")
    dsn = strip_sink_headers(site.arrived(mid).read_bytes())
    assert site.in_ledger(mid)
    deliver_to_mx(site, dsn)  # its real DSN is accepted like any other


def test_a_huge_dsn_is_read_only_in_part_and_delivered_whole(site: SendmailSite) -> None:
    """Past inbound.max_bytes the milter answers SKIP, a protocol step Sendmail must offer."""
    mid = f"<sm-big-{uuid.uuid4().hex}@example.test>"
    body = b"".join(b"line %06d of a large attachment, base64 or not\r\n" % i for i in range(30000))
    sent = message(mid, "bob@elsewhere.test").replace(b"hello\r\n", body)
    submit(site.sendmail.submission_port, "alice@example.test", ["bob@elsewhere.test"], sent)
    assert site.in_ledger(mid)
    skips_before = site.inbound.log_text().count("probe: answered SKIP")
    deliver_to_mx(site, messages.dsn(sent, failed="bob@elsewhere.test"))
    delivered = site.arrived("line 029999 of a large attachment").read_bytes()
    assert b"X-Sender-Ledger: pass (dsn;" in delivered
    assert len(delivered) > 1_400_000
    assert site.inbound.log_text().count("probe: answered SKIP") == skips_before + 1


def test_with_redis_stopped_the_real_dsn_gets_451(site: SendmailSite) -> None:
    mid, dsn = site.real_dsn()
    site.redis.stop()
    try:
        for bounce in (dsn, forge(dsn, mid)):  # our fault: even the forgery is not refused
            with pytest.raises(smtplib.SMTPDataError) as deferred:
                deliver_to_mx(site, bounce)
            assert deferred.value.smtp_code == 451
            assert deferred.value.smtp_error.startswith(b"4.7.1")
        # Sending goes on: the record waits in the outbound spool.
        out_id = f"<sm-down-{uuid.uuid4().hex}@example.test>"
        submit(site.sendmail.submission_port, "alice@example.test", ["dave@elsewhere.test"],
               message(out_id, "dave@elsewhere.test"))
        assert "spooled: the ledger could not take it now" in site.outbound.log_text()
    finally:
        site.redis.start()  # a fresh, empty Redis: this test runs last in the module
