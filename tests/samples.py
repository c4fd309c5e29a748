"""Backscatter samples per family, written from the formats' public descriptions.

Each builder returns raw bytes. The original is always ``orig-1@example.test``
sent by alice@example.test to bob@example.com; it replies to
``<earlier-thread@example.com>`` and mentions ``<not-a-reference@example.org>``
in its body, neither of which may ever come out as a reference.
"""

from __future__ import annotations

import base64
import quopri

ORIG_ID = "orig-1@example.test"
OWN_ID = "<bounce-own-77@mx.example.com>"
NOT_REFS = ("earlier-thread@example.com", "root-thread@example.com", "not-a-reference@example.org",
            "bounce-own-77@mx.example.com")

ORIGINAL_HEADERS = (
    "Return-Path: <alice@example.test>\n"
    "Received: from mail.example.test (mail.example.test [192.0.2.10])\n"
    "\tby mx.example.com (Postfix) with ESMTPS id 4AbC1;\n"
    "\tFri, 27 Nov 2026 09:00:01 +0000 (UTC)\n"
    "From: Alice <alice@example.test>\n"
    "To: bob@example.com\n"
    "Subject: Quarterly figures\n"
    "Date: Fri, 27 Nov 2026 09:00:00 +0000\n"
    "Message-ID:\n <Orig-1@Example.TEST>\n"
    "In-Reply-To: <earlier-thread@example.com>\n"
    "References: <root-thread@example.com> <earlier-thread@example.com>\n"
    "MIME-Version: 1.0\n"
    "Content-Type: text/plain; charset=us-ascii\n"
)
ORIGINAL_BODY = ("Hello Bob,\nsee <not-a-reference@example.org> in the body.\n"
                 "Message-ID: <not-a-reference@example.org>\n")


def _crlf(text: str) -> bytes:
    return text.replace("\r\n", "\n").replace("\n", "\r\n").encode("utf-8")


def _head(frm: str, subject: str, extra: str = "") -> str:
    return (f"From: {frm}\nTo: alice@example.test\nSubject: {subject}\n"
            f"Date: Fri, 27 Nov 2026 09:05:00 +0000\nMessage-ID: {OWN_ID}\n{extra}")


def indent(text: str, prefix: str) -> str:
    return "".join(prefix + line + "\n" for line in text.splitlines())


def qmail() -> bytes:
    return _crlf(_head("MAILER-DAEMON@mx.example.com", "failure notice") + "\n"
                 "Hi. This is the qmail-send program at mx.example.com.\n"
                 "I'm afraid I wasn't able to deliver your message to the following addresses.\n"
                 "This is a permanent error; I've given up. Sorry it didn't work out.\n\n"
                 "<bob@example.com>:\nSorry, no mailbox here by that name. (#5.1.1)\n\n"
                 "--- Below this line is a copy of the message.\n\n"
                 + ORIGINAL_HEADERS + "\n" + ORIGINAL_BODY)


def exim(old: bool = False) -> bytes:
    marker = ("------ This is a copy of the message's headers. ------" if old else
              "------ This is a copy of the message, including all the headers. ------")
    return _crlf(_head("Mail Delivery System <Mailer-Daemon@mx.example.com>",
                       "Mail delivery failed: returning message to sender",
                       "X-Failed-Recipients: bob@example.com\nAuto-Submitted: auto-replied\n") + "\n"
                 "This message was created automatically by mail delivery software.\n\n"
                 "A message that you sent could not be delivered to one or more of its\n"
                 "recipients. This is a permanent error. The following address(es) failed:\n\n"
                 "  bob@example.com\n"
                 "    SMTP error from remote mail server after RCPT TO:<bob@example.com>:\n"
                 "    host mx.example.com [192.0.2.25]: 550 5.1.1 User unknown\n\n"
                 + marker + "\n\n" + ORIGINAL_HEADERS + ("" if old else "\n" + ORIGINAL_BODY))


