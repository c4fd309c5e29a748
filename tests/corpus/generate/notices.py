"""Backscatter that is not a delivery failure: virus notices, challenges,
list-manager rejections and subscription requests, written from the products'
public descriptions and the well-known wording of their notices.
"""

from __future__ import annotations

from tests.corpus.generate import common as c
from tests.corpus.generate.cases import Built, Case, Format, head, quote_block

DESC = "written from public description: "
VIRUSES = [
    "Eicar-Test-Signature",
    "Win.Trojan.Agent-1234567",
    "W32/Netsky.p@MM",
    "Heur.Phishing.Invoice",
    "Troj/Emotet-CWX",
    "JS/Nemucod.gen",
]


def amavis(case: Case) -> Built:
    rng, o = case.rng, case.original
    addr = o.recipients[0]
    virus = rng.choice(VIRUSES)
    own = f"<VA{c.token(rng, 12)}@{case.host}>"
    text = (
        f"Our content checker found\n    virus: {virus}\n\nin email presumably from you <{o.sender}>\n"
        f"to the following recipient:\n-> {addr}\n\nOur internal reference code for your message is "
        f"{rng.randrange(10000, 99999)}-{rng.randrange(10, 99)}\n\nFirst upstream SMTP client IP address: "
        f"[198.51.100.7] mail.{c.SITE}\n\n"
    )
    if case.quoting:
        text += (
            f"Return-Path: <{o.sender}>\nFrom: {o.from_header}\n"
            f"Message-ID: {o.message_id}\nSubject: {c.encoded_word(o.subject)}\n\n"
        )
    text += (
        "Delivery of the email was stopped!\n\nPlease check your system for viruses,\nor ask your system "
        "administrator to do so.\n"
    )
    hdr = head(
        case,
        frm=f"Content-filter at {case.host} <postmaster@{case.host}>",
        subject=f"VIRUS ({virus}) IN MAIL FROM YOU",
        own_id=own,
        ctype="Content-Type: text/plain; charset=us-ascii",
        extra=["Auto-Submitted: auto-generated"],
    )
    return Built(hdr + "\n" + text, own, has_ref=case.quoting, rcpts_stated=[addr])


def clamav(case: Case, flavour: str) -> Built:
    rng, o = case.rng, case.original
    addr = o.recipients[0]
    virus = rng.choice(VIRUSES)
    own = c.world_msgid(rng, case.host, case.dt)
    if flavour == "qmail-scanner":
        subject = f"Qmail-Scanner: virus found in your message ({virus})"
        frm = f"System Anti-Virus Administrator <postmaster@{case.host}>"
        text = (
            f"\nYour message was not delivered: it contained the virus {virus}\n(detected by ClamAV "
            f"1.0.7 via Qmail-Scanner 2.11).\n\nOriginal recipient(s) of the message: {addr}\n\n"
        )
        if case.quoting:
            text += "The message headers are included below:\n\n" + quote_block(o.headers(), "tab")
        mail_from = f"postmaster@{case.host}"
    else:
        subject = f"[ClamAV] Virus detected in mail you sent: {virus}"
        frm = f"ClamAV Mail Filter <clamav@{case.host}>"
        text = (
            f"Hello,\n\nThe message you sent to {addr} contained the virus {virus} and was\nnot "
            "delivered. Please scan your computer.\n\n"
        )
        if case.quoting:
            text += "--- Headers of the infected message ---\n" + o.headers(fold_id=True)
        mail_from = ""
    hdr = head(
        case,
        frm=frm,
        subject=subject,
        own_id=own,
        ctype="Content-Type: text/plain; charset=UTF-8",
        extra=["Content-Transfer-Encoding: 8bit"],
    )
    return Built(hdr + "\n" + text, own, mail_from=mail_from, has_ref=case.quoting, rcpts_stated=[addr])


