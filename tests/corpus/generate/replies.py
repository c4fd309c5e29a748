"""Automatic replies, read receipts and feedback reports, plus the nested traps
(a bounce of a bounce, a bounce forwarded inside another notice).

Autoreplies follow RFC 3834 and the headers of the common programs (Sieve
vacation, Exchange OOF, cPanel/Exim autoresponder, Postfixadmin vacation,
iCloud); MDNs RFC 8098; ARF RFC 5965.
"""

from __future__ import annotations

from functools import partial

from tests.corpus.generate import common as c
from tests.corpus.generate.cases import Built, Case, Format, head, quote_block

DESC = "written from public description: "

OOO_SUBJECTS = {
    "en": "Out of Office",
    "de": "Abwesenheitsnotiz",
    "fr": "Réponse automatique : absent du bureau",
    "es": "Respuesta automática",
    "it": "Risposta automatica",
    "pt": "Resposta automática",
    "nl": "Automatisch antwoord",
    "sv": "Automatiskt svar",
    "ja": "自動応答: 不在",
}
OOO_TEXT = {
    "en": "I am out of the office until Monday with limited access to email.",
    "de": "Ich bin bis einschließlich Montag nicht im Büro und lese meine E-Mails nur unregelmäßig.",
    "fr": "Je suis absent du bureau jusqu'à lundi et je n'ai qu'un accès limité à mes e-mails.",
    "es": "Estoy fuera de la oficina hasta el lunes con acceso limitado al correo.",
    "it": "Sono fuori ufficio fino a lunedì con accesso limitato alla posta.",
    "pt": "Estou ausente do escritório até segunda-feira, com acesso limitado ao e-mail.",
    "nl": "Ik ben tot en met maandag afwezig en lees mijn e-mail beperkt.",
    "sv": "Jag är tjänstledig till måndag och läser e-post sporadiskt.",
    "ja": "月曜日まで不在にしております。メールの確認が遅れます。",
}


def autoreply(case: Case, flavour: str) -> Built:
    """An autoreply from the original's recipient, sent to the original's From."""
    rng, o = case.rng, case.original
    addr = o.recipients[0]
    name = o.recipient_names[0] or addr.split("@")[0]
    lang = rng.choice(list(OOO_SUBJECTS))
    own = c.world_msgid(rng, addr.split("@")[1], case.dt)
    refs_header = [*o.references, o.message_id] if o.references else [o.message_id]
    threading = [f"In-Reply-To: {o.message_id}", c.fold("References", " ".join(refs_header))]
    if not case.quoting:
        threading = []
    subject = f"{OOO_SUBJECTS[lang]}: {o.subject}"
    mail_from, form = addr, True
    extra = list(threading)
    if flavour == "rfc3834":
        extra += ["Auto-Submitted: auto-replied (vacation)"]
        mail_from = rng.choice(["", addr])
    elif flavour == "exchange-oof":
        subject = {"en": "Automatic reply", "de": "Automatische Antwort", "fr": "Réponse automatique"}.get(
            lang, "Automatic reply"
        ) + f": {o.subject}"
        extra += [
            "Auto-Submitted: auto-replied",
            "X-Auto-Response-Suppress: All",
            "X-MS-Exchange-Inbox-Rules-Loop: " + addr,
            f"Thread-Topic: {c.encoded_word(o.subject)}",
        ]
        mail_from = ""
    elif flavour == "x-autoreply":
        extra += ["X-Autoreply: yes", "X-Loop: Postfix Admin Virtual Vacation", "Precedence: junk"]
    elif flavour == "x-autorespond":
        extra += [
            f"X-Autorespond: {c.encoded_word(o.subject)}",
            "Precedence: auto_reply",
            "X-Precedence: auto_reply",
        ]
    elif flavour == "precedence":
        extra += ["Precedence: auto_reply"]
    elif flavour == "apple":
        extra += ["X-Apple-Action: VACATION", "X-Apple-Auto-Reply: true"]
        subject = f"Re: {o.subject}"
    elif flavour == "subject-only":
        form = False
    body = OOO_TEXT[lang] + "\n\n" + name + "\n"
    if flavour == "helpdesk":
        subject = f"[#{rng.randrange(10000, 99999)}] Request received: {o.subject}"
        body = (
            "Thank you for contacting us. This is an automated response confirming the receipt of your "
            "request.\nOne of our agents will get back to you as soon as possible.\n\n"
            f"Your message:\n{quote_block(o.body, 'gt')}"
        )
        extra += ["Auto-Submitted: auto-replied", "X-Autoreply: true"]
        mail_from = f"support+bounces@{addr.split('@')[1]}"
        lang = "en"
    cte = rng.choice(["8bit", "quoted-printable", "base64"])
    hdr = head(
        case,
        frm=c.mailbox(name, addr),
        subject=c.encoded_word(subject),
        own_id=own,
        to=o.from_header,
        ctype="Content-Type: text/plain; charset=utf-8",
        extra=[*extra, f"Content-Transfer-Encoding: {cte}"],
        received_from="mail." + addr.split("@")[1],
    )
    must_not = []
    if o.references:
        must_not = [c.norm(r) for r in o.references]
    return Built(
        hdr + "\n" + c.encode(body, cte),
        own,
        mail_from=mail_from,
        has_ref=case.quoting,
        rcpts_stated=[addr],
        extra_must_not=must_not,
        form=form,
    )


