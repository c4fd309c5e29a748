"""References found in the textbook forms: RFC 3464, RFC 3834, RFC 8098 (no server)."""

from __future__ import annotations

from ledger.check import Envelope, examine, parse, screen
from tests import messages


def finding(raw: bytes, mail_from: str = ""):  # type: ignore[no-untyped-def]
    return examine(parse(raw, Envelope(mail_from=mail_from, recipients=["alice@example.test"])))


def test_dsn_with_returned_message() -> None:
    f = finding(messages.dsn(messages.original()))
    assert f is not None and f.kind == "dsn" and f.form
    assert f.references == ("orig-1@example.test",)


def test_dsn_with_headers_only_and_folded_id() -> None:
    folded = messages.original(message_id="\r\n\t<Orig-Folded@Example.TEST>")
    f = finding(messages.dsn(folded, headers_only=True))
    assert f is not None and f.references == ("orig-folded@example.test",)


def test_dsn_never_uses_own_id_or_originals_thread_ids() -> None:
    f = finding(messages.dsn(messages.original(message_id="")))
    assert f is not None and f.kind == "dsn" and f.references == ()


def test_autoreply_refers_to_in_reply_to() -> None:
    f = finding(messages.autoreply(), mail_from="bob@example.com")
    assert f is not None and f.kind == "autoreply" and f.references == ("orig-1@example.test",)


def test_mdn_original_message_id() -> None:
    f = finding(messages.mdn(), mail_from="")
    assert f is not None and f.kind == "mdn" and f.references == ("orig-1@example.test",)


def test_screen_passes_ordinary_mail_and_catches_markers() -> None:
    headers, _ = messages.split(messages.ordinary())
    assert screen("carol@example.com", headers) is None
    assert screen("", headers) is not None
    dsn_headers, _ = messages.split(messages.dsn(messages.original()))
    assert screen("postmaster@example.com", dsn_headers) is not None
    auto_headers, _ = messages.split(messages.autoreply())
    assert screen("bob@example.com", auto_headers) is not None
    notify = [("From", "noreply@example.com"), ("Auto-Submitted", "no")]
    assert screen("noreply@example.com", notify) is None