def mailscanner(case: Case) -> Built:
    rng, o = case.rng, case.original
    addr = o.recipients[0]
    own = c.world_msgid(rng, case.host, case.dt)
    text = (
        "Our virus detector has just been triggered by a message you sent:-\n"
        f"  To: {addr}\n  Subject: {o.subject}\n  Date: {o.date.strftime('%a %b %d %H:%M:%S %Y')}\n"
        "One or more of the attachments (invoice.zip) are on the list of unacceptable attachments for this "
        "site and will not have been delivered.\n\nConsider renaming the files to avoid this constraint.\n"
        "The virus detector said this about the message:\nReport: invoice.zip/invoice.exe Windows/DOS "
        "Executable\n\n-- \nMailScanner\nEmail Virus Scanner\nwww.mailscanner.info\n"
    )
    hdr = head(
        case,
        frm=f"MailScanner <postmaster@{case.host}>",
        subject="Warning: E-mail viruses detected",
        own_id=own,
        ctype='Content-Type: text/plain; charset="ISO-8859-1"',
        extra=["X-MailScanner: Found to be clean", "Precedence: bulk"],
    )
    return Built(
        hdr + "\n" + text, own, mail_from=f"postmaster@{case.host}", has_ref=False, rcpts_stated=[addr]
    )


def mcafee(case: Case) -> Built:
    rng, o = case.rng, case.original
    addr = o.recipients[0]
    own = c.world_msgid(rng, case.host, case.dt)
    bnd = c.boundary(rng, 1)
    text = (
        f"McAfee Email Gateway has detected a virus in a message you sent.\n\nVirus: {rng.choice(VIRUSES)}\n"
        f"Recipient: {addr}\nAction taken: The infected attachment was deleted and the message was not "
        "delivered.\n"
    )
    parts = [c.part("text/plain", text, charset="us-ascii")]
    if case.quoting:
        parts.append(
            "Content-Type: text/rfc822-headers\nContent-Disposition: attachment; filename=headers.txt\n\n"
            + o.headers()
        )
    hdr = head(
        case,
        frm=f"McAfee Email Gateway <postmaster@{case.host}>",
        subject="ALERT: virus found in a message you sent",
        own_id=own,
        ctype=f'Content-Type: multipart/mixed; boundary="{bnd}"',
    )
    return Built(
        hdr + "\n" + c.multipart(bnd, parts), own, mail_from="", has_ref=case.quoting, rcpts_stated=[addr]
    )


def symantec(case: Case) -> Built:
    rng, o = case.rng, case.original
    addr = o.recipients[0]
    own = c.world_msgid(rng, case.host, case.dt)
    text = (
        f"Symantec Mail Security replaced {rng.choice(['document.scr', 'scan.pif', 'invoice.exe'])} with "
        f"this "
        f"text message. The original file contained a virus and was infected.\n\nResult: Virus Detected\n"
        f"Virus Name: {rng.choice(VIRUSES)}\nFile Attachment: attachment.zip\nAttachment Status: deleted\n\n"
        f"Subject of the message: {o.subject}\nRecipient of the message: {addr}\n"
    )
    if case.quoting:
        text += f"Message-ID of the message: {o.message_id}\n"
    hdr = head(
        case,
        frm=f"Symantec Mail Security <SMSAdmin@{case.host}>",
        subject="Symantec Mail Security detected a virus based on a message you sent (SYM:"
        f"{rng.randrange(10000, 99999)})",
        own_id=own,
        ctype="Content-Type: text/plain; charset=windows-1252",
        extra=["Content-Transfer-Encoding: 7bit"],
    )
    return Built(
        hdr + "\n" + text, own, mail_from=f"SMSAdmin@{case.host}", has_ref=case.quoting, rcpts_stated=[addr]
    )


def sophos(case: Case) -> Built:
    rng, o = case.rng, case.original
    own = c.world_msgid(rng, case.host, case.dt)
    text = (
        f"Sophos PureMessage found a virus in the message you sent.\n\nVirus: {rng.choice(VIRUSES)}\n\n"
        "The message has been quarantined and will not be delivered.\n\n"
    )
    if case.quoting:
        text += "Original message headers:\n" + quote_block(o.headers(), "gt")
    hdr = head(
        case,
        frm=f"PureMessage <pmx@{case.host}>",
        subject="Virus found in message you sent",
        own_id=own,
        ctype="Content-Type: text/plain; charset=utf-8",
        extra=["Content-Transfer-Encoding: quoted-printable"],
    )
    return Built(hdr + "\n" + c.qp_body(text), own, mail_from="", has_ref=case.quoting)


