"""Issue 8: a signal ordinary mail also carries makes a candidate, never a refusal or a tag.

The screen's pure logic needs no server; what the Inspector answers runs against
the private Redis of tests/conftest.py (an unreachable one where that is the point).
"""

from __future__ import annotations

from ledger.check import Envelope, parse, screen
from ledger.check.detectors.autoreply import AutoreplyDetector
from ledger.check.detectors.base import Finding
from ledger.check.detectors.bounce import BounceDetector
from ledger.check.detectors.challenge import ChallengeDetector
from ledger.check.detectors.subscription import SubscriptionDetector
from ledger.check.replyish import own_text
from ledger.config import Config
from ledger.decide import ACCEPT, TAG, Cause, Decision, heuristic_only, ordinary_again
from ledger.record import Recorder, SentMessage
from ledger.redis_client import connect
from ledger.services import inspector_for
from ledger.store import Ledger
from ledger.verdict import Inspector

ALICE = "alice@example.test"
TMDA = [("X-Delivery-Agent", "TMDA/1.1.12 (Macallan)"), ("X-TMDA-Fingerprint", "vDBoOHtIUE6VyFaH6MHKeMYkQD0")]


def message(headers: list[tuple[str, str]], body: str) -> bytes:
    head = "".join(f"{name}: {value}\n" for name, value in headers)
    return (head + "MIME-Version: 1.0\nContent-Type: text/plain; charset=utf-8\n\n" + body).encode()


def tmda_list_reply() -> tuple[Envelope, bytes]:
    """A TMDA user's reply to a list thread, quoting "your message ... confirm" wording."""
    headers = [
        ("From", "Ann Other <ann@example.org>"), ("To", "users@lists.example.org"),
        ("Subject", "[Users] Re: Please confirm your message format"),
        ("Message-ID", "<post-1@example.org>"), ("In-Reply-To", "<thread-1@example.net>"),
        ("List-Id", "<users.lists.example.org>"), ("List-Post", "<mailto:users@lists.example.org>"),
        ("Precedence", "list"), *TMDA,
    ]
    body = ("Same here.\n\nOn Mon, Bob wrote:\n> Your message has been held.\n"
            "> Please confirm your message at https://lists.example.org/confirm\n")
    return Envelope("users-bounces@lists.example.org", [ALICE]), message(headers, body)


def tmda_challenge() -> tuple[Envelope, bytes]:
    """A real TMDA challenge (TMDA's documented confirmation request), about a message never sent."""
    headers = [
        ("From", "Lena <lena@example.com>"), ("To", ALICE),
        ("Subject", "Please confirm your message: hello"), ("Message-ID", "<ch-1@example.com>"),
        ("In-Reply-To", "<never-sent@example.test>"),
        ("Reply-To", "lena-confirm-1795639894.28762.580669@example.com"),
        ("X-Delivery-Agent", "TMDA/1.3.2 (Bell Island)"),
    ]
    body = ("This message was created automatically by mail delivery software (TMDA).\n\n"
            "Your message attached below is being held because the address\n<alice@example.test> has "
            "not been verified.\n\nTo release your message for delivery, please send an empty message\n"
            "to the following address:\n\n   lena-confirm-1795639894.28762.580669@example.com\n")
    return Envelope("", [ALICE]), message(headers, body)


def ci_notification(subject: str = "Build #12 failed: mail delivery tests") -> tuple[Envelope, bytes]:
    headers = [
        ("From", "Jenkins <jenkins-daemon@ci.example.org>"), ("To", ALICE), ("Subject", subject),
        ("Message-ID", "<n-1@ci.example.org>"), ("In-Reply-To", "<thread-7@ci.example.org>"),
        ("Auto-Submitted", "auto-generated"), ("X-Auto-Response-Suppress", "All"),
    ]
    return Envelope("jenkins-daemon@ci.example.org", [ALICE]), message(headers, "Build failed.\n")


# -- the screen ------------------------------------------------------------------------------


def test_a_cr_agent_header_makes_a_weak_candidate_only() -> None:
    found = screen("ann@example.org", [("From", "ann@example.org"), *TMDA, ("Subject", "Re: lunch")])
    assert found is not None and not found.strong