def sendmail_v5() -> bytes:
    return _crlf(_head("Mail Delivery Subsystem <MAILER-DAEMON@mx.example.com>",
                       "Returned mail: User unknown") + "\n"
                 "   ----- Transcript of session follows -----\n"
                 "550 bob@example.com... User unknown\n\n"
                 "   ----- Unsent message follows -----\n" + ORIGINAL_HEADERS + "\n" + ORIGINAL_BODY)


def sendmail_v5_no_reference() -> bytes:
    return _crlf(_head("Mail Delivery Subsystem <MAILER-DAEMON@mx.example.com>",
                       "Returned mail: User unknown") + "\n"
                 "   ----- Transcript of session follows -----\n"
                 "550 bob@example.com... User unknown\n")


def postfix_old() -> bytes:
    return _crlf(_head("MAILER-DAEMON@mx.example.com (Mail Delivery System)",
                       "Undelivered Mail Returned to Sender") + "\n"
                 "This is the Postfix program at host mx.example.com.\n\n"
                 "I'm sorry to have to inform you that your message could not\n"
                 "be delivered to one or more recipients.\n\n"
                 "\t\t\tThe Postfix program\n\n"
                 "<bob@example.com>: host mx.example.com said: 550 5.1.1 User unknown\n\n"
                 "--- Delivery report unavailable ---\n\n--- Undelivered message follows ---\n\n"
                 + ORIGINAL_HEADERS + "\n" + ORIGINAL_BODY)


def exchange_text(marker: str = "Original message headers:", quoting: str = "") -> bytes:
    return _crlf(_head("postmaster@example.com", "Undeliverable: Quarterly figures") + "\n"
                 "Delivery has failed to these recipients or groups:\n\n"
                 "Bob (bob@example.com)\nThe e-mail address you entered couldn't be found.\n\n"
                 "Diagnostic information for administrators:\n\nGenerating server: ex01.example.com\n\n"
                 "bob@example.com\n#550 5.1.1 RESOLVER.ADR.RecipNotFound; not found ##\n\n"
                 + marker + "\n\n" + indent(ORIGINAL_HEADERS, quoting))


def exchange_html(marker: str, double_escape: bool = False, b64: bool = True) -> bytes:
    headers = ORIGINAL_HEADERS.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    if double_escape:
        headers = headers.replace("&", "&amp;")
    html = ("<html><head><style>p {margin:0}</style></head><body>"
            "<p><b>Delivery has failed to these recipients or groups:</b></p>"
            "<p><a href=\"mailto:bob@example.com\">bob@example.com</a><br>"
            "The e-mail address you entered couldn't be found.</p>"
            f"<p>{marker}</p><p style=\"font-family:monospace\">"
            + headers.replace("\n", "<br>\n") + "</p></body></html>")
    encoded = (base64.encodebytes(html.encode("utf-8")).decode() if b64 else
               quopri.encodestring(html.encode("utf-8")).decode())
    cte = "base64" if b64 else "quoted-printable"
    return _crlf(_head("Microsoft Outlook <MicrosoftExchange329e71ec88ae4615bbc36ab6ce41109e@example.com>",
                       "Unzustellbar: Quarterly figures",
                       'MIME-Version: 1.0\nContent-Type: multipart/alternative; boundary="ALT"\n') + "\n"
                 "--ALT\nContent-Type: text/html; charset=utf-8\nContent-Transfer-Encoding: "
                 + cte + "\n\n" + encoded + "\n--ALT--\n")


def lotus_no_reference() -> bytes:
    return _crlf(_head("Postmaster@example.com", "DELIVERY FAILURE: User bob (bob@example.com) not listed in "
                       "Domino Directory") + "\n"
                 "Your message\n\n  Subject: Quarterly figures\n\nwas not delivered to:\n\n"
                 "  bob@example.com\n\nbecause:\n\n"
                 "  User bob (bob@example.com) not listed in Domino Directory\n")