def generic_virus(case: Case) -> Built:
    rng, o = case.rng, case.original
    own = c.world_msgid(rng, case.host, case.dt)
    subj = rng.choice(
        [
            "Virus found in your message",
            "Warning: virus found in a message you sent",
            "Message blocked: infected attachment",
        ]
    )
    text = (
        "A virus was found in a message sent from your address. The message was not delivered.\n\n"
        f"Virus name: {rng.choice(VIRUSES)}\n"
    )
    if case.quoting:
        text += f"\nIn-Reply-To: {o.message_id}\n" if rng.random() < 0.3 else ""
    hdr = head(
        case,
        frm=f"Virus Alert <virusalert@{case.host}>",
        subject=subj,
        own_id=own,
        ctype="Content-Type: text/plain; charset=us-ascii",
        extra=[f"In-Reply-To: {o.message_id}"] if case.quoting else [],
    )
    return Built(hdr + "\n" + text, own, mail_from=f"virusalert@{case.host}", has_ref=case.quoting)


def challenge(case: Case, flavour: str) -> Built:
    """Challenge/response requests; From is the protected address (the original's recipient)."""
    rng, o = case.rng, case.original
    addr = o.recipients[0]
    name = o.recipient_names[0] or addr.split("@")[0]
    own = c.world_msgid(rng, addr.split("@")[1], case.dt)
    extra = [f"In-Reply-To: {o.message_id}"] if case.quoting else []
    if flavour == "tmda":
        cookie = f"{int(case.dt.timestamp())}.{rng.randrange(10000, 99999)}.{c.hexs(rng, 6, False)}"
        confirm = f"{addr.split('@')[0]}-confirm-{cookie}@{addr.split('@')[1]}"
        subject = f"Please confirm your message: {o.subject}"
        frm = c.mailbox(name, addr)
        extra += [
            f"Reply-To: {confirm}",
            "Auto-Submitted: auto-replied (confirm)",
            "Precedence: bulk",
            "X-Delivery-Agent: TMDA/1.3.2 (Bell Island)",
        ]
        bnd = c.boundary(rng, 3)
        text = (
            "This message was created automatically by mail delivery software (TMDA).\n\n"
            f"Your message attached below is being held because the address\n<{o.sender}> has not "
            "been verified.\n\nTo release your message for delivery, please send an empty message\n"
            f'to the following address, or use your mailer\'s "Reply" feature.\n\n   {confirm}\n\n'
            "This confirmation verifies that your message is legitimate and not\njunk-mail.\n"
        )
        parts = [c.part("text/plain", text, charset="us-ascii")]
        if case.quoting:
            parts.append(c.rfc822_part(o.full()))
        hdr = head(
            case,
            frm=frm,
            subject=subject,
            own_id=own,
            ctype=f'Content-Type: multipart/mixed; boundary="{bnd}"',
            extra=extra,
            received_from="mail." + addr.split("@")[1],
        )
        return Built(
            hdr + "\n" + c.multipart(bnd, parts), own, mail_from="", has_ref=case.quoting, rcpts_stated=[addr]
        )
    if flavour == "spamarrest":
        subject = f"Re: {o.subject} [SpamArrest - Please verify your email]"
        frm = f'"{addr} (via Spam Arrest)" <{addr}>'
        mail_from = f"verify+{c.token(rng, 10)}@spamarrest.example"
        text = (
            "I apologize for this automatic reply to your email.\n\nTo control spam, I now allow incoming "
            "messages only from senders I have approved beforehand.\n\nIf you would like to be added to my "
            "list of approved senders, please fill out the short request form (see link below). Once I "
            "approve you, I will receive your original message in my inbox. You do not need to resend "
            f"your message. I apologize for this one-time inconvenience.\n\nClick the link below to fill "
            f"out the request:\n\nhttps://www.spamarrest.example/a2/?id={c.token(rng, 24)}\n"
        )
        extra += ["Precedence: junk", "X-SpamArrest-Challenge: yes"]
    elif flavour == "boxbe":
        subject = f"Request to join {c.encoded_word(name)}'s Guest List \u2013 Re: {o.subject}"
        subject = c.encoded_word(subject)
        frm = c.mailbox(name + " (via Boxbe)", addr)
        mail_from = f"bounces+{c.token(rng, 12)}@boxbe.example"
        text = (
            f"Dear sender,\n\nI will receive your email after you complete a simple one-time verification "
            f"step. Please follow the link to get on my Guest List:\n\nhttps://www.boxbe.example/anno?tc="
            f"{rng.randrange(10**9, 10**10)}_{rng.randrange(10**8, 10**9)}\n\nThanks,\n{name}\n\n"
            f"Your original message was sent to {addr} on {o.date.strftime('%d %b %Y')}.\n"
        )
        extra += ["Auto-Submitted: auto-replied", "X-Boxbe-Type: challenge"]
    else:
        subject = rng.choice(
            [
                f"Re: {o.subject} (please confirm you sent this)",
                "Verify your email address to reach me",
                "Please confirm you are human",
            ]
        )
        frm = c.mailbox(name, addr)
        mail_from = addr
        text = (
            f"Hello,\n\nI receive a lot of spam, so I use a verification system. Your message to {addr} "
            "is on hold.\nPlease reply to this message (keep the subject unchanged) to confirm that you "
            "sent it and are not a machine. You only have to do this once.\n"
        )
        if case.quoting and rng.random() < 0.5:
            text += "\n--- Original message headers ---\n" + quote_block(o.headers(received=False), "gt")
        extra += ["Auto-Submitted: auto-replied", "X-Challenge: pending"]
    hdr = head(
        case,
        frm=frm,
        subject=subject,
        own_id=own,
        ctype="Content-Type: text/plain; charset=utf-8",
        extra=extra,
        received_from="mail." + addr.split("@")[1],
    )
    return Built(hdr + "\n" + text, own, mail_from=mail_from, has_ref=case.quoting, rcpts_stated=[addr])


