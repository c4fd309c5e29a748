"""Bounces where real software puts the original in awkward places (issue 8, section 2).

Written from the formats' public descriptions (RFC 2045/2046 for the MIME
damage, RFC 3464 and RFC 8098 for the reports, RFC 3834 for autoreplies, the
documented Exchange Online header ``X-Microsoft-Original-Message-ID``, the
list managers' notice templates as they are published). Each family has
forged twins (the same shape about an ID we never sent) through the case
modes, so a lenient reading can be seen not to let a forgery in.

The classes, by the number of the brief's list:

1. the original was sent from a daemon-like address of ours (its returned
   header block is the original, not a nested bounce);
2. returned headers with unindented continuation lines (Office 365);
3. the original in ``message/partial``, behind leading empty lines, or in a
   ``message/rfc822`` part with a content-transfer-encoding;
4. a boundary used differently from the one declared;
5. the original's header fields written as the returned part's own headers;
6. a Message-ID without ``@``;
7. a bounce of our own non-null intermediate message (an MDN, an autoreply);
8. a bounce whose only reference is its own ``In-Reply-To``/``References``;
9. a Message-ID rewritten by Office 365 as a smarthost;
10. bounces the header screen used to miss (localised subjects, daemon
    spellings, list-manager notices).
"""

from __future__ import annotations

import base64
import quopri
from functools import partial

from tests.corpus.generate import common as c
from tests.corpus.generate.cases import Builder, Built, Case, Format, failure_reason, head

DESC = "written from public description: "
TWINS = ("normal", "normal", "forged")


def _sender(case: Case, display: str, local: str) -> None:
    """Make the original (and the recorded one) come from ``local@`` of our domain."""
    address = f"{local}@{c.SITE}"
    for original in {id(o): o for o in (case.original, case.recorded) if o is not None}.values():
        original.display, original.sender = display, address
    if case.mode != "cross":
        case.rcpt = address


def _status(case: Case, addr: str) -> str:
    status, diag = failure_reason(case.rng, addr)
    return (
        f"Reporting-MTA: dns; {case.host}\n\nFinal-Recipient: rfc822; {addr}\nAction: failed\n"
        f"Status: {status}\nRemote-MTA: dns; {case.host}\nDiagnostic-Code: smtp; {diag}\n"
    )


def _dsn(case: Case, returned: list[str], *, subject: str = "Undelivered Mail Returned to Sender",
         extra: list[str] | None = None, bnd: str | None = None, declared: str | None = None,
         body: str | None = None) -> Built:
    """An RFC 3464 report with the given returned part(s); ``declared`` names another boundary."""
    rng, o = case.rng, case.original
    own = c.world_msgid(rng, case.host, case.dt)
    bnd = bnd or c.boundary(rng, 0)
    addr = o.recipients[0]
    parts = [
        c.part("text/plain", f"This is the mail system at host {case.host}.\n\nI'm sorry to have to inform "
               "you that your message could not\nbe delivered to one or more recipients.\n\n"
               f"<{addr}>: host {case.host} said: 550 5.1.1 User unknown\n"),
        c.part("message/delivery-status", _status(case, addr), charset=None),
        *returned,
    ]
    ctype = (f"Content-Type: multipart/report; report-type=delivery-status;\n\t"
             f'boundary="{declared or bnd}"')
    hdr = head(case, frm=f"MAILER-DAEMON@{case.host} (Mail Delivery System)", subject=subject, own_id=own,
               ctype=ctype, extra=extra)
    text = body if body is not None else c.multipart(bnd, parts)
    return Built(hdr + "\n" + text, own, rcpts_stated=[addr])


# -- 1. the original came from a daemon-like address of ours ----------------------------------

DAEMONISH = [("Postmaster", "postmaster"), ("Mailer", "mailer"), ("Bounce handling", "bounces"),
             ("Mail Admin", "mailadmin")]
PLAIN_SUBJECTS = ["Mailbox quota at 90 %", "Monthly statement", "Your password expires soon",
                  "Newsletter November"]


