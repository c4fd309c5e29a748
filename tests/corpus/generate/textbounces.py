"""Non-standard delivery failures of MTAs: the original quoted as text.

Written from the programs' public descriptions and the well-known wording of
their notices (qmail's bounce text, Sendmail's transcripts, Exim's bounce
template, Postfix 1.x/2.0 bounces, Courier, OpenSMTPD, IMail ...).
"""

from __future__ import annotations

from tests.corpus.generate import common as c
from tests.corpus.generate.cases import Built, Case, Format, failure_reason, head, quote_block

DESC = "written from public description: "
UPPER = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
DIGITS = "0123456789"
ALNUM = UPPER + UPPER.lower() + DIGITS


def _copy(case: Case, fold_id: bool = False, id_name: str = "Message-ID", body: bool = True) -> str:
    o = case.original
    text = f"Return-Path: <{o.sender}>\n" + o.headers(fold_id, id_name)
    if body:
        text += "\n" + o.encoded_body()
    return text


def qmail(case: Case, net: bool = False) -> Built:
    rng, o = case.rng, case.original
    own = None if not net else c.world_msgid(rng, case.host, case.dt)
    lines = [f"Received: (qmail {rng.randrange(1000, 99999)} invoked for bounce); {c.rfc_date(case.dt)}"]
    hdr = head(
        case,
        frm=f"MAILER-DAEMON@{case.host}",
        subject="failure notice",
        own_id=own,
        ctype="",
        mime=False,
        extra=lines,
    )
    failed = o.recipients[: rng.randrange(1, len(o.recipients) + 1)]
    body = (
        f"Hi. This is the qmail-send program at {case.host}.\n"
        "I'm afraid I wasn't able to deliver your message to the following addresses.\n"
        "This is a permanent error; I've given up. Sorry it didn't work out.\n\n"
    )
    for addr in failed:
        diag = rng.choice(
            [
                "Sorry, no mailbox here by that name. (#5.1.1)",
                "Sorry, no mailbox here by that name. vpopmail (#5.1.1)",
                f"{c.ip(rng)} does not like recipient.\nRemote host said: 550 5.1.1 <{addr}>: Recipient "
                f"address "
                "rejected: User unknown\nGiving up on " + c.ip(rng) + ".",
                "The users mailfolder is over the allowed quota (size). (#5.2.2)",
            ]
        )
        body += f"<{addr}>:\n{diag}\n\n"
    marker = "--- Below this line is a copy of the message.\n\n"
    body += (
        marker
        + f"Received: (qmail {rng.randrange(1000, 99999)} invoked from network); {c.rfc_date(o.date)}\n"
    )
    body += _copy(
        case, fold_id=rng.random() < 0.3, id_name="Message-Id" if rng.random() < 0.4 else "Message-ID"
    )
    return Built(hdr + "\n" + body, own, rcpts_stated=failed)


def ezmlm(case: Case) -> Built:
    """ezmlm-reject refusing a non-subscriber: a qmail bounce with ezmlm's text."""
    rng, o = case.rng, case.original
    hdr = head(
        case, frm=f"MAILER-DAEMON@{case.host}", subject="failure notice", own_id=None, ctype="", mime=False
    )
    addr = o.recipients[0]
    body = (
        f"Hi. This is the qmail-send program at {case.host}.\n"
        "I'm afraid I wasn't able to deliver your message to the following addresses.\n"
        "This is a permanent error; I've given up. Sorry it didn't work out.\n\n"
        f"<{addr}>:\nSorry, only subscribers may post. If you are a subscriber, please forward this "
        f"message to {addr.split('@')[0]}-owner@{addr.split('@')[1]} to get your new address included "
        "(#5.7.2)\n\n--- Below this line is a copy of the message.\n\n"
    )
    body += _copy(case, fold_id=rng.random() < 0.3)
    return Built(hdr + "\n" + body, None, rcpts_stated=[addr])