def test_notification_and_subject_signals_are_weak() -> None:
    for headers in (
        [("Auto-Submitted", "auto-generated")],
        [("From", "bob@example.org"), ("Subject", "Out of office next week?")],
        [("From", "bob@example.org"), ("Subject", "virus scan results: infected files found")],
        [("From", "Parcels <mailer@parcels.example>"), ("Subject", "Your parcel could not be delivered")],
    ):
        found = screen("someone@example.org", headers)
        assert found is not None and not found.strong, headers


def test_null_sender_report_daemon_bounce_and_autoreply_headers_stay_strong() -> None:
    for mail_from, headers in (
        ("", [("Subject", "hello")]),
        ("x@example.org", [("Content-Type", "multipart/report; report-type=delivery-status")]),
        ("x@example.org", [("From", "MAILER-DAEMON@mx.example.org"), ("Subject", "Undelivered Mail")]),
        ("x@example.org", [("Auto-Submitted", "auto-replied")]),
        ("x@example.org", [("X-Autoreply", "yes")]),
    ):
        found = screen(mail_from, headers)
        assert found is not None and found.strong, headers


def test_a_strong_signal_after_a_weak_one_wins() -> None:
    report = ("Content-Type", "multipart/report; report-type=delivery-status")
    found = screen("x@example.org", [*TMDA, report])
    assert found is not None and found.strong and found.marker == "multipart/report"


# -- the rule (pure) -------------------------------------------------------------------------


def test_heuristic_only_rule() -> None:
    hint, form = Finding("autoreply", ("x@y",), form=False), Finding("challenge", (), form=True)
    assert heuristic_only(False, False, hint)
    assert not heuristic_only(True, False, hint)  # a strong signal decides as before
    assert not heuristic_only(False, False, form)  # a detector recognised a form
    assert not heuristic_only(False, True, hint)  # null sender with a reference: as before
    bare = Finding("bounce", (), form=False)
    assert heuristic_only(True, True, bare)  # null sender, nothing of a bounce in it
    assert not heuristic_only(True, True, bare, bounce_subject=True)


def test_ordinary_again_keeps_a_match_only() -> None:
    tagged = Decision(ACCEPT, "tagged: x", True, "autoreply", outcome=TAG, trace="unverified (x)",
                      cause=Cause.UNMATCHED)
    again = ordinary_again(tagged)
    assert (again.action, again.cause, again.trace, again.candidate, again.kind) == (
        ACCEPT, Cause.ORDINARY, None, False, None)
    matched = Decision(ACCEPT, "original sent", True, "autoreply", matched=True, trace="pass (x)",
                       cause=Cause.MATCHED)
    assert ordinary_again(matched) is matched


# -- detectors -------------------------------------------------------------------------------


def test_own_text_stops_at_quotes() -> None:
    assert own_text("Hi\n\nOn Mon, Bob wrote:\n> confirm\n").strip() == "Hi"
    assert own_text("Hi\n> confirm\n").strip() == "Hi"
    assert own_text("Hi\n-----Original Message-----\nconfirm").strip() == "Hi"
    assert own_text("Please confirm.\n") == "Please confirm.\n"


def test_a_cr_users_list_reply_is_no_challenge() -> None:
    envelope, raw = tmda_list_reply()
    assert ChallengeDetector().detect(parse(raw, envelope)) is None


def test_a_cr_users_reply_with_confirm_wording_only_quoted_is_no_challenge() -> None:
    headers = [("From", "ann@example.org"), ("To", ALICE), ("Subject", "Re: invoice"), *TMDA]
    body = "Paid.\n\n> Please confirm your message with a reply to this message.\n> https://x.example/\n"
    parsed = parse(message(headers, body), Envelope("ann@example.org", [ALICE]))
    assert ChallengeDetector().detect(parsed) is None


def test_a_real_tmda_challenge_is_still_one() -> None:
    envelope, raw = tmda_challenge()
    found = ChallengeDetector().detect(parse(raw, envelope))
    assert found is not None and found.kind == "challenge" and found.form