def daemon_sender(case: Case, style: str) -> Built:
    """qmail or Exim quoting an original that one of our automated addresses sent."""
    rng = case.rng
    _sender(case, *DAEMONISH[case.index % len(DAEMONISH)])
    case.original.subject = PLAIN_SUBJECTS[case.index % len(PLAIN_SUBJECTS)]
    if case.mode == "forged" and case.recorded is not None:
        case.recorded.subject = case.original.subject
    o = case.original
    addr = o.recipients[0]
    copy = f"Return-Path: <{o.sender}>\n" + o.headers() + "\n" + o.encoded_body()
    if style == "qmail":
        hdr = head(case, frm=f"MAILER-DAEMON@{case.host}", subject="failure notice", own_id=None,
                   ctype="", mime=False)
        body = (f"Hi. This is the qmail-send program at {case.host}.\nI'm afraid I wasn't able to deliver "
                "your message to the following addresses.\nThis is a permanent error; I've given up. Sorry "
                f"it didn't work out.\n\n<{addr}>:\nSorry, no mailbox here by that name. (#5.1.1)\n\n"
                "--- Below this line is a copy of the message.\n\n" + copy)
        return Built(hdr + "\n" + body, None, rcpts_stated=[addr])
    own = c.world_msgid(rng, case.host, case.dt)
    hdr = head(case, frm=f"Mail Delivery System <Mailer-Daemon@{case.host}>",
               subject="Mail delivery failed: returning message to sender", own_id=own,
               ctype="Content-Type: text/plain; charset=utf-8", extra=["Auto-Submitted: auto-replied"])
    body = ("This message was created automatically by mail delivery software.\n\nA message that you sent "
            "could not be delivered to one or more of its\nrecipients. This is a permanent error. The "
            f"following address(es) failed:\n\n  {addr}\n    host {case.host} [{c.ip(rng)}]\n    SMTP error "
            "from remote mail server after RCPT TO:<" + addr + ">:\n    550 5.1.1 User unknown\n\n"
            "------ This is a copy of the message, including all the headers. ------\n\n" + copy)
    return Built(hdr + "\n" + body, own, rcpts_stated=[addr])


# -- 2. unindented continuation lines (Office 365 / Exchange) -------------------------------------

def _broken_headers(case: Case) -> str:
    """The original's header section as Office 365 returns it: continuations not indented."""
    rng, o = case.rng, case.original
    received = (f"Received: from AM0PR{rng.randrange(10, 99)}MB{rng.randrange(1000, 9999)}.eurprd04.prod."
                f"outlook.com\n({c.ip(rng)}) by DB8PR{rng.randrange(10, 99)}MB{rng.randrange(1000, 9999)}."
                f"eurprd04.prod.outlook.com with Microsoft SMTP Server\nid 15.20.8158.12; "
                f"{o.date.strftime('%a, %d %b %Y %H:%M:%S')} +0000")
    return (
        f"{received}\nMessage-ID: {o.message_id}\nX-MS-Exchange-Organization-SCL: 1\n"
        "X-Microsoft-Antispam-Message-Info:\n"
        f"{c.token(rng, 60, 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/')}\n"
        f"{c.token(rng, 40, 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/')}==\n"
        f"Date: {c.rfc_date(o.date, 1)}\nFrom: {o.from_header}\nTo: {o.recipients[0]}\n"
        f"Subject: {c.encoded_word(o.subject)}\nMIME-Version: 1.0\nContent-Type: text/plain; charset=utf-8\n"
    )


def unindented(case: Case, how: str) -> Built:
    o = case.original
    headers = _broken_headers(case)
    if how == "headers":
        return _dsn(case, [c.part("text/rfc822-headers", headers, charset=None)],
                    subject=f"Undeliverable: {o.subject}")
    if how == "rfc822":
        return _dsn(case, [c.rfc822_part(headers + "\n" + o.encoded_body())],
                    subject=f"Undeliverable: {o.subject}")
    addr = o.recipients[0]
    own = c.world_msgid(case.rng, case.host, case.dt)
    text = (f"Delivery has failed to these recipients or groups:\n\n{addr}\nThe email address you entered "
            "couldn't be found.\n\nDiagnostic information for administrators:\n\nGenerating server: "
            f"{case.host}\n\n{addr}\nRemote Server returned '550 5.1.10 RESOLVER.ADR.RecipientNotFound'\n\n"
            "Original message headers:\n\n" + headers)
    hdr = head(case, frm=f"Microsoft Outlook <postmaster@{case.host.split('.', 1)[1]}>",
               subject=f"Undeliverable: {o.subject}", own_id=own,
               ctype="Content-Type: text/plain; charset=utf-8", extra=["X-MS-Exchange-Message-Is-Ndr:"])
    return Built(hdr + "\n" + text, own, rcpts_stated=[addr])