def mailman(case: Case, held: bool) -> Built:
    rng, o = case.rng, case.original
    lst = o.recipients[0]
    local, dom = lst.split("@")
    own = (
        f"<mailman.{rng.randrange(100, 9999)}.{int(case.dt.timestamp())}."
        f"{rng.randrange(1000, 9999)}.{local}@{dom}>"
    )
    bnd = f"==============={rng.randrange(10**18, 10**19)}=="
    if held:
        subject = f"Your message to {local.capitalize()} awaits moderator approval"
        text = (
            f"Your mail to '{local.capitalize()}' with the subject\n\n    {o.subject}\n\nIs being held until "
            "the list moderator can review it for approval.\n\nThe reason it is being held:\n\n    Post by "
            "non-member to a members-only list\n\nEither the message will get posted to the list, or you "
            "will "
            "receive notification of the moderator's decision.\n"
        )
    else:
        subject = 'Auto-response for your message to the "' + local.capitalize() + '" mailing list'
        text = (
            "You are not allowed to post to this mailing list, and your message has been\nautomatically "
            "rejected.  If you think that your messages are being rejected in\nerror, contact the mailing "
            f"list owner at {local}-owner@{dom}.\n"
        )
    parts = [c.part("text/plain", text, charset="us-ascii", cte="7bit")]
    extra = [
        "X-List-Administrivia: yes",
        "X-Mailman-Version: 2.1.39",
        "Precedence: bulk",
        f"List-Id: <{local}.{dom}>",
        "Auto-Submitted: auto-generated",
    ]
    if held:
        extra.insert(0, f"In-Reply-To: {o.message_id}") if case.quoting else None
    else:
        parts.append(
            "Content-Type: message/rfc822\nMIME-Version: 1.0\n\n" + o.full()
        ) if case.quoting else None
    hdr = head(
        case,
        frm=f"{local}-owner@{dom}",
        subject=subject,
        own_id=own,
        ctype=f'Content-Type: multipart/mixed; boundary="{bnd}"',
        extra=extra,
        received_from="mail." + dom,
    )
    return Built(
        hdr + "\n" + c.multipart(bnd, parts, ""),
        own,
        mail_from=f"{local}-bounces@{dom}",
        has_ref=case.quoting,
    )