def bounce_with_attached(inner: bytes, ctype: str = "message/rfc822") -> bytes:
    return _crlf(_head("MAILER-DAEMON@mx.example.com", "Returned mail: see transcript for details",
                       'MIME-Version: 1.0\nContent-Type: multipart/mixed; boundary="B1"\n') + "\n"
                 "--B1\nContent-Type: text/plain\n\nThe original message was received at Fri, 27 Nov 2026\n"
                 "   ----- The following addresses had permanent fatal errors -----\n<bob@example.com>\n\n"
                 f"--B1\nContent-Type: {ctype}\n\n") + inner + b"\r\n--B1--\r\n"


def original_message() -> bytes:
    return _crlf(ORIGINAL_HEADERS + "\n" + ORIGINAL_BODY)


def dsn_of(inner: bytes, headers_only: bool = False) -> bytes:
    part = "text/rfc822-headers" if headers_only else "message/rfc822"
    if headers_only:
        inner = inner.split(b"\r\n\r\n", 1)[0] + b"\r\n"
    return _crlf(_head("MAILER-DAEMON@relay.example.net", "Undelivered Mail Returned to Sender",
                       'MIME-Version: 1.0\nContent-Type: multipart/report; report-type=delivery-status;\n'
                       '\tboundary="R1"\n') + "\n"
                 "--R1\nContent-Type: text/plain\n\n<bob@example.com>: User unknown\n\n"
                 "--R1\nContent-Type: message/delivery-status\n\nReporting-MTA: dns; relay.example.net\n\n"
                 "Original-Recipient: rfc822; Bob@Example.com\nFinal-Recipient: rfc822; bob@example.com\n"
                 "Action: failed\nStatus: 5.1.1\n\n"
                 f"--R1\nContent-Type: {part}\n\n") + inner + b"\r\n--R1--\r\n"


def forwarded_bounce() -> bytes:
    """A person at example.net forwards a qmail bounce as an attachment."""
    return _crlf("From: Helpdesk <postmaster@example.net>\nTo: alice@example.test\n"
                 "Subject: Fwd: failure notice\nMessage-ID: <fwd-1@example.net>\n"
                 'MIME-Version: 1.0\nContent-Type: multipart/mixed; boundary="F"\n\n'
                 "--F\nContent-Type: text/plain\n\nFYI, this bounced.\n\n"
                 "--F\nContent-Type: message/rfc822\n\n") + qmail() + b"\r\n--F--\r\n"


def amavis_virus() -> bytes:
    return _crlf(_head("Content-filter at mx.example.com <virusalert@mx.example.com>",
                       "VIRUS (Eicar-Test-Signature) IN MAIL FROM YOU") + "\n"
                 "VIRUS ALERT\n\nOur content checker found\n    virus: Eicar-Test-Signature\n"
                 "in an email to you from probably faked sender:\n    <alice@example.test>\n"
                 "Our internal reference code for your message is 12345-01\n\n"
                 "First upstream SMTP client IP address: [198.51.100.7]\n\n"
                 "Recipient: bob@example.com\n\n"
                 "The message WAS NOT relayed to:\n<bob@example.com>:\n   554 5.7.0 Reject\n\n"
                 "The message header:\n" + ORIGINAL_HEADERS)


def mailscanner_virus() -> bytes:
    return _crlf(_head("MailScanner <postmaster@example.com>", "Warning: E-mail viruses detected") + "\n"
                 "Our virus detector has just been triggered by a message you sent:-\n"
                 "  To: bob@example.com\n  Subject: Quarterly figures\n  Date: Fri Nov 27 09:00:00 2026\n"
                 "Any infected parts of the message have not been delivered.\n")


def ordinary_with_virus_footer() -> bytes:
    return _crlf("From: Carol <carol@example.com>\nTo: alice@example.test\nSubject: Minutes\n"
                 "Message-ID: <minutes-3@example.com>\nAuto-Submitted: auto-generated\n\n"
                 "Minutes attached.\n--\nNo virus found in this message. Checked by AVG.\n")


def tmda_challenge() -> bytes:
    return _crlf("From: bob-confirm-1234.abcdef@example.com (Bob)\nTo: alice@example.test\n"
                 "Subject: Please confirm your message\nMessage-ID: <tmda-9@example.com>\n"
                 f"In-Reply-To: <{ORIG_ID}>\nX-Delivery-Agent: TMDA/1.1.12\nAuto-Submitted: auto-replied\n"
                 "Precedence: bulk\n\nThis message was created automatically by mail delivery software.\n"
                 "I'm protecting myself from unsolicited bulk e-mail. Your original message has been held.\n")