# -- 3. message/partial, leading empty lines, an encoded message/rfc822 ---------------------------

def odd_container(case: Case, how: str) -> Built:
    o = case.original
    if how == "qp":  # a long webmail ID with "=" in it: quoted-printable escapes it and breaks the line
        o.message_id = f"<CA{c.token(case.rng, 58)}={c.token(case.rng, 6)}@mail.{c.SITE}>"
    full = o.full()
    if how == "partial":
        part = (f'Content-Type: message/partial; id="{c.token(case.rng, 12)}@{case.host}"; number=1; '
                f"total=2\n\n" + full[: len(full) * 2 // 3].rstrip("\n") + "\n")
    elif how == "blank":
        part = "Content-Type: message/rfc822\n\n\n\n" + full
    elif how == "base64":
        part = ("Content-Type: message/rfc822\nContent-Transfer-Encoding: base64\n\n"
                + c.b64_body(full.encode()))
    else:
        part = ("Content-Type: message/rfc822\nContent-Transfer-Encoding: quoted-printable\n\n"
                + quopri.encodestring(full.encode()).decode())
    return _dsn(case, [part])


# -- 4. a boundary used differently from the one declared ----------------------------------------

def boundary_damage(case: Case, how: str) -> Built:
    rng, o = case.rng, case.original
    returned = "Content-Type: text/rfc822-headers\n\n" + o.headers()
    if how == "other":
        return _dsn(case, [returned], bnd=c.boundary(rng, 1), declared=c.boundary(rng, 3))
    addr = o.recipients[0]
    if how == "hidden":  # the bounce's own Content-Type continued unindented: its boundary lands in the body
        built = _dsn(case, [returned], bnd=c.boundary(rng, 0))
        return Built(built.raw.replace(";\n\tboundary=", ";\nboundary=", 1), built.own_id,
                     rcpts_stated=built.rcpts_stated)
    if how == "none":
        body = (f"This is the mail system at host {case.host}.\n\nYour message could not be delivered.\n\n"
                "Content-Type: message/delivery-status\n\n" + _status(case, addr)
                + "\nContent-Type: text/rfc822-headers\n\n" + o.headers() + "\n")
        return _dsn(case, [], body=body)
    # the boundary parameter run into the next header's text (a lost line end)
    bnd = "=_" + c.token(rng, 14)
    built = _dsn(case, [returned], bnd=bnd)
    damaged = built.raw.replace(f'boundary="{bnd}"', f"boundary={bnd}X-Mailer: NDR gateway 2.1", 1)
    return Built(damaged, built.own_id, rcpts_stated=built.rcpts_stated)


# -- 5. the original's header fields as the part's own headers ------------------------------------

def headers_in_part(case: Case, ctype: str) -> Built:
    o = case.original
    fields = o.headers(received=False).replace("Content-Type:", "X-Original-Content-Type:")
    fields = fields.replace("Content-Transfer-Encoding:", "X-Original-Content-Transfer-Encoding:")
    fields = fields.replace("MIME-Version: 1.0\n", "")
    part = f"Content-Type: {ctype}\nContent-Description: Returned message\n{fields}\n"
    if ctype == "message/rfc822":
        part += o.encoded_body()
    return _dsn(case, [part])


# -- 6. a Message-ID without "@" -----------------------------------------------------------------

def no_at(case: Case, how: str) -> Built:
    stamp = case.original.date.strftime("%Y%m%d%H%M%S") + str(case.rng.randrange(10, 99))
    if case.mode == "forged":
        stamp = str(case.rng.randrange(10**15, 10**16))
    case.original.message_id = stamp
    if case.mode == "cross" and case.recorded is not None:
        case.recorded.message_id = stamp
    o = case.original
    if how == "headers":
        return _dsn(case, [c.part("text/rfc822-headers", o.headers(), charset=None)])
    return _dsn(case, [c.rfc822_part(o.full())])


# -- 7. a bounce of our own non-null intermediate message -----------------------------------------

def bounce_of_ours(case: Case, what: str) -> Built:
    """A DSN returning an MDN or an autoreply that our user's software sent (and we recorded)."""
    rng, o = case.rng, case.original
    theirs = c.world_msgid(rng, o.recipients[0].split("@")[1], case.dt)
    own_id = c.our_msgid(rng, o.date) if case.mode != "forged" else c.spammer_msgid(rng)
    o.message_id = own_id
    if what == "mdn":
        inner_bnd = c.boundary(rng, 3)
        inner = (
            f"Return-Path: <{o.sender}>\nMessage-ID: {own_id}\nDate: {c.rfc_date(o.date, 1)}\n"
            f"From: {o.from_header}\nTo: {o.recipients[0]}\nSubject: Read: {c.encoded_word(o.subject)}\n"
            f"User-Agent: {o.user_agent}\nMIME-Version: 1.0\nContent-Type: multipart/report; "
            f'report-type=disposition-notification; boundary="{inner_bnd}"\n\n'
            + c.multipart(inner_bnd, [
                c.part("text/plain", "This is a Return Receipt for the mail that you sent.\n"),
                c.part("message/disposition-notification",
                       f"Reporting-UA: mail.{c.SITE}; {o.user_agent}\nFinal-Recipient: rfc822;{o.sender}\n"
                       f"Original-Message-ID: {theirs}\nDisposition: manual-action/MDN-sent-manually; "
                       "displayed\n", charset=None),
            ], preamble="")
        )
    else:
        inner = (
            f"Return-Path: <{o.sender}>\nMessage-ID: {own_id}\nDate: {c.rfc_date(o.date, 1)}\n"
            f"From: {o.from_header}\nTo: {o.recipients[0]}\n"
            f"Subject: Out of office: {c.encoded_word(o.subject)}\n"
            f"In-Reply-To: {theirs}\nAuto-Submitted: auto-replied\nMIME-Version: 1.0\n"
            "Content-Type: text/plain; charset=utf-8\n\nI am away until Monday and will answer then.\n"
        )
    built = _dsn(case, [c.rfc822_part(inner)])
    built.extra_must_not = [c.norm(theirs)]
    return built


# -- 8. the bounce's own In-Reply-To / References is the only reference ---------------------------

def reply_only(case: Case, how: str) -> Built:
    rng, o = case.rng, case.original
    addr = o.recipients[0]
    thread = [c.world_msgid(rng, "lists.example.org", case.dt)]
    extra = [f"In-Reply-To: {o.message_id}", c.fold("References", " ".join([*thread, o.message_id]))]
    if how == "dsn":
        built = _dsn(case, [], extra=extra)
        built.extra_must_not = [c.norm(thread[0])]
        return built
    own = c.world_msgid(rng, case.host, case.dt)
    hdr = head(case, frm=f"Gateway <gw-notify@{case.host}>", subject=f"Message status: {o.subject}",
               own_id=own, ctype="Content-Type: text/plain; charset=utf-8", extra=extra)
    body = (f"Your message to {addr} was refused by the destination system.\n\nThis notice was "
            "generated by the gateway; please do not reply.\n")
    return Built(hdr + "\n" + body, own, rcpts_stated=[addr], extra_must_not=[c.norm(thread[0])], form=False)


# -- 9. a Message-ID rewritten by Office 365 as a smarthost ---------------------------------------

def o365_rewritten(case: Case, how: str) -> Built:
    rng, o = case.rng, case.original
    rewritten = (f"<AM0PR{rng.randrange(10, 99)}MB{rng.randrange(1000, 9999)}{c.hexs(rng, 12)}@"
                 f"AM0PR{rng.randrange(10, 99)}MB{rng.randrange(1000, 9999)}.eurprd04.prod.outlook.com>")
    block = o.headers(received=False).replace(f"Message-ID: {o.message_id}",
                                              f"Message-ID: {rewritten}\n"
                                              f"X-Microsoft-Original-Message-ID: {o.message_id}")
    if how == "headers":
        return _dsn(case, [c.part("text/rfc822-headers", block, charset=None)],
                    subject=f"Undeliverable: {o.subject}")
    return _dsn(case, [c.rfc822_part(block + "\n" + o.encoded_body())],
                subject=f"Undeliverable: {o.subject}")


# -- 10. bounces the header screen used to miss ---------------------------------------------------

# Localised NDR subjects ("Undeliverable" / "delivery failure") and the notice's first line.
LOCALISED = {
    "ja": ("配信不能: ", "このメールは配信できませんでした。宛先のサーバーからの応答:", "iso-2022-jp"),
    "zh": ("无法投递: ", "很抱歉，您的邮件无法投递到以下收件人。远程服务器的回应:", "gb2312"),
    "ko": ("배달되지 않음: ", "메일을 다음 수신자에게 배달하지 못했습니다. 원격 서버 응답:", "euc-kr"),
    "ru": ("Недоставленное сообщение: ", "Ваше сообщение не может быть доставлено. Ответ сервера:", "koi8-r"),
    "de": ("Unzustellbar: ", "Ihre Nachricht konnte nicht zugestellt werden. Antwort des Servers:",
           "iso-8859-1"),
    "pl": ("Niedostarczalne: ", "Nie można dostarczyć wiadomości. Odpowiedź serwera:", "iso-8859-2"),
    "fr": ("Non remis : ", "Votre message n'a pas pu être remis. Réponse du serveur :", "iso-8859-1"),
    "it": ("Non recapitabile: ", "Impossibile recapitare il messaggio. Risposta del server:", "iso-8859-1"),
    "es": ("No se puede entregar: ", "No se pudo entregar su mensaje. Respuesta del servidor:", "iso-8859-1"),
    "pt": ("Não entregue: ", "Não foi possível entregar a sua mensagem. Resposta do servidor:", "iso-8859-1"),
}
SPELLINGS = [
    ("Mail Delivery Subsystem", "post_master"),
    ("Mail Delivery Subsystem", "mailer_daemon"),
    ("Mail Delivery Service", "mail-delivery-subsystem"),
    ("Mail Delivery Sub-system", "MAILER.DAEMON"),
]


def _encoded(text: str, charset: str) -> str:
    raw = text.encode(charset)
    return f"=?{charset}?B?{base64.b64encode(raw).decode()}?="


def localised(case: Case, lang: str) -> Built:
    """A text bounce with a localised, RFC 2047-encoded subject, sent with a non-null envelope."""
    rng, o = case.rng, case.original
    prefix, intro, charset = LOCALISED[lang]
    addr = o.recipients[0]
    status, diag = failure_reason(rng, addr)
    own = c.world_msgid(rng, case.host, case.dt)
    sender = f"postmaster@{case.host}"
    try:
        subject = _encoded(prefix + o.subject, charset)
    except UnicodeEncodeError:  # the original's subject is in a script the charset lacks
        subject = _encoded(prefix.strip(), charset)
    hdr = head(case, frm=f"Mail Delivery Subsystem <{sender}>", subject="", own_id=own,
               ctype="Content-Type: text/plain; charset=utf-8")
    hdr = hdr.replace("Subject: \n", f"Subject: {subject}\n")
    body = f"{intro}\n\n<{addr}>: {diag}\n\n"
    if case.quoting:
        body += "   ----- Original message headers follow -----\n\n" + o.headers()
    del status
    return Built(hdr + "\n" + body, own, mail_from=sender, has_ref=case.quoting, rcpts_stated=[addr])


def spelling(case: Case) -> Built:
    """An English bounce from a daemon spelt unusually, with a non-null envelope sender."""
    rng, o = case.rng, case.original
    display, local = SPELLINGS[case.index % len(SPELLINGS)]
    addr = o.recipients[0]
    own = c.world_msgid(rng, case.host, case.dt)
    sender = f"{local}@{case.host}"
    hdr = head(case, frm=f"{display} <{sender}>", subject=f"Undeliverable mail: {o.subject}", own_id=own,
               ctype="Content-Type: text/plain; charset=utf-8")
    body = (f"This is the mail system at host {case.host}.\n\nI'm sorry to have to inform you that your "
            f"message could not\nbe delivered to one or more recipients.\n\n"
            f"<{addr}>: 550 5.1.1 User unknown\n\n")
    if case.quoting:
        body += "--- Undelivered message follows ---\n\n" + o.headers()
    return Built(hdr + "\n" + body, own, mail_from=sender, has_ref=case.quoting, rcpts_stated=[addr])


def list_notice(case: Case, manager: str) -> Built:
    """A list manager's notice about a post, in its published wording, quoting the post's headers."""
    rng, o = case.rng, case.original
    lst = o.recipients[0]
    local, dom = lst.split("@")
    own = c.world_msgid(rng, dom, case.dt)
    headers = o.headers(received=False)
    if manager == "mailman3":
        frm, subject = f"{local}-owner@{dom}", f'Request to mailing list "{local.capitalize()}" rejected'
        extra = [f"List-Id: <{local}.{dom}>", "X-Mailman-Version: 3.3.9"]
        body = (f"Your request to the {lst} mailing list\n\n    Posting of your message titled "
                f'"{o.subject}"\n\nhas been rejected by the list moderator.  The moderator gave the '
                "following\nreason for rejecting your request:\n\n"
                "\"Non-members are not allowed to post.\"\n\n"
                "Any questions or comments should be directed to the list administrator\nat:\n\n"
                f"    {local}-owner@{dom}\n\nThe original message headers:\n\n" + headers)
    elif manager == "sympa":
        frm, subject = f"sympa@{dom}", f"Message rejected for list {local}"
        extra = ["X-Loop: sympa@" + dom, "X-Sympa-Version: 6.2.72"]
        body = (f"Your message for list '{local}' (attached below) was rejected.\n"
                "You are not allowed to send "
                f"this message for the following reason:\n\n  You are not a subscriber of list {local}.\n\n"
                "For further information, please contact "
                f"{local}-request@{dom}\n\n----- Original message headers follow -----\n\n" + headers)
    elif manager == "googlegroups":
        frm = f"{local}+owners@{dom}"
        subject = f"Your message to {local} has been rejected"
        extra = [f"List-ID: <{local}.{dom}>", "X-Google-Group-Id: " + str(rng.randrange(10**11, 10**12))]
        body = (f"Your message to the group {local} was rejected: you do not have permission to post "
                f"to this group.\nThe group's owners can be reached at {local}+owners@{dom}.\n\n"
                "----- Original message headers follow -----\n\n" + headers)
    else:  # fml 8
        frm, subject = f"{local}-admin@{dom}", f"fml: rejected post, not member of {local}"
        extra = ["X-ML-Server: fml [fml 8.0]", f"X-ML-Name: {local}"]
        body = (f"Your post to the {local} mailing list was rejected (not member).\n\n"
                + headers.replace("\n", "\n> ").join(["> ", ""]).rstrip("> ") + "\n")
    hdr = head(case, frm=frm, subject=subject, own_id=own, ctype="Content-Type: text/plain; charset=utf-8",
               extra=extra, received_from="mail." + dom)
    return Built(hdr + "\n" + body, own, mail_from=frm, rcpts_stated=[lst] if manager != "fml" else [])


def _fmt(name: str, kind: str, what: str, build: Builder, count: int = 3,
         modes: tuple[str, ...] = TWINS, list_target: str = "") -> Format:
    return Format(name, kind, DESC + what, build, count, modes=modes, list_target=list_target)


FORMATS = [
    _fmt("daemon-sender-qmail", "bounce", "qmail bounce quoting mail from our postmaster@/mailer@",
         partial(daemon_sender, style="qmail"), 4, modes=("normal", "normal", "forged", "normal")),
    _fmt("daemon-sender-exim", "bounce", "Exim bounce quoting mail from our automated addresses",
         partial(daemon_sender, style="exim"), 3, modes=TWINS),
    _fmt("o365-unindented-headers", "dsn", "Office 365 NDR, returned headers with unindented continuations",
         partial(unindented, how="headers"), 3, modes=TWINS),
    _fmt("o365-unindented-rfc822", "dsn", "Office 365 NDR, returned message with unindented continuations",
         partial(unindented, how="rfc822"), 3, modes=TWINS),
    _fmt("o365-unindented-text", "bounce", "Exchange text NDR, 'Original message headers' unindented",
         partial(unindented, how="text"), 3, modes=TWINS),
    _fmt("dsn-message-partial", "dsn", "RFC 2046 message/partial (number=1) returning the original",
         partial(odd_container, how="partial"), 3, modes=TWINS),
    _fmt("dsn-rfc822-leading-blank", "dsn", "message/rfc822 part starting with empty lines",
         partial(odd_container, how="blank"), 3, modes=TWINS),
    _fmt("dsn-rfc822-base64", "dsn", "message/rfc822 part sent base64-encoded",
         partial(odd_container, how="base64"), 3, modes=TWINS),
    _fmt("dsn-rfc822-qp", "dsn", "message/rfc822 part sent quoted-printable",
         partial(odd_container, how="qp"), 3, modes=TWINS),
    _fmt("dsn-boundary-other", "dsn", "RFC 2046 multipart using another delimiter than declared",
         partial(boundary_damage, how="other"), 3, modes=TWINS),
    _fmt("dsn-boundary-none", "dsn", "multipart/report without any delimiter line",
         partial(boundary_damage, how="none"), 3, modes=TWINS),
    _fmt("dsn-boundary-hidden", "dsn",
         "the report's Content-Type continued unindented (boundary in the body)",
         partial(boundary_damage, how="hidden"), 3, modes=TWINS),
    _fmt("dsn-boundary-glued", "dsn", "boundary parameter run into the next header's text",
         partial(boundary_damage, how="glued"), 3, modes=TWINS),
    _fmt("gateway-headers-in-part", "dsn", "gateway writing the returned headers as the part's own headers",
         partial(headers_in_part, ctype="message/rfc822"), 3, modes=TWINS),
    _fmt("gateway-headers-in-part-hdrs", "dsn", "the same in a text/rfc822-headers part",
         partial(headers_in_part, ctype="text/rfc822-headers"), 3, modes=TWINS),
    _fmt("dsn-msgid-no-at", "dsn", "RFC 3464 DSN returning headers with a Message-ID without '@'",
         partial(no_at, how="headers"), 3, modes=TWINS),
    _fmt("dsn-msgid-no-at-rfc822", "dsn", "RFC 3464 DSN returning a message whose Message-ID has no '@'",
         partial(no_at, how="rfc822"), 3, modes=TWINS),
    _fmt("bounce-of-our-mdn", "dsn", "DSN returning an RFC 8098 MDN our user's client sent",
         partial(bounce_of_ours, what="mdn"), 3, modes=TWINS),
    _fmt("bounce-of-our-autoreply", "dsn", "DSN returning an RFC 3834 autoreply our user sent",
         partial(bounce_of_ours, what="autoreply"), 3, modes=TWINS),
    _fmt("dsn-in-reply-to-only", "dsn", "DSN without returned part, naming the original in In-Reply-To",
         partial(reply_only, how="dsn"), 3, modes=TWINS),
    _fmt("gateway-in-reply-to-only", "bounce",
         "null-sender gateway notice naming the original in In-Reply-To",
         partial(reply_only, how="gateway"), 3, modes=TWINS),
    _fmt("o365-smarthost-headers", "dsn", "returned headers with X-Microsoft-Original-Message-ID",
         partial(o365_rewritten, how="headers"), 3, modes=TWINS),
    _fmt("o365-smarthost-rfc822", "dsn", "returned message with X-Microsoft-Original-Message-ID",
         partial(o365_rewritten, how="rfc822"), 3, modes=TWINS),
    *[_fmt(f"localised-subject-{lang}", "bounce",
           f"text bounce with a {lang} RFC 2047 subject, non-null sender",
           partial(localised, lang=lang), 2, modes=("normal", "forged")) for lang in LOCALISED],
    _fmt("daemon-spellings", "bounce", "bounces from post_master@, mailer_daemon@ and other spellings",
         spelling, 4, modes=("normal", "forged", "normal", "noref")),
    *[_fmt(f"list-notice-{m}", "bounce", f"{m} notice about a post", partial(list_notice, manager=m), 2,
           modes=("normal", "forged"), list_target="post")
      for m in ("mailman3", "sympa", "googlegroups", "fml8")],
]