def fml(case: Case) -> Built:
    rng, o = case.rng, case.original
    lst = o.recipients[0]
    local, dom = lst.split("@")
    own = f"<{case.dt.strftime('%Y%m%d%H%M%S')}.FML{rng.randrange(10000, 99999)}.{local}@{dom}>"
    text = (
        f"You are not a member of this mailing list <{lst}>.\n\nIf you know the general guide of this list, "
        "please send mail with the mail body\n\n\tguide\n\nto the address\n\n"
        f"\t{local}-ctl@{dom}\nwhere {local}-ctl@{dom} is the address for the command use.\n\n"
        "--これは自動応答です。\n\n"
        "The original mail:\n"
    )
    text += quote_block(o.headers(received=False), "gt") + ">\n" + quote_block(o.body, "gt")
    hdr = head(
        case,
        frm=f"{local}-admin@{dom}",
        subject=f"Rejected (not member) ({local} ML)",
        own_id=own,
        ctype="Content-Type: text/plain; charset=utf-8",
        extra=[
            "X-ML-Server: fml [fml 4.0.3 release]",
            f"X-ML-Name: {local}",
            "Precedence: junk",
            "Content-Transfer-Encoding: 8bit",
        ],
        received_from="mail." + dom,
    )
    return Built(hdr + "\n" + text, own, mail_from=f"{local}-admin@{dom}", has_ref=True)


FORMATS = [
    Format("amavis", "virus", DESC + "amavisd-new sender notification template", amavis, 5),
    Format(
        "clamav-qmail-scanner",
        "virus",
        DESC + "Qmail-Scanner with ClamAV sender notice",
        lambda k: clamav(k, "qmail-scanner"),
        4,
    ),
    Format(
        "clamav-filter",
        "virus",
        DESC + "generic ClamAV front-end sender notice",
        lambda k: clamav(k, "filter"),
        3,
    ),
    Format(
        "mailscanner",
        "virus",
        DESC + "MailScanner 'Warning: E-mail viruses detected' sender warning",
        mailscanner,
        3,
        modes=("noref", "noref", "forged"),
    ),
    Format("mcafee", "virus", DESC + "McAfee Email Gateway sender alert", mcafee, 3),
    Format("symantec", "virus", DESC + "Symantec Mail Security sender notification", symantec, 3),
    Format("sophos", "virus", DESC + "Sophos PureMessage sender notification", sophos, 3),
    Format(
        "virus-generic",
        "virus",
        DESC + "generic 'virus found in your message' notice",
        generic_virus,
        4,
        modes=("normal", "noref", "normal", "forged"),
    ),
    Format("tmda", "challenge", DESC + "TMDA confirmation request", lambda k: challenge(k, "tmda"), 4),
    Format(
        "spamarrest",
        "challenge",
        DESC + "Spam Arrest verification request",
        lambda k: challenge(k, "spamarrest"),
        3,
    ),
    Format("boxbe", "challenge", DESC + "Boxbe guest-list request", lambda k: challenge(k, "boxbe"), 3),
    Format(
        "challenge-generic",
        "challenge",
        DESC + "generic 'please confirm you sent this' request",
        lambda k: challenge(k, "generic"),
        4,
    ),
    Format(
        "mailman-reject",
        "bounce",
        DESC + "Mailman 2.1 auto-rejection notice",
        lambda k: mailman(k, False),
        3,
        noref=False,
        list_target="post",
    ),
    Format(
        "mailman-held",
        "bounce",
        DESC + "Mailman 2.1 'awaits moderator approval' notice",
        lambda k: mailman(k, True),
        3,
        noref=False,
        list_target="post",
    ),
    Format("fml", "bounce", DESC + "fml 4 'not member' rejection", fml, 3, noref=False, list_target="post"),
]
