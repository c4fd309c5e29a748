"""sender-ledger report: a tag trial's decisions, driven through the Inspector into a real
Redis's log and counters, read back as text, JSON and HTML, and the verdict as data changes."""

from __future__ import annotations

import json
import re
import time
from pathlib import Path

import pytest
import redis

from ledger.check import Envelope
from ledger.check.detectors.base import Finding
from ledger.cli import main
from ledger.config import Config, load_config
from ledger.days import SECONDS_PER_DAY, today
from ledger.decide import Cause, Policy, decide
from ledger.observe import Observer, counters
from ledger.observe.decision_log import AddressMasker
from ledger.observe.observer import RECORDED
from ledger.observe.timefmt import day_date
from ledger.services import inspector_for, recorder_for
from ledger.spool import Spool
from ledger.store import Ledger
from tests.conftest import write_config
from tests.observe_helpers import SENDER, dsn, sent

TAG = '[inbound]\nunmatched_action = "tag"\n'
OTHER = "carol@example.test"


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def envelope(qid: str, *rcpts: str) -> Envelope:
    return Envelope(mail_from="", recipients=list(rcpts or [SENDER]), client="mx.fail.test[192.0.2.7]",
                    queue_id=qid)


def no_id_dsn(failed: str) -> bytes:
    """A DSN whose returned headers lost the Message-ID: only the envelope check can accept it."""
    return dsn("x@y", failed=failed).replace(b"Message-ID: <x@y>\r\n", b"")