def mdn(case: Case, flavour: str) -> Built:
    rng, o = case.rng, case.original
    addr = o.recipients[0]
    name = o.recipient_names[0] or addr.split("@")[0]
    own = c.world_msgid(rng, addr.split("@")[1], case.dt)
    bnd = c.boundary(rng)
    if flavour == "thunderbird":
        subject = f"Return Receipt (displayed) - {o.subject}"
        human = (
            f"This is a Return Receipt for the mail that you sent to {addr}.\n\nNote: This Return Receipt "
            f"only "
            "acknowledges that the message was displayed on the recipient's computer. There is no guarantee "
            "that the recipient has read or understood the message contents.\n"
        )
        ua = "Reporting-UA: " + addr.split("@")[1] + "; Thunderbird 128.4.0"
    elif flavour == "outlook":
        subject = f"Read: {o.subject}"
        human = (
            f"Your message\n\n  To: {name}\n  Subject: {o.subject}\n  Sent: "
            f"{o.date.strftime('%A, %B %d, %Y %I:%M:%S %p')} (UTC+01:00)\n\nwas read on "
            f"{case.dt.strftime('%A, %B %d, %Y %I:%M:%S %p')} (UTC+01:00).\n"
        )
        ua = "Reporting-UA: " + case.host + "; Microsoft Exchange Server"
    else:
        subject = f"Gelesen: {o.subject}" if rng.random() < 0.5 else f"Lu : {o.subject}"
        human = f"Ihre Nachricht an {addr} wurde gelesen.\n"
        ua = "Reporting-UA: " + addr.split("@")[1] + "; Roundcube Webmail"
    status = f"{ua}\nFinal-Recipient: rfc822;{addr}\n"
    if case.quoting:
        status += f"Original-Message-ID: {o.message_id}\n"
    status += "Disposition: manual-action/MDN-sent-manually; displayed\n"
    parts = [
        c.part("text/plain", human, charset="UTF-8", cte="8bit"),
        c.part("message/disposition-notification", status, charset=None),
    ]
    if case.quoting and rng.random() < 0.5:
        parts.append(c.part("text/rfc822-headers", o.headers(received=False), charset=None))
    hdr = head(
        case,
        frm=c.mailbox(name, addr),
        subject=c.encoded_word(subject),
        own_id=own,
        to=o.from_header,
        ctype=(f'Content-Type: multipart/report; report-type=disposition-notification;\n\tboundary="{bnd}"'),
        extra=[f"In-Reply-To: {o.message_id}"] if case.quoting and rng.random() < 0.5 else [],
        received_from="mail." + addr.split("@")[1],
    )
    return Built(
        hdr + "\n" + c.multipart(bnd, parts), own, mail_from="", has_ref=case.quoting, rcpts_stated=[addr]
    )


