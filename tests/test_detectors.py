"""Each detector family on messages written from its format's public description (no server)."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from ledger.check import Envelope, examine, parse, screen
from ledger.check.detectors.base import Finding
from ledger.check.extract import original_references
from tests import samples
from tests.messages import split

ORIG = samples.ORIG_ID
BOB = "bob@example.com"


def finding(raw: bytes, mail_from: str = "") -> Finding:
    found = examine(parse(raw, Envelope(mail_from=mail_from, recipients=["alice@example.test"])))
    assert found is not None
    assert not set(found.references) & set(samples.NOT_REFS)
    return found


CASES: list[tuple[str, Callable[[], bytes], str, str, tuple[str, ...], tuple[str, ...], bool]] = [
    # name, builder, envelope sender, kind, references, recipients_of_original, form
    ("qmail", samples.qmail, "", "bounce", (ORIG,), (BOB,), True),
    ("exim-new", samples.exim, "", "bounce", (ORIG,), (BOB,), True),
    ("exim-old", lambda: samples.exim(old=True), "", "bounce", (ORIG,), (BOB,), True),
    ("sendmail-v5", samples.sendmail_v5, "", "bounce", (ORIG,), (BOB,), True),
    ("sendmail-v5-bare", samples.sendmail_v5_no_reference, "", "bounce", (), (BOB,), True),
    ("postfix-old", samples.postfix_old, "", "bounce", (ORIG,), (BOB,), True),
    ("exchange-text", samples.exchange_text, "", "bounce", (ORIG,), (BOB,), True),
    ("exchange-text-quoted", lambda: samples.exchange_text(quoting="> "), "", "bounce", (ORIG,), (BOB,),
     True),
    ("exchange-text-indented", lambda: samples.exchange_text(quoting="    "), "", "bounce", (ORIG,), (BOB,),
     True),
    ("exchange-html-de", lambda: samples.exchange_html("Ursprüngliche Nachrichtenkopfzeilen:"), "", "bounce",
     (ORIG,), (BOB,), True),
    ("exchange-html-ja-qp-double", lambda: samples.exchange_html("元のメッセージ ヘッダー:", True, False), "",
     "bounce", (ORIG,), (BOB,), True),
    ("exchange-html-fr", lambda: samples.exchange_html("En-têtes du message d'origine :"), "", "bounce",
     (ORIG,), (BOB,), True),
    ("lotus-bare", samples.lotus_no_reference, "", "bounce", (), (BOB,), True),
    ("oracle", samples.oracle, "", "bounce", (ORIG,), (BOB,), True),
    ("gmail", samples.gmail, "", "bounce", (ORIG,), (BOB,), True),
    ("sendmail-attached", lambda: samples.bounce_with_attached(samples.original_message()), "", "bounce",
     (ORIG,), (BOB,), True),
    ("bounce-of-bounce", lambda: samples.bounce_with_attached(samples.qmail()), "", "bounce", (ORIG,), (BOB,),
     True),
    ("dsn", lambda: samples.dsn_of(samples.original_message()), "", "dsn", (ORIG,), (BOB,), True),
    ("dsn-headers-only", lambda: samples.dsn_of(samples.original_message(), True), "", "dsn", (ORIG,), (BOB,),
     True),
    ("dsn-of-forwarded-bounce", lambda: samples.dsn_of(samples.qmail()), "", "dsn", (ORIG,), (BOB,), True),
    ("mixed-line-ends", samples.mangled_crlf_qmail, "", "bounce", (ORIG,), (BOB,), True),
    ("amavis", samples.amavis_virus, "virusalert@mx.example.com", "virus", (ORIG,), (BOB,), True),
    ("mailscanner", samples.mailscanner_virus, "postmaster@example.com", "virus", (), (BOB,), True),
    ("tmda", samples.tmda_challenge, "bob-confirm-1234.abcdef@example.com", "challenge", (ORIG,),
     ("bob-confirm-1234.abcdef@example.com", BOB), True),
    ("generic-challenge", samples.generic_challenge, "bob@example.com", "challenge", (ORIG,), (BOB,), True),
    ("mailman-confirm", samples.mailman_confirm, "list-bounces@lists.example.org", "subscription", (), (),
     True),
    ("vacation-rfc3834", lambda: samples.vacation(headers="Auto-Submitted: auto-replied\n"), BOB, "autoreply",
     (ORIG,), (BOB,), True),
    ("vacation-x-autoreply", lambda: samples.vacation(headers="X-Autoreply: yes\n"), BOB, "autoreply",
     (ORIG,), (BOB,), True),
    ("vacation-precedence", lambda: samples.vacation(headers="Precedence: auto_reply\n"), BOB, "autoreply",
     (ORIG,), (BOB,), True),
    ("vacation-apple", lambda: samples.vacation(headers="X-Apple-Action: vacation\n"), BOB, "autoreply",
     (ORIG,), (BOB,), True),
    ("vacation-subject-only", lambda: samples.vacation("Abwesenheitsnotiz: Quarterly figures"), BOB,
     "autoreply", (ORIG,), (BOB,), False),
    ("arf", samples.arf, "fbl@isp.example.net", "arf", (ORIG,), (), True),
]


@pytest.mark.parametrize(("name", "build", "mail_from", "kind", "refs", "rcpts", "form"), CASES,
                         ids=[c[0] for c in CASES])
def test_family(name: str, build: Callable[[], bytes], mail_from: str, kind: str, refs: tuple[str, ...],
                rcpts: tuple[str, ...], form: bool) -> None:
    raw = build()
    headers, _ = split(raw)
    assert screen(mail_from, headers) is not None, "the header screen must make it a candidate"
    found = finding(raw, mail_from)
    assert (found.kind, found.references, found.form) == (kind, refs, form), found
    assert found.recipients_of_original == rcpts, found


def test_forwarded_bounce_gives_the_original_not_the_bounce() -> None:
    parsed = parse(samples.forwarded_bounce(), Envelope(mail_from="postmaster@example.net"))
    assert original_references(parsed) == [ORIG]


def test_virus_footer_is_not_a_virus_notice() -> None:
    raw = samples.ordinary_with_virus_footer()
    found = finding(raw, "carol@example.com")
    assert found.kind == "autoreply" and not found.form


def test_ordinary_mail_is_not_a_candidate() -> None:
    for subject in ("Re: out of office party", "Lunch?", "Flu virus season", "Your subscription renewal",
                    "Fwd: Undelivered Mail Returned to Sender"):
        headers = [("From", "Carol <carol@example.com>"), ("To", "alice@example.test"),
                   ("Subject", subject), ("Message-ID", "<x@example.com>")]
        assert screen("carol@example.com", headers) is None, subject


@pytest.mark.parametrize("subject", ["Out of Office: hi", "Automatic reply: hi", "Réponse automatique : hi",
                                     "Risposta automatica: hi", "Automatisch antwoord: hi", "自動応答: hi",
                                     "VIRUS (Eicar) IN MAIL FROM YOU", "Please confirm your message",
                                     "Confirm your subscription to list"])
def test_screen_catches_notices_with_ordinary_senders(subject: str) -> None:
    assert screen("someone@example.com", [("From", "someone@example.com"), ("Subject", subject)]) is not None


def notification(subject: str, body: str) -> bytes:
    return (f"From: Service <noreply@service.example>\r\nTo: alice@example.test\r\nSubject: {subject}\r\n"
            "Message-ID: <n-1@service.example>\r\nAuto-Submitted: auto-generated\r\n\r\n"
            f"{body}\r\n").encode()


def test_sign_up_confirmation_is_not_a_challenge() -> None:
    raw = notification("Please verify your email address",
                       "Thanks for signing up. Click the link below to confirm your address.")
    found = finding(raw, "noreply@service.example")
    assert found.kind == "autoreply" and not found.form


def test_parcel_service_is_not_a_bounce() -> None:
    raw = notification("Delivery notification: your parcel", "We were unable to deliver your parcel today.")
    found = finding(raw, "noreply@service.example")
    assert found.kind == "autoreply" and not found.form


def test_antivirus_console_alert_is_not_a_virus_notice() -> None:
    raw = notification("McAfee ePO alert: virus detected on host WS-17",
                       "Threat: W32/Netsky.p@MM\nAction: quarantined the infected file\nHost: WS-17")
    found = finding(raw, "noreply@service.example")
    assert found.kind != "virus" and not found.form


def test_a_persons_reply_about_a_subscription_is_not_a_candidate() -> None:
    headers = [("From", "Carol <carol@example.com>"), ("Subject", "Re: Please confirm your subscription"),
               ("List-Id", "<team.lists.example.com>"), ("In-Reply-To", "<x@example.com>")]
    assert screen("carol@example.com", headers) is None


def test_one_name_per_family_module_class_name_and_kind_agree() -> None:
    """``dsn.DsnDetector`` is named ``dsn`` and finds kind ``dsn`` (issue: one name per family)."""
    from ledger.check.detectors import DETECTORS

    for detector in DETECTORS:
        family = type(detector).__module__.rsplit(".", 1)[-1]
        assert detector.name == family, type(detector)
        assert type(detector).__name__.endswith(family.capitalize() + "Detector"), type(detector)


def test_every_corpus_finding_names_its_family_as_its_kind() -> None:
    """Over the corpus, a finding's detector (before any "/producer" or "+stream") is its kind."""
    import json
    from pathlib import Path

    seen: set[str] = set()
    for path in sorted((Path(__file__).parent / "corpus").rglob("*.eml")):
        sidecar = path.with_suffix(".json")
        meta = json.loads(sidecar.read_text()) if sidecar.is_file() else {}
        envelope = Envelope(mail_from=meta.get("mail_from", ""), recipients=list(meta.get("rcpt", [BOB])))
        found = examine(parse(path.read_bytes(), envelope))
        if found is None:
            continue
        family = found.detector.split("/", 1)[0].split("+", 1)[0]
        assert family == found.kind, (path, found.detector, found.kind)
        seen.add(family)
    assert {"dsn", "mdn", "arf", "virus", "challenge", "subscription", "bounce", "autoreply"} <= seen