def generic_challenge() -> bytes:
    return _crlf("From: Bob <bob@example.com>\nTo: alice@example.test\n"
                 "Subject: Please confirm that you sent this message\nMessage-ID: <cr-5@example.com>\n\n"
                 "I use a challenge-response system. Please confirm you sent the message below by\n"
                 "replying to this message.\n\n> " + ORIGINAL_HEADERS.replace("\n", "\n> ") + "\n")


def mailman_confirm() -> bytes:
    return _crlf("From: list-request@lists.example.org\nTo: alice@example.test\n"
                 "Subject: confirm 0123456789abcdef0123456789abcdef01234567\n"
                 "Message-ID: <mm-1@lists.example.org>\nList-Id: <list.lists.example.org>\n"
                 "X-Mailman-Version: 2.1.29\nPrecedence: bulk\n\n"
                 "Mailing list subscription confirmation notice for mailing list List\n\n"
                 "We have received a request from 198.51.100.9 for subscription of your\n"
                 "email address, \"alice@example.test\", to the list@lists.example.org mailing list.\n"
                 "To confirm that you want to be added to this mailing list, simply reply to this message.\n"
                 "If you do not wish to be subscribed to this list, please simply disregard this message.\n")


def vacation(subject: str = "Out of Office: Quarterly figures", headers: str = "") -> bytes:
    return _crlf("From: Bob <bob@example.com>\nTo: alice@example.test\n"
                 f"Subject: {subject}\nMessage-ID: <oof-3@example.com>\n"
                 f"In-Reply-To: <{ORIG_ID}>\n{headers}\nI am out of the office until Monday.\n")


def arf() -> bytes:
    return _crlf("From: fbl@isp.example.net\nTo: abuse@example.test\nSubject: Abuse report\n"
                 "Message-ID: <arf-1@isp.example.net>\nMIME-Version: 1.0\n"
                 'Content-Type: multipart/report; report-type=feedback-report; boundary="A"\n\n'
                 "--A\nContent-Type: text/plain\n\nThis is an email abuse report.\n\n"
                 "--A\nContent-Type: message/feedback-report\n\nFeedback-Type: abuse\nVersion: 1\n\n"
                 "--A\nContent-Type: message/rfc822\n\n") + original_message() + b"\r\n--A--\r\n"


def oracle() -> bytes:
    return _crlf(_head("Internet Mail Delivery <postmaster@mail.example.com>", "Delivery Notification: "
                       "Delivery has failed") + "\n"
                 "This report relates to a message you sent with the following header fields:\n\n"
                 f"  Message-id: <{ORIG_ID}>\n  Date: Fri, 27 Nov 2026 09:00:00 +0000\n"
                 "  From: Alice <alice@example.test>\n  To: bob@example.com\n  Subject: Quarterly figures\n\n"
                 "Your message cannot be delivered to the following recipients:\n\n"
                 "  Recipient address: bob@example.com\n  Reason: Remote SMTP server has rejected address\n")


def gmail() -> bytes:
    return _crlf(_head("Mail Delivery Subsystem <mailer-daemon@googlemail.com>", "Delivery Status "
                       "Notification (Failure)") + "\n"
                 "Delivery to the following recipient failed permanently:\n\n     bob@example.com\n\n"
                 "Technical details of permanent failure:\nThe email account that you tried to reach "
                 "does not exist.\n\n----- Original message -----\n\n"
                 + ORIGINAL_HEADERS.replace("Return-Path: <alice@example.test>\n", "") + "\n" + ORIGINAL_BODY)


def mangled_crlf_qmail() -> bytes:
    """qmail bounce with LF-only headers in a CRLF message and a folded quoted ID."""
    raw = qmail()
    head, _, body = raw.partition(b"\r\n\r\n")
    return head + b"\r\n\r\n" + body.replace(b"\r\n", b"\n", 20)