class Site:
    """A tag-mode config on the private Redis, and what it takes to drive decisions into it."""

    def __init__(self, tmp_path: Path, redis_url: str, client: redis.Redis, extra: str = TAG) -> None:
        self.path = write_config(tmp_path / "trial.toml", redis_url, extra)
        self.cfg: Config = load_config(str(self.path))
        self.client = client
        ledger = Ledger(client, self.cfg.redis.namespace, self.cfg.ledger.lifetime_days,
                        self.cfg.ledger.bucket_bits)
        self.recorder = recorder_for(self.cfg, ledger)
        self.inspector = inspector_for(self.cfg, ledger)
        self.observer = Observer.from_config(self.cfg, client)
        self.serial = 0

    def send(self, message_id: str, sender: str = SENDER, ago: int = 0) -> None:
        now = time.time() - ago * SECONDS_PER_DAY
        self.recorder.record(sent(message_id, sender), day=int(now // SECONDS_PER_DAY))
        self.observer.recorded(RECORDED, 0.001, now=now)

    def bounce(self, raw: bytes, *rcpts: str, ago: int = 0) -> None:
        self.serial += 1
        env = envelope(f"Q{self.serial}", *rcpts)
        decision = self.inspector.inspect(env, raw, claim=True)
        assert self.observer.decided(env, decision, 0.001, now=time.time() - ago * SECONDS_PER_DAY)

    def report(self, capsys: pytest.CaptureFixture[str], *extra: str) -> dict[str, object]:
        code, out, err = run(capsys, "report", "--config", str(self.path), "--json", *extra)
        assert code == 0, err
        result: dict[str, object] = json.loads(out)
        return result


@pytest.fixture()
def site(tmp_path: Path, redis_server, redis_client: redis.Redis) -> Site:  # type: ignore[no-untyped-def]
    return Site(tmp_path, redis_server.url, redis_client)


def codes(report: dict[str, object]) -> list[str]:
    verdict = report["verdict"]
    assert isinstance(verdict, dict)
    return [o["code"] for o in verdict["obstacles"]]


def a_week_of_real_bounces(site: Site, per_day: int = 3) -> None:
    """Real mail every day of the last week, and real bounces of it."""
    for ago in range(7):
        for n in range(per_day):
            ident = f"real-{ago}-{n}@example.test"
            site.send(ident, ago=ago)
            site.bounce(dsn(ident, own_id=f"b-{ago}-{n}@mx.fail.test"), ago=ago)


# -- would_reject, the pure rule ----------------------------------------------------------
def finding(kind: str = "dsn", form: bool = True) -> Finding:
    return Finding(kind, ("forged@x",), form=form, detector="test")


@pytest.mark.parametrize(("policy", "found", "expected"), [
    (Policy(unmatched_action="tag"), finding(), True),             # a trial's tag: reject mode refuses
    (Policy(unmatched_action="reject"), finding(), True),          # the refusal itself
    (Policy(unmatched_action="tag"), finding(form=False), False),  # a heuristic is tagged in any mode
    (Policy(unmatched_action="tag"), finding("arf"), False),       # ARF keeps its own tag exception
])
def test_would_reject_rule(policy: Policy, found: Finding, expected: bool) -> None:
    decision = decide(policy, found, [SENDER], {})
    assert decision.cause == Cause.UNMATCHED
    assert decision.would_reject is expected


def test_tag_trial_marks_what_reject_mode_refuses(site: Site) -> None:
    site.send("real@example.test")
    real = site.inspector.inspect(envelope("A"), dsn("real@example.test"))
    forged = site.inspector.inspect(envelope("B"), dsn("forged@x", failed="stranger@fail.test"))
    assert (real.outcome, real.would_reject) == ("accept", False)
    assert (forged.outcome, forged.would_reject) == ("tag", True)


# -- the report over Redis ----------------------------------------------------------------
def test_report_json_keys_and_counts(capsys: pytest.CaptureFixture[str], site: Site) -> None:
    site.send("real@example.test")
    site.bounce(dsn("real@example.test"))
    site.bounce(dsn("forged1@x", own_id="f1@mx.fail.test", failed="stranger@fail.test"))
    site.bounce(dsn("forged2@x", own_id="f2@mx.fail.test", failed="stranger@fail.test"))
    site.send("two@example.test", sender=SENDER)
    site.bounce(dsn("two@example.test", own_id="p1@mx.fail.test"), SENDER, OTHER)  # partial
    site.bounce(no_id_dsn("bob@fail.test"))  # envelope: alice wrote to bob
    report = site.report(capsys)
    assert set(report) == {"namespace", "generated", "unmatched_action", "window", "addresses", "totals",
                           "days", "would_reject", "recipients", "envelope_only", "log", "spool",
                           "thresholds", "verdict"}
    assert report["unmatched_action"] == "tag"
    totals = report["totals"]
    assert isinstance(totals, dict)
    assert (totals["candidates"], totals["accept"], totals["tag"], totals["reject"]) == (5, 2, 3, 0)
    assert totals["would_reject"] == 3 and totals["recorded"] == 2
    would = report["would_reject"]
    assert would == {"total": 3, "by_kind": {"dsn": 3}, "by_cause": {"unmatched": 2, "partial": 1},
                     "real_looking": 1}
    masker = AddressMasker(site.cfg.secret, "domain")
    rows = {r["recipient"]: r for r in report["recipients"]}  # type: ignore[union-attr]
    alice, carol = masker.mask(SENDER), masker.mask(OTHER)
    assert set(rows) == {alice, carol}
    assert (rows[alice]["would_reject"], rows[alice]["real_looking"], rows[alice]["matched"]) == (3, 1, 2)
    assert rows[carol]["would_reject"] == 1
    assert SENDER not in json.dumps(report) and alice.endswith("@example.test")
    envelope_only = report["envelope_only"]
    assert isinstance(envelope_only, dict) and envelope_only["total"] == 1
    assert envelope_only["listed"][0]["recipients"] == [alice]
    days = report["days"]
    assert isinstance(days, list) and len(days) == 7 and days[-1]["day"] == day_date(today())
    assert days[-1]["outcomes"] == {"accept": 2, "tag": 3, "reject": 0, "tempfail": 0}
    assert report["log"] == {"entries": 5, "oldest": report["log"]["oldest"], "complete": True}  # type: ignore[index]
    assert codes(report) == ["too_few_days", "too_few_decisions", "real_looking_unmatched"]


def test_verdict_turns_safe_as_the_data_changes(capsys: pytest.CaptureFixture[str], site: Site) -> None:
    site.bounce(dsn("forged@x", failed="stranger@fail.test"))
    assert codes(site.report(capsys)) == ["too_few_days", "too_few_decisions"]
    a_week_of_real_bounces(site)
    report = site.report(capsys)
    assert report["window"]["observed_days"] == 7  # type: ignore[index]
    assert report["verdict"] == {"safe": True, "text": "safe to switch to reject", "obstacles": []}
    # one of our senders starts receiving bounces of mail it never sent through us
    for n in range(5):
        site.bounce(dsn(f"elsewhere-{n}@example.test", own_id=f"e{n}@mx.fail.test", failed="x@fail.test"),
                    OTHER)
    report = site.report(capsys)
    assert codes(report) == ["recipient_unmatched"]
    carol = AddressMasker(site.cfg.secret, "domain").mask(OTHER)
    assert carol in report["verdict"]["obstacles"][0]["text"]  # type: ignore[index]
    # the operator checked: the address is forged, refusing its backscatter is right
    assert site.report(capsys, "--reviewed", OTHER)["verdict"]["safe"] is True  # type: ignore[index]
    assert site.report(capsys, "--reviewed", carol)["verdict"]["safe"] is True  # type: ignore[index]
    assert codes(site.report(capsys, "--max-per-recipient", "6")) == []
    assert codes(site.report(capsys, "--min-days", "8", "--days", "9",
                             "--max-per-recipient", "6")) == ["too_few_days"]


def test_our_faults_stand_in_the_way(capsys: pytest.CaptureFixture[str], site: Site, tmp_path: Path) -> None:
    a_week_of_real_bounces(site)
    assert codes(site.report(capsys)) == []
    # Redis unreachable for one bounce: the inspector of a dead Redis tempfails it
    dead = load_config(str(write_config(tmp_path / "dead.toml", f"unix://{tmp_path}/none.sock", TAG)))
    decision = inspector_for(dead).inspect(envelope("D1"), dsn("real-0-0@example.test"))
    assert decision.outcome == "tempfail" and not decision.would_reject
    assert site.observer.decided(envelope("D1"), decision, 0.001)
    # and a record neither Redis nor the spool took
    site.observer.recorded("failed", 0.001)
    report = site.report(capsys)
    assert codes(report) == ["our_faults", "records_lost"]
    assert report["totals"]["failed"] == 1  # type: ignore[index]


def test_spool_records_waiting_stand_in_the_way(capsys: pytest.CaptureFixture[str], site: Site,
                                                tmp_path: Path) -> None:
    a_week_of_real_bounces(site)
    # a message sent while Redis was away: the outbound spool keeps it until Redis answers
    dead = load_config(str(write_config(tmp_path / "dead.toml", f"unix://{tmp_path}/none.sock", TAG)))
    assert dead.outbound.spool_dir == site.cfg.outbound.spool_dir
    spool = Spool(dead.outbound.spool_dir, dead.outbound.spool_max_bytes)
    assert recorder_for(dead, spool=spool).record(sent("late@example.test")).spooled
    report = site.report(capsys)
    assert codes(report) == ["spool_waiting"]
    assert report["spool"]["records"] == 1  # type: ignore[index]


def test_counters_keep_would_reject_by_kind(site: Site) -> None:
    site.bounce(dsn("forged@x", failed="stranger@fail.test"))
    site.bounce(dsn("forged@x", own_id="o2@mx.fail.test", failed="stranger@fail.test"))
    day = counters.read_days(site.client, site.cfg.redis.namespace, [today()])[0]
    assert day.get("would_reject") == 2 and day.get("would_reject:dsn") == 2
    assert day.as_dict()["would_reject"] == 2


def test_report_text(capsys: pytest.CaptureFixture[str], site: Site) -> None:
    site.send("real@example.test")
    site.bounce(dsn("real@example.test"))
    for n in range(2):
        site.bounce(dsn(f"forged{n}@x", own_id=f"f{n}@mx.fail.test", failed="stranger@fail.test"))
    code, out, err = run(capsys, "report", "--config", str(site.path))
    assert code == 0 and err == ""  # no progress bar: stderr is not a terminal
    assert 'mode now: unmatched_action = "tag" (a trial' in out
    assert "would have been refused (550 in reject mode): 2" in out
    assert "  by kind: dsn 2" in out
    alice = AddressMasker(site.cfg.secret, "domain").mask(SENDER)
    row = next(li for li in out.splitlines() if li.strip().startswith(alice))
    assert row.split()[1:5] == ["2", "2", "0", "1"]
    today_line = next(li for li in out.splitlines() if li.startswith(day_date(today())))
    assert today_line.split()[1:8] == ["3", "1", "2", "0", "0", "2", "1"]
    assert "verdict: not safe to switch to reject yet" in out
    assert "  - only 1 day observed, at least 7 wanted" in out
    assert SENDER not in out


def test_report_html_is_self_contained(capsys: pytest.CaptureFixture[str], site: Site,
                                       tmp_path: Path) -> None:
    a_week_of_real_bounces(site)
    site.bounce(dsn("forged@x", failed="stranger@fail.test"), ago=2)
    page = tmp_path / "trial.html"
    code, out, _ = run(capsys, "report", "--config", str(site.path), "--html", str(page))
    assert code == 0 and "verdict: safe to switch to reject" in out
    html = page.read_text()
    assert html.startswith("<!DOCTYPE html>") and "<style>" in html and "<svg" in html
    assert not re.search(r"<script|<link|<img|<iframe|url\(|@import|https?://|src=", html, re.IGNORECASE)
    assert '<div class="safe"><strong>safe to switch to reject</strong>' in html
    # the chart: a bar per day and outcome present, and the would-be refusal of two days ago
    titles = re.findall(r"<title>([^<]*)</title>", html)
    assert f"{day_date(today() - 2)} accept: 3" in titles
    assert f"{day_date(today() - 2)} tag: 1" in titles
    assert f"{day_date(today() - 2)} would have been refused: 1" in titles
    assert sum(t.endswith("accept: 3") for t in titles) == 7


def test_report_html_escapes_what_the_log_holds(capsys: pytest.CaptureFixture[str], tmp_path: Path,
                                                redis_server, redis_client: redis.Redis) -> None:  # type: ignore[no-untyped-def]
    site = Site(tmp_path, redis_server.url, redis_client, TAG + '\n[observe]\nlog_addresses = "full"\n')
    hostile = "<script>alert(1)</script>@example.test"
    for n in range(2):
        env = Envelope(mail_from="", recipients=[hostile], client="<b>mx</b>[192.0.2.9]", queue_id=f"H{n}")
        site.observer.decided(env, site.inspector.inspect(env, no_id_dsn("bob@fail.test")), 0.001)
    page = tmp_path / "escaped.html"
    assert run(capsys, "report", "--config", str(site.path), "--html", str(page), "--json")[0] == 0
    html = page.read_text()
    assert "<script" not in html and "&lt;script&gt;" in html and "<b>mx" not in html


def test_report_bad_input_is_one_line(capsys: pytest.CaptureFixture[str], site: Site, tmp_path: Path) -> None:
    code, out, err = run(capsys, "report", "--config", str(site.path), "--days", "0")
    assert code == 1 and out == "" and err == "sender-ledger: --days: must be at least 1\n"
    code, _, err = run(capsys, "report", "--config", str(site.path), "--html",
                       str(tmp_path / "no" / "x.html"))
    assert code == 1 and err.startswith("sender-ledger: ") and len(err.splitlines()) == 1
    code, out, err = run(capsys, "report", "--config", str(site.path), "--redis", f"unix://{tmp_path}/none.sock")
    assert code == 3 and out == "" and err.startswith("sender-ledger: ledger unreachable:")
    assert len(err.splitlines()) == 1


def test_log_entries_written_before_would_reject_count_their_own_refusals(redis_client: redis.Redis) -> None:
    from ledger.observe import decision_log

    key = decision_log.log_key("sl")
    old = {"q": "Q", "c": "", "f": "", "r": "h:1@example.test", "k": "dsn", "cs": "unmatched", "m": "0",
           "n": "1", "why": ""}
    redis_client.xadd(key, {**old, "a": "reject"})
    redis_client.xadd(key, {**old, "a": "tag"})
    tagged, refused = decision_log.read(redis_client, "sl", limit=5)
    assert (tagged.would_reject, refused.would_reject) == (False, True)