def sendmail_v8(case: Case) -> Built:
    """Sendmail 8 without MIME (SendMimeErrors off): transcript and unsent message."""
    rng, o = case.rng, case.original
    own = f"<{case.dt.strftime('%Y%m%d%H%M')}.{c.token(rng, 8)}{rng.randrange(100, 999)}@{case.host}>"
    qid = c.token(rng, 14, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789")
    addr = o.recipients[0]
    status, diag = failure_reason(rng, addr)
    hdr = head(
        case,
        frm=f"Mail Delivery Subsystem <MAILER-DAEMON@{case.host}>",
        subject="Returned mail: see transcript for details",
        own_id=own,
        ctype="",
        mime=False,
        extra=["Auto-Submitted: auto-generated (failure)"],
    )
    body = (
        f"The original message was received at {c.rfc_date(o.date)}\nfrom mail.{c.SITE} [198.51.100.7]\n\n"
        f"   ----- The following addresses had permanent fatal errors -----\n<{addr}>\n"
        f"    (reason: {diag[4:]})\n\n   ----- Transcript of session follows -----\n"
        f"... while talking to {case.host}.:\n>>> DATA\n<<< {diag}\n{diag[:3]} {addr}... User unknown\n"
        f"<<< 503 5.0.0 Need RCPT (recipient)\n\n"
    )
    if case.quoting:
        body += "   ----- Original message follows -----\n\n" + _copy(
            case, fold_id=rng.random() < 0.4, id_name="Message-Id"
        )
    del status, qid
    return Built(hdr + "\n" + body, own, has_ref=case.quoting, rcpts_stated=[addr])


def sendmail_v5(case: Case) -> Built:
    """Old Sendmail 5 / IDA: a bare transcript; often nothing of the original."""
    rng, o = case.rng, case.original
    local = o.recipients[0].split("@")[0]
    hdr = head(
        case,
        frm=f"Mail Delivery Subsystem <MAILER-DAEMON@{case.host}>",
        subject="Returned mail: User unknown"
        if case.quoting
        else "Returned mail: Cannot send message for 5 days",
        own_id=None,
        ctype="",
        mime=False,
    )
    if case.quoting:
        body = (
            "   ----- Transcript of session follows -----\n"
            f"550 {local}... User unknown\n\n   ----- Unsent message follows -----\n"
        )
        body += _copy(case, fold_id=rng.random() < 0.3, id_name="Message-Id")
        return Built(hdr + "\n" + body, None, rcpts_stated=[])
    body = (
        "   ----- Transcript of session follows -----\n"
        "421 Host down: connection timed out after 5 days\n"
        "Message could not be delivered for 5 days\nMessage will be deleted from queue\n\n"
        "   ----- Unsent message follows -----\n(delivery report unavailable: message body lost)\n"
    )
    return Built(hdr + "\n" + body, None, has_ref=False, rcpts_stated=[])


def exim_old(case: Case, exim3: bool) -> Built:
    """Exim 3 / Exim 4 before 4.90: text/plain, 'This is a copy of the message'."""
    rng, o = case.rng, case.original
    own = (
        f"<E1{c.token(rng, 5, ALNUM)}-000{rng.randrange(1, 9)}"
        f"{c.token(rng, 2, UPPER)}-{c.token(rng, 2, UPPER + DIGITS)}@{case.host}>"
    )
    failed = o.recipients[: rng.randrange(1, len(o.recipients) + 1)]
    if exim3:
        hdr = head(
            case,
            frm=f"Mail Delivery System <Mailer-Daemon@{case.host}>",
            subject="Mail delivery failed: returning message to sender",
            own_id=own,
            ctype="",
            mime=False,
        )
        body = (
            "This message was created automatically by mail delivery software (Exim).\n\n"
            "A message that you sent could not be delivered to one or more of its\n"
            "recipients. This is a permanent error. The following address(es) failed:\n\n"
        )
    else:
        hdr = head(
            case,
            frm=f"Mail Delivery System <Mailer-Daemon@{case.host}>",
            subject="Mail delivery failed: returning message to sender",
            own_id=own,
            ctype="",
            mime=False,
            extra=["Auto-Submitted: auto-replied", f"X-Failed-Recipients: {', '.join(failed)}"],
        )
        body = (
            "This message was created automatically by mail delivery software.\n\n"
            "A message that you sent could not be delivered to one or more of its\n"
            "recipients. This is a permanent error. The following address(es) failed:\n\n"
        )
    for addr in failed:
        _, diag = failure_reason(rng, addr)
        body += (
            f"  {addr}\n    SMTP error from remote mail server after RCPT TO:<{addr}>:\n    host {case.host} "
            f"[{c.ip(rng)}]: {diag}\n"
        )
    body += "\n------ This is a copy of the message, including all the headers. ------\n"
    if rng.random() < 0.3:
        body += (
            "------ The body of the message is 4823 characters long; only the first\n"
            "------ 4096 or so are included here.\n"
        )
    body += "\n" + _copy(case, fold_id=rng.random() < 0.35)
    return Built(hdr + "\n" + body, own, rcpts_stated=failed)


def postfix_old(case: Case) -> Built:
    """Postfix 1.x / 2.0-2.2: multipart/mixed with text parts, not a DSN."""
    rng, o = case.rng, case.original
    qid = c.hexs(rng, 10)
    own = f"<{case.dt.strftime('%Y%m%d%H%M%S')}.{qid}@{case.host}>"
    bnd = f"{qid}.{int(case.dt.timestamp())}/{case.host}"
    hdr = head(
        case,
        frm=f"MAILER-DAEMON@{case.host} (Mail Delivery System)",
        subject="Undelivered Mail Returned to Sender",
        own_id=own,
        ctype=f'Content-Type: multipart/mixed; boundary="{bnd}"',
    )
    addr = o.recipients[0]
    _, diag = failure_reason(rng, addr)
    notice = (
        f"This is the Postfix program at host {case.host}.\n\n"
        "I'm sorry to have to inform you that the message returned\n"
        "below could not be delivered to one or more destinations.\n\n"
        "For further assistance, please send mail to <postmaster>\n\n"
        "If you do so, please include this problem report. You can\n"
        "delete your own text from the message returned below.\n\n"
        "\t\t\tThe Postfix program\n\n"
        f"<{addr}>: host {case.host}[{c.ip(rng)}] said: {diag} (in reply to RCPT TO\n    command)\n"
    )
    parts = [c.part("text/plain", notice, extra=["Content-Description: Notification"], charset=None)]
    parts.append(
        c.part(
            "text/plain",
            f"Reporting-MTA: dns; {case.host}\nArrival-Date: {c.rfc_date(o.date)}\n\n"
            f"Final-Recipient: rfc822; {addr}\nAction: failed\nStatus: 5.0.0\n",
            extra=["Content-Description: Delivery error report"],
            charset=None,
        )
    )
    parts.append(
        "Content-Description: Undelivered Message\nContent-Type: message/rfc822\n\n"
        + _copy(case, fold_id=rng.random() < 0.3)
    )
    body = c.multipart(bnd, parts, "This is a MIME-encapsulated message.\n")
    return Built(hdr + "\n" + body, own, rcpts_stated=[addr])


def opensmtpd(case: Case) -> Built:
    rng, o = case.rng, case.original
    own = f"<{c.hexs(rng, 8, False)}{c.hexs(rng, 8, False)}@{case.host}>"
    addr = o.recipients[0]
    _, diag = failure_reason(rng, addr)
    hdr = head(
        case,
        frm=f"Mailer Daemon <MAILER-DAEMON@{case.host}>",
        subject="Delivery status notification: error",
        own_id=own,
        ctype="Content-Type: text/plain; charset=us-ascii",
        extra=["Content-Transfer-Encoding: 7bit"],
    )
    body = (
        "Hi!\n\nThis is the MAILER-DAEMON, please DO NOT REPLY to this email.\n\n"
        "An error has occurred while attempting to deliver a message for\nthe following list of "
        "recipients:\n\n"
        f"{addr}: {diag}\n\nBelow is a copy of the original message:\n\n"
    )
    body += _copy(case, fold_id=rng.random() < 0.3)
    return Built(hdr + "\n" + body, own, rcpts_stated=[addr])


def imail(case: Case) -> Built:
    rng, o = case.rng, case.original
    addr = o.recipients[0]
    hdr = head(
        case,
        frm=f"Postmaster <postmaster@{addr.split('@')[1]}>",
        subject="Undeliverable Mail",
        own_id=None,
        ctype="Content-Type: text/plain; charset=us-ascii",
        extra=["X-Mailer: <IMail v12.5.5>"],
    )
    body = f"Unknown user: {addr}\n\nOriginal message follows.\n\n" + _copy(case, fold_id=rng.random() < 0.3)
    return Built(hdr + "\n" + body, None, rcpts_stated=[addr])


def lotus_notes(case: Case, domino: bool) -> Built:
    """Lotus Notes / Domino 'DELIVERY FAILURE' reports."""
    rng, o = case.rng, case.original
    addr = o.recipients[0]
    local = addr.split("@")[0]
    own = f"<OF{c.hexs(rng, 8)}.{c.hexs(rng, 8)}-ON{c.hexs(rng, 8)}.{c.hexs(rng, 8)}@{addr.split('@')[1]}>"
    subject = f"DELIVERY FAILURE: User {local} ({addr}) not listed in Domino Directory"
    bnd = f"=_mixed {c.hexs(rng, 8)}{c.hexs(rng, 8)}_="
    hdr = head(
        case,
        frm=f"Postmaster@{case.host}",
        subject=subject,
        own_id=own,
        ctype=f'Content-Type: multipart/mixed; boundary="{bnd}"',
        extra=["X-Mailer: Lotus Domino Release 9.0.1FP10"],
    )
    text = (
        f"Your message\n\n  Subject: {o.subject}\n\nwas not delivered to:\n\n  {addr}\n\n"
        f"because:\n\n  User {local} ({addr}) not listed in Domino Directory\n"
    )
    parts = [c.part("text/plain", text, charset="US-ASCII" if text.isascii() else "UTF-8")]
    if case.quoting:
        if domino:
            parts.append(c.rfc822_part(_copy(case)))
        else:
            parts.append(
                c.part(
                    "text/plain",
                    _copy(case, body=False),
                    cte="quoted-printable",
                    extra=['Content-Disposition: inline; filename="Original headers"'],
                )
            )
    return Built(hdr + "\n" + c.multipart(bnd, parts), own, has_ref=case.quoting, rcpts_stated=[addr])


def groupwise(case: Case) -> Built:
    rng, o = case.rng, case.original
    addr = o.recipients[0]
    own = f"<{c.hexs(rng, 8)}.{c.hexs(rng, 3)} : {rng.randrange(10, 99)} : {rng.randrange(10000, 99999)}>"
    own_clean = (
        f"<{c.hexs(rng, 8)}.{rng.randrange(10, 99)}{rng.randrange(10000, 99999)}@gwia.{addr.split('@')[1]}>"
    )
    bnd = f"=__Part{c.hexs(rng, 8)}.0__="
    hdr = head(
        case,
        frm=f"Mail Delivery System <postmaster@{addr.split('@')[1]}>",
        subject="Undeliverable Mail",
        own_id=own_clean,
        ctype=f'Content-Type: multipart/mixed; boundary="{bnd}"',
        extra=["X-Mailer: Novell GroupWise Internet Agent 18.4.1"],
    )
    text = (
        f"The message that you sent was undeliverable to the following:\n\t{addr.split('@')[0]} "
        f"(user not found)\n\nPossible causes:\n\tThe e-mail address was incorrect\n"
        f"\tThe user has moved or is no longer at this organisation\n"
    )
    parts = [c.part("text/plain", text, charset="US-ASCII")]
    if case.quoting:
        parts.append(
            c.part(
                "text/plain",
                "Options: Priority Normal\n\n" + quote_block(_copy(case, body=False), "tab"),
                extra=['Content-Disposition: attachment; filename="Mime.822"'],
                charset="US-ASCII",
            )
        )
    del own
    return Built(hdr + "\n" + c.multipart(bnd, parts), own_clean, has_ref=case.quoting, rcpts_stated=[])


def courier_text(case: Case) -> Built:
    """Courier's older text/plain bounce (before its DSN form)."""
    rng, o = case.rng, case.original
    addr = o.recipients[0]
    own = f"<courier.{c.hexs(rng, 16)}.{c.hexs(rng, 8, False)}@{case.host}>"
    hdr = head(
        case,
        frm=f"Courier mail server at {case.host} <@>",
        subject="DELIVERY FAILURE",
        own_id=own,
        ctype="Content-Type: text/plain; charset=iso-8859-1",
        extra=["Content-Transfer-Encoding: 7bit"],
    )
    body = (
        f"This is a delivery status notification from {case.host},\nrunning the Courier mail server, "
        "version 1.1.\n\nThe original message was received on "
        f"{c.rfc_date(o.date)}\nfrom mail.{c.SITE} [198.51.100.7]\n\n"
        "---------------------------------------------------------------------------\n\n"
        f"                           UNDELIVERABLE MAIL\n\nYour message to the following recipients cannot "
        f"be delivered:\n\n<{addr}>:\n    {case.host} [{c.ip(rng)}]:\n>>> RCPT TO:<{addr}>\n"
        f"<<< 550 User unknown\n\n"
        "---------------------------------------------------------------------------\n\n"
        "The original message headers are included as an attachment.\n\n"
    )
    body += quote_block(_copy(case, body=False), "indent")
    return Built(hdr + "\n" + body, own, rcpts_stated=[addr])


FORMATS = [
    Format(
        "qmail", "bounce", DESC + "qmail 1.03 qmail-send bounce text", qmail, 7, noref=False, nrcpt=(1, 1, 2)
    ),
    Format(
        "netqmail",
        "bounce",
        DESC + "netqmail 1.06 bounce text (with Message-ID added by the relay)",
        lambda k: qmail(k, net=True),
        4,
        noref=False,
    ),
    Format(
        "ezmlm",
        "bounce",
        DESC + "ezmlm-reject message in a qmail bounce",
        ezmlm,
        3,
        noref=False,
        list_target="post",
    ),
    Format("sendmail-v8", "bounce", DESC + "Sendmail 8 non-MIME error message (transcript)", sendmail_v8, 4),
    Format(
        "sendmail-v5",
        "bounce",
        DESC + "Sendmail 5 'Returned mail' transcript",
        sendmail_v5,
        5,
        modes=("normal", "noref", "normal", "noref", "forged"),
    ),
    Format("exim3", "bounce", DESC + "Exim 3 bounce message template", lambda k: exim_old(k, True), 4),
    Format(
        "exim4-old",
        "bounce",
        DESC + "Exim 4 (< 4.90) text bounce template",
        lambda k: exim_old(k, False),
        5,
        noref=False,
        nrcpt=(1, 2),
    ),
    Format(
        "postfix-old",
        "bounce",
        DESC + "Postfix 2.0 bounce (multipart/mixed, not a DSN)",
        postfix_old,
        4,
        noref=False,
    ),
    Format(
        "opensmtpd",
        "bounce",
        DESC + "OpenSMTPD bounce text, older text/plain form",
        opensmtpd,
        4,
        noref=False,
    ),
    Format("imail", "bounce", DESC + "Ipswitch IMail 'Undeliverable Mail'", imail, 3, noref=False),
    Format(
        "lotus-notes",
        "bounce",
        DESC + "Lotus Notes DELIVERY FAILURE report",
        lambda k: lotus_notes(k, False),
        4,
    ),
    Format(
        "domino", "bounce", DESC + "IBM Domino 9 DELIVERY FAILURE report", lambda k: lotus_notes(k, True), 4
    ),
    Format("groupwise", "bounce", DESC + "Novell GroupWise GWIA 'Undeliverable Mail'", groupwise, 4),
    Format(
        "courier-text",
        "bounce",
        DESC + "Courier text DELIVERY FAILURE (pre-DSN)",
        courier_text,
        3,
        noref=False,
    ),
]


def exchange55(case: Case) -> Built:
    """Exchange 5.5 style non-delivery report without the original attached."""
    rng, o = case.rng, case.original
    addr = o.recipients[0]
    own = f"<{c.hexs(rng, 32)}@{case.host}>"
    text = (
        "Your message did not reach some or all of the intended recipients.\n\n"
        f"      Subject:\t{o.subject}\n      Sent:\t{o.date.strftime('%m/%d/%Y %I:%M %p')}\n\n"
        "The following recipient(s) could not be reached:\n\n"
        f"      {addr} on {case.dt.strftime('%m/%d/%Y %I:%M %p')}\n"
        "            The recipient name is not recognized\n"
        f"\tThe MTS-ID of the original message is: c=US;a= ;p=Corp;l={c.hexs(rng, 12)}\n"
        "            MSEXCH:IMS:Corp:Site:MAIL01 0 (000C05A6) Unknown Recipient\n"
    )
    hdr = head(
        case,
        frm=f"System Administrator <postmaster@{addr.split('@')[1]}>",
        subject=f"Undeliverable: {o.subject}",
        own_id=own,
        ctype="Content-Type: text/plain; charset=us-ascii",
        extra=["X-Mailer: Internet Mail Service (5.5.2653.19)"],
    )
    return Built(hdr + "\n" + text, own, has_ref=False, rcpts_stated=[addr])


def gateway_noref(case: Case) -> Built:
    """An appliance's terse failure notice: no copy, no address, nothing to match."""
    rng = case.rng
    own = c.world_msgid(rng, case.host, case.dt)
    text = rng.choice(
        [
            "Your message could not be delivered.\n\nReason: remote server refused the message (550).\n"
            "This is an automatically generated message. Please do not reply.\n",
            "Message delivery failed after repeated attempts. The message has been deleted.\n"
            "No further delivery attempts will be made.\n",
            "Delivery report unavailable: the original message was too large to return.\n",
        ]
    )
    hdr = head(
        case,
        frm=f"Mail Gateway <postmaster@{case.host}>",
        subject="Delivery failure",
        own_id=own,
        ctype="Content-Type: text/plain; charset=us-ascii",
    )
    return Built(hdr + "\n" + text, own, has_ref=False)


def quota_noref(case: Case) -> Built:
    """A webmail provider's 'mailbox full' notice naming the recipient, no copy."""
    rng, o = case.rng, case.original
    addr = o.recipients[0]
    own = c.world_msgid(rng, case.host, case.dt)
    text = (
        "This is an automatically generated delivery notification.\n\n"
        "Your message could not be delivered because the recipient's mailbox is full.\n\n"
        f"Recipient: {addr}\nStatus: 5.2.2 (mailbox full)\nDate: {c.rfc_date(case.dt)}\n"
    )
    hdr = head(
        case,
        frm=f"Mail Delivery System <mailer-daemon@{case.host}>",
        subject="Mail delivery failed: mailbox full",
        own_id=own,
        ctype="Content-Type: text/plain; charset=utf-8",
    )
    return Built(hdr + "\n" + text, own, has_ref=False, rcpts_stated=[addr])


FORMATS += [
    Format(
        "exchange55",
        "bounce",
        DESC + "Exchange 5.5 IMS non-delivery report (no attachment)",
        exchange55,
        4,
        modes=("noref",),
    ),
    Format(
        "gateway-noref",
        "bounce",
        DESC + "terse appliance failure notice without any reference",
        gateway_noref,
        4,
        modes=("noref",),
    ),
    Format(
        "webmail-quota",
        "bounce",
        DESC + "webmail 'mailbox full' notice naming the recipient",
        quota_noref,
        4,
        modes=("noref",),
    ),
]