def arf(case: Case) -> Built:
    rng, o = case.rng, case.original
    addr = o.recipients[0]
    dom = addr.split("@")[1]
    own = c.world_msgid(rng, "fbl." + dom, case.dt)
    bnd = c.boundary(rng)
    human = (
        "This is an email abuse report for an email message received from IP 198.51.100.7 on "
        f"{c.rfc_date(o.date)}.\nFor more information about this format please see "
        "http://www.mipassoc.org/arf/.\n"
    )
    report = (
        f"Feedback-Type: abuse\nUser-Agent: {dom}-FBL/1.0\nVersion: 1\nOriginal-Mail-From: <{o.sender}>\n"
        f"Arrival-Date: {c.rfc_date(o.date)}\nReporting-MTA: dns; {case.host}\nSource-IP: 198.51.100.7\n"
        f"Reported-Domain: {c.SITE}\n"
    )
    parts = [
        c.part("text/plain", human, charset="us-ascii"),
        c.part("message/feedback-report", report, charset=None),
    ]
    if case.quoting:
        if rng.random() < 0.5:
            parts.append("Content-Type: message/rfc822\nContent-Disposition: inline\n\n" + o.full())
        else:
            parts.append(c.part("text/rfc822-headers", o.headers(), charset=None))
    else:
        redacted = o.headers().split("\n")
        kept = [line for line in redacted if line.startswith(("Date:", "Subject:", "MIME-Version:"))]
        parts.append(c.part("text/rfc822-headers", "\n".join(kept) + "\n", charset=None))
    hdr = head(
        case,
        frm=f"Feedback Loop <fbl@{dom}>",
        subject="FW: abuse report",
        own_id=own,
        ctype=f'Content-Type: multipart/report; report-type=feedback-report;\n\tboundary="{bnd}"',
        received_from="fbl." + dom,
    )
    return Built(
        hdr + "\n" + c.multipart(bnd, parts), own, mail_from=f"fbl-bounces@{dom}", has_ref=case.quoting
    )


def bounce_of_bounce(case: Case) -> Built:
    """A DSN whose returned message is itself a bounce another host sent about our original.

    Our user sent the original, a remote host bounced it to an address that forwards
    to a third host, which bounced the bounce back to us. Only the innermost original
    counts; the middle bounce's own ID must not.
    """
    rng, o = case.rng, case.original
    mid_host = "mx." + rng.choice(c.WORLD_DOMAINS)
    mid_id = c.world_msgid(rng, mid_host, case.dt)
    inner_bnd = c.boundary(rng, 0)
    inner_status = (
        f"Reporting-MTA: dns; {mid_host}\n\nFinal-Recipient: rfc822; {o.recipients[0]}\nAction: failed\n"
        "Status: 5.1.1\n"
    )
    inner = (
        f"From: MAILER-DAEMON@{mid_host} (Mail Delivery System)\nTo: {o.sender}\nSubject: Undelivered Mail "
        f"Returned to Sender\nMessage-Id: {mid_id}\nDate: {c.rfc_date(case.dt)}\nMIME-Version: 1.0\n"
        f'Content-Type: multipart/report; report-type=delivery-status; boundary="{inner_bnd}"\n\n'
        + c.multipart(
            inner_bnd,
            [
                c.part("text/plain", "Your message could not be delivered.\n"),
                c.part("message/delivery-status", inner_status, charset=None),
                c.part("text/rfc822-headers", o.headers(), charset=None),
            ],
        )
    )
    own = c.world_msgid(rng, case.host, case.dt)
    bnd = c.boundary(rng, 0)
    outer_status = (
        f"Reporting-MTA: dns; {case.host}\n\nFinal-Recipient: rfc822; {o.sender}\nAction: failed\n"
        "Status: 5.4.6\nDiagnostic-Code: smtp; 554 5.4.6 Too many hops\n"
    )
    parts = [
        c.part("text/plain", "This is the mail system. A message could not be delivered (mail loop).\n"),
        c.part("message/delivery-status", outer_status, charset=None),
        c.rfc822_part(inner),
    ]
    hdr = head(
        case,
        frm=f"MAILER-DAEMON@{case.host} (Mail Delivery System)",
        subject="Undelivered Mail Returned to Sender",
        own_id=own,
        ctype=f'Content-Type: multipart/report; report-type=delivery-status;\n\tboundary="{bnd}"',
    )
    return Built(hdr + "\n" + c.multipart(bnd, parts), own, extra_must_not=[c.norm(mid_id)])