def test_a_tracker_subject_with_suppress_header_is_no_exchange_autoreply() -> None:
    envelope, raw = ci_notification("[Bug 123] Out of office replies loop between servers")
    found = AutoreplyDetector().detect(parse(raw, envelope))
    assert found is not None and not found.form


def test_a_list_post_about_bounces_is_no_text_bounce() -> None:
    headers = [("From", "Vera <vera@city.example>"), ("To", "HAMRADIO@LISTSERV.EXAMPLE.EDU"),
               ("Subject", "Re: Mail delivery failed after the move"),
               ("List-Help", "<mailto:LISTSERV@LISTSERV.EXAMPLE.EDU>"),
               ("List-Unsubscribe", "<mailto:HAMRADIO-unsubscribe-request@LISTSERV.EXAMPLE.EDU>")]
    body = "Has anyone seen \"550 5.1.1 User unknown\" after a migration? Unable to deliver.\n"
    envelope = Envelope("owner-HAMRADIO@LISTSERV.EXAMPLE.EDU", [ALICE])
    parsed = parse(message(headers, body), envelope)
    assert BounceDetector().detect(parsed) is None
    subs = message(headers, "Please confirm whether the subscription confirmation mails arrive.\n")
    assert SubscriptionDetector().detect(parse(subs, envelope)) is None


# -- the whole check, on the private Redis ----------------------------------------------------


def test_a_cr_users_list_reply_is_ordinary_mail(inspector: Inspector) -> None:
    decision = inspector.inspect(*tmda_list_reply())
    assert (decision.action, decision.cause, decision.trace) == (ACCEPT, Cause.ORDINARY, None)


def test_a_forged_challenge_is_still_refused(inspector: Inspector) -> None:
    decision = inspector.inspect(*tmda_challenge())
    assert decision.action == "reject" and decision.kind == "challenge"


def test_a_notification_is_ordinary_mail_not_tagged(inspector: Inspector) -> None:
    decision = inspector.inspect(*ci_notification())
    assert (decision.action, decision.cause, decision.trace) == (ACCEPT, Cause.ORDINARY, None)


def test_a_null_sender_quota_warning_is_ordinary_but_a_bare_bounce_is_tagged(inspector: Inspector) -> None:
    quota = message([("From", "no-reply@exchange.example.com"), ("To", ALICE), ("Subject", "Quota warning"),
                     ("Auto-Submitted", "auto-generated")], "Mailbox size: 1.9 GB of 2 GB.\n")
    decision = inspector.inspect(Envelope("", [ALICE]), quota)
    assert (decision.action, decision.cause, decision.trace) == (ACCEPT, Cause.ORDINARY, None)
    bare = message([("From", "relay@gw.example.com"), ("To", ALICE), ("Subject", "Undeliverable: hi")],
                   "Sorry.\n")
    tagged = inspector.inspect(Envelope("", [ALICE]), bare)
    assert tagged.outcome == TAG and tagged.trace is not None


def test_a_heuristic_autoreply_to_our_message_still_passes(recorder: Recorder, inspector: Inspector) -> None:
    recorder.record(SentMessage(mail_from=ALICE, recipients=["bob@example.org"],
                                message_id="<ours-1@example.test>", from_header=ALICE))
    raw = message([("From", "Bob <bob@example.org>"), ("To", ALICE), ("Subject", "Out of office: hello"),
                   ("In-Reply-To", "<ours-1@example.test>")], "I am away until Monday.\n")
    decision = inspector.inspect(Envelope("bob@example.org", [ALICE]), raw)
    assert decision.matched and decision.trace is not None and decision.trace.startswith("pass (")


def test_ordinary_mail_with_a_weak_signal_is_not_delayed_when_redis_is_down(config: Config) -> None:
    dead = inspector_for(config, Ledger(connect("unix:///nonexistent/redis.sock", 0.2, 0.2)))
    decision = dead.inspect(*ci_notification())
    assert (decision.action, decision.cause) == (ACCEPT, Cause.ORDINARY)