def forwarded_bounce(case: Case) -> Built:
    """A relay's NDR that wraps, as message/rfc822, the DSN it received about our original."""
    rng, o = case.rng, case.original
    inner_host = "mx." + o.recipients[0].split("@")[1]
    inner_id = c.world_msgid(rng, inner_host, case.dt)
    ib = c.boundary(rng, 0)
    inner = (
        f"From: Mail Delivery System <MAILER-DAEMON@{inner_host}>\nTo: {o.sender}\nSubject: Undelivered Mail "
        f"Returned to Sender\nMessage-ID: {inner_id}\nMIME-Version: 1.0\nContent-Type: multipart/report; "
        f'report-type=delivery-status; boundary="{ib}"\n\n'
        + c.multipart(
            ib,
            [
                c.part("text/plain", "Delivery failed.\n"),
                c.part(
                    "message/delivery-status",
                    f"Reporting-MTA: dns; {inner_host}\n\n"
                    f"Final-Recipient: rfc822; {o.recipients[0]}\nAction: failed\nStatus: 5.1.1\n",
                    charset=None,
                ),
                c.rfc822_part(o.full()),
            ],
        )
    )
    own = c.world_msgid(rng, case.host, case.dt)
    bnd = c.boundary(rng, 1)
    text = (
        "The attached notification could not be delivered to the address below and is returned to you.\n"
        f"Our relay {case.host} forwards mail for {o.recipients[0].split('@')[1]}.\n"
    )
    parts = [
        c.part("text/plain", text),
        "Content-Type: message/rfc822\nContent-Disposition: attachment\n\n" + inner,
    ]
    hdr = head(
        case,
        frm=f"postmaster@{case.host}",
        subject="FW: Undelivered Mail Returned to Sender",
        own_id=own,
        ctype=f'Content-Type: multipart/mixed; boundary="{bnd}"',
    )
    return Built(hdr + "\n" + c.multipart(bnd, parts), own, extra_must_not=[c.norm(inner_id)])


REPLY_KINDS = [
    "rfc3834",
    "exchange-oof",
    "x-autoreply",
    "x-autorespond",
    "precedence",
    "apple",
    "subject-only",
    "helpdesk",
]
FORMATS = [
    Format(
        f"autoreply-{k}",
        "autoreply",
        DESC + f"{k} autoreply (RFC 3834 and program headers)",
        partial(autoreply, flavour=k),
        4 if k != "subject-only" else 6,
        modes=("normal", "normal", "noref", "forged", "normal", "cross"),
    )
    for k in REPLY_KINDS
]
FORMATS += [
    Format(
        "mdn-thunderbird",
        "mdn",
        DESC + "RFC 8098 MDN as Thunderbird sends it",
        lambda k: mdn(k, "thunderbird"),
        3,
    ),
    Format(
        "mdn-outlook",
        "mdn",
        DESC + "RFC 8098 MDN as Exchange/Outlook sends it",
        lambda k: mdn(k, "outlook"),
        3,
        modes=("normal", "noref", "forged"),
    ),
    Format(
        "mdn-webmail", "mdn", DESC + "RFC 8098 MDN from a webmail (localised)", lambda k: mdn(k, "webmail"), 3
    ),
    Format(
        "arf",
        "arf",
        DESC + "RFC 5965 abuse feedback report",
        arf,
        5,
        modes=("normal", "noref", "forged", "normal", "noref"),
    ),
    Format(
        "bounce-of-bounce",
        "dsn",
        DESC + "RFC 3464 DSN returning a DSN (mail loop)",
        bounce_of_bounce,
        3,
        noref=False,
    ),
    Format(
        "relay-forwarded-dsn",
        "bounce",
        DESC + "relay notice wrapping a DSN as message/rfc822",
        forwarded_bounce,
        3,
        noref=False,
        forge=False,
    ),
]
