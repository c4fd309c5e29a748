"""RFC 3464 reports of many producers, and the Exchange / Office 365 family.

Written from RFC 3464 and the producers' public descriptions and published
samples of their wording. Office 365's "Original message headers" marker is
given in nine languages; the translations follow Microsoft's NDR layout and
are approximations where the exact vendor string was not at hand.
"""

from __future__ import annotations

import html
import uuid
from functools import partial

from tests.corpus.generate import common as c
from tests.corpus.generate.cases import Built, Case, Format, failure_reason, head

DESC = "written from public description: "


def _status_part(
    case: Case,
    mta: str,
    failed: list[str],
    action: str = "failed",
    envid: str | None = None,
    extra_per_msg: list[str] | None = None,
    cte: str | None = None,
) -> tuple[str, list[str]]:
    rng = case.rng
    fields = [f"Reporting-MTA: dns; {mta}"]
    if envid:
        fields.append(f"Original-Envelope-Id: {envid}")
    fields += extra_per_msg or []
    fields.append(f"Arrival-Date: {c.rfc_date(case.original.date)}")
    text = "\n".join(fields) + "\n"
    diags: list[str] = []
    for addr in failed:
        status, diag = failure_reason(rng, addr)
        if action == "delayed":
            status, diag = "4.4.1", f"connect to {case.host}[{c.ip(rng)}]:25: Connection timed out"
        diags.append(diag)
        text += (
            f"\nFinal-Recipient: rfc822; {addr}\n"
            + (f"Original-Recipient: rfc822;{addr}\n" if rng.random() < 0.4 else "")
            + f"Action: {action}\nStatus: {status}\n"
            + f"Remote-MTA: dns; {case.host}\nDiagnostic-Code: smtp; {diag}\n"
        )
    return c.part("message/delivery-status", text, cte=cte, charset=None), diags


def _returned(case: Case, how: str, fold_id: bool = False) -> str:
    o = case.original
    if how == "rfc822":
        return "Content-Type: message/rfc822\nContent-Description: Undelivered Message\n\n" + o.full(fold_id)
    return c.part(
        "text/rfc822-headers",
        o.headers(fold_id),
        charset=None,
        extra=["Content-Description: Undelivered Message Headers"],
    )


def _report(
    case: Case,
    *,
    frm: str,
    subject: str,
    own: str,
    human: list[str],
    mta: str,
    returned: str,
    extra: list[str] | None = None,
    action: str = "failed",
    envid: str | None = None,
    failed: list[str] | None = None,
    status_cte: str | None = None,
) -> Built:
    rng = case.rng
    bnd = c.boundary(rng)
    failed = failed or case.original.recipients[:1]
    status, _ = _status_part(case, mta, failed, action, envid, cte=status_cte)
    parts = [*human, status]
    if case.quoting:
        parts.append(_returned(case, returned, fold_id=rng.random() < 0.3))
    hdr = head(
        case,
        frm=frm,
        subject=subject,
        own_id=own,
        ctype=f'Content-Type: multipart/report; report-type=delivery-status;\n\tboundary="{bnd}"',
        extra=extra,
    )
    return Built(hdr + "\n" + c.multipart(bnd, parts), own, has_ref=case.quoting, rcpts_stated=failed)


def sendmail_dsn(case: Case) -> Built:
    rng, o = case.rng, case.original
    own = f"<{case.dt.strftime('%Y%m%d%H%M')}.{c.token(rng, 8)}{rng.randrange(100, 999)}@{case.host}>"
    addr = o.recipients[0]
    text = (
        f"The original message was received at {c.rfc_date(o.date)}\nfrom mail.{c.SITE} [198.51.100.7]\n\n"
        f"   ----- The following addresses had permanent fatal errors -----\n<{addr}>\n"
        f"    (reason: 550 5.1.1 <{addr}>... User unknown)\n\n   ----- Transcript of session follows -----\n"
        f"... while talking to {case.host}.:\n>>> RCPT To:<{addr}>\n<<< 550 5.1.1 <{addr}>... User unknown\n"
        f"550 5.1.1 <{addr}>... User unknown\n"
    )
    human = [c.part("text/plain", text, charset="us-ascii")]
    return _report(
        case,
        frm=f"Mail Delivery Subsystem <MAILER-DAEMON@{case.host}>",
        subject="Returned mail: see transcript for details",
        own=own,
        human=human,
        mta=case.host,
        returned="rfc822" if rng.random() < 0.6 else "headers",
        extra=["Auto-Submitted: auto-generated (failure)"],
    )


def exim_new(case: Case) -> Built:
    rng, o = case.rng, case.original
    own = f"<E1t{c.token(rng, 4)}-00{rng.randrange(10, 99)}{c.token(rng, 2)}-{c.token(rng, 2)}@{case.host}>"
    failed = o.recipients[:1]
    text = (
        "This message was created automatically by mail delivery software.\n\n"
        "A message that you sent could not be delivered to one or more of its\n"
        "recipients. This is a permanent error. The following address(es) failed:\n\n"
    )
    for addr in failed:
        text += (
            f"  {addr}\n    host {case.host} [{c.ip(rng)}]\n    SMTP error from remote mail server after "
            f"RCPT TO:<{addr}>:\n    550 5.1.1 User unknown\n"
        )
    human = [c.part("text/plain", text)]
    return _report(
        case,
        frm=f"Mail Delivery System <Mailer-Daemon@{case.host}>",
        subject="Mail delivery failed: returning message to sender",
        own=own,
        human=human,
        mta=case.host,
        returned="rfc822",
        failed=failed,
        extra=["Auto-Submitted: auto-replied", f"X-Failed-Recipients: {failed[0]}"],
    )


def courier_dsn(case: Case) -> Built:
    rng, o = case.rng, case.original
    own = f"<courier.{c.hexs(rng, 16)}.{c.hexs(rng, 8, False)}@{case.host}>"
    addr = o.recipients[0]
    text = (
        f"This is a delivery status notification from {case.host},\nrunning the Courier mail server, "
        "version 1.1.8.\n\nThe original message was received on "
        f"{c.rfc_date(o.date)}\nfrom mail.{c.SITE} (mail.{c.SITE} [198.51.100.7])\n\n"
        "---------------------------------------------------------------------------\n\n"
        "                           UNDELIVERABLE MAIL\n\nYour message to the following recipients "
        f"cannot be delivered:\n\n<{addr}>:\n    {case.host} [{c.ip(rng)}]:\n>>> RCPT TO:<{addr}>\n"
        "<<< 550 5.1.1 User unknown\n\n"
        "---------------------------------------------------------------------------\n\n"
        "If your message was also sent to additional recipients, their delivery\n"
        "status is not included in this report.  You may or may not receive\n"
        "other delivery status notifications for additional recipients.\n\n"
        "The original message follows as a separate attachment.\n"
    )
    human = [c.part("text/plain", text, charset="us-ascii", cte="7bit")]
    return _report(
        case,
        frm=f"Courier mail server at {case.host} <@>",
        subject="DELIVERY FAILURE",
        own=own,
        human=human,
        mta=case.host,
        returned="rfc822",
    )


def exchange2003(case: Case) -> Built:
    rng, o = case.rng, case.original
    addr = o.recipients[0]
    own = f"<{c.hexs(rng, 8)}{c.hexs(rng, 8)}@{case.host}>"
    text = (
        f"Your message\n\n  To:      {addr}\n  Subject: {o.subject}\n  Sent:    "
        f"{o.date.strftime('%a, %d %b %Y %H:%M:%S')} +0100\n\ndid not reach the following recipient(s):\n\n"
        f"{addr} on {case.dt.strftime('%a, %d %b %Y %H:%M:%S')} +0100\n"
        "    The e-mail account does not exist at the organization this message was sent to.  Check the "
        "e-mail address, or contact the recipient directly to find out the correct address.\n"
        f"    <{case.host} #5.1.1>\n"
    )
    human = [c.part("text/plain", text, charset="unicode-1-1-utf-7", cte="7bit")]
    return _report(
        case,
        frm=f"System Administrator <postmaster@{addr.split('@')[1]}>",
        subject=f"Undeliverable: {c.encoded_word(o.subject)}",
        own=own,
        human=human,
        mta=case.host,
        returned="rfc822",
        extra=["X-MimeOLE: Produced By Microsoft Exchange V6.5"],
    )


O365 = {
    # lang: (subject prefix, failed-to line, original-headers marker, diagnostic line)
    "en": (
        "Undeliverable:",
        "Delivery has failed to these recipients or groups:",
        "Original message headers:",
        "Diagnostic information for administrators:",
    ),
    "fr": (
        "Non remis :",
        "La remise a échoué pour ces destinataires ou groupes :",
        "En-têtes de message d'origine :",
        "Informations de diagnostic pour les administrateurs :",
    ),
    "de": (
        "Unzustellbar:",
        "Fehler bei der Zustellung an folgende Empfänger oder Gruppen:",
        "Ursprüngliche Nachrichtenkopfzeilen:",
        "Diagnoseinformationen für Administratoren:",
    ),
    "es": (
        "No se puede entregar:",
        "Error en la entrega a estos destinatarios o grupos:",
        "Encabezados del mensaje original:",
        "Información de diagnóstico para administradores:",
    ),
    "it": (
        "Non recapitabile:",
        "Recapito non riuscito ai destinatari o ai gruppi seguenti:",
        "Intestazioni originali del messaggio:",
        "Informazioni di diagnostica per gli amministratori:",
    ),
    "pt": (
        "Não é possível entregar:",
        "A entrega falhou para estes destinatários ou grupos:",
        "Cabeçalhos da mensagem original:",
        "Informações de diagnóstico para administradores:",
    ),
    "nl": (
        "Onbestelbaar:",
        "Bezorging is mislukt voor deze ontvangers of groepen:",
        "Oorspronkelijke berichtkoppen:",
        "Diagnostische gegevens voor beheerders:",
    ),
    "sv": (
        "Olevererbart:",
        "Leveransen misslyckades till följande mottagare eller grupper:",
        "Ursprungliga meddelandehuvuden:",
        "Diagnostisk information för administratörer:",
    ),
    "ja": (
        "配信不能:",
        "これらの受信者またはグループへの配信に失敗しました:",
        "元のメッセージ ヘッダー:",
        "管理者向けの診断情報:",
    ),
}


def _o365_headers(case: Case) -> str:
    """The 'Original message headers' block as Office 365 prints it (no body)."""
    rng, o = case.rng, case.original
    lines = [
        f"Received: from "
        f"AM0PR{rng.randrange(10, 99)}MB{rng.randrange(1000, 9999)}.eurprd0{rng.randrange(1, 9)}"
        f".prod.outlook.com\n ({c.ip(rng)}) by DB{rng.randrange(1, 9)}PR{rng.randrange(10, 99)}MB"
        f"{rng.randrange(1000, 9999)}.eurprd0{rng.randrange(1, 9)}.prod.outlook.com with Microsoft SMTP "
        f"Server "
        f"(version=TLS1_2,\n cipher=TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384) id 15.20.8158.12; "
        f"{o.date.strftime('%a, %d %b %Y %H:%M:%S')} +0000"
    ]
    block = o.headers(fold_id=rng.random() < 0.4, received=False)
    block = block.replace("User-Agent:", "X-Mailer:")
    return "\n".join(lines) + "\n" + block


def _o365_html(case: Case, lang: str, headers: str, double: bool) -> str:
    _, failed_line, marker, diag = O365[lang]
    addr = case.original.recipients[0]
    escaped = html.escape(headers, quote=False)
    if double:
        escaped = html.escape(escaped, quote=False)
    escaped_lines = escaped.rstrip("\n").split("\n")
    rows = "<br>\n".join(escaped_lines)
    return (
        f'<html>\n<head>\n<meta http-equiv="Content-Type" content="text/html; charset=utf-8">\n</head>\n'
        f'<body>\n<p><b><font color="#000066" size="3" face="Arial">'
        f"{html.escape(failed_line)}</font></b></p>\n"
        f'<p><font color="#000000" size="2" face="Tahoma"><a href="mailto:{addr}">{addr}</a><br>\n'
        f'</font></p>\n<p><font color="#808080" size="2" face="Tahoma">{html.escape(diag)}<br><br>\n'
        f"Server: {case.host}<br>\n550 5.1.10 RESOLVER.ADR.RecipientNotFound; Recipient not found by SMTP "
        f'address lookup<br>\n</font></p>\n<p><font color="#808080" size="2" face="Tahoma">'
        f'{html.escape(marker)}</font></p>\n<p><font color="#808080" size="2" face="Tahoma">'
        f'<pre style="font-size:9pt">\n{rows}\n</pre></font></p>\n</body>\n</html>\n'
    )


def _o365_text(case: Case, lang: str, headers: str) -> str:
    _, failed_line, marker, diag = O365[lang]
    addr = case.original.recipients[0]
    return (
        f"{failed_line}\n\n{addr}\n\n{diag}\n\nGenerating server: {case.host}\n\n{addr}\n"
        f"Remote Server returned '550 5.1.10 RESOLVER.ADR.RecipientNotFound; Recipient not found by SMTP "
        f"address lookup'\n\n{marker}\n\n{headers}"
    )


def o365(case: Case, lang: str, report: bool) -> Built:
    """Office 365 / Exchange 2013+ NDR; report=False: the HTML/text alternative alone."""
    rng, o = case.rng, case.original
    prefix = O365[lang][0]
    domain = case.host.split(".", 1)[1]
    own = f"<{uuid.UUID(int=rng.getrandbits(128), version=4)}@"
    own += f"EUR0{rng.randrange(1, 6)}.prod.protection.outlook.com>"
    headers = _o365_headers(case) if case.quoting else ""
    alt_bnd = c.boundary(rng, 2)
    double = rng.random() < 0.3
    cte_text = rng.choice(["base64", "quoted-printable", "8bit"])
    cte_html = rng.choice(["base64", "quoted-printable"])
    alt = c.multipart(
        alt_bnd,
        [
            c.part("text/plain", _o365_text(case, lang, headers), cte=cte_text, charset="utf-8"),
            c.part("text/html", _o365_html(case, lang, headers, double), cte=cte_html, charset="utf-8"),
        ],
        preamble="",
    )
    human = f'Content-Type: multipart/alternative; differences=Content-Type;\n\tboundary="{alt_bnd}"\n\n{alt}'
    subject = c.encoded_word(f"{prefix} {o.subject}")
    frm = f"Microsoft Outlook <MicrosoftExchange329e71ec88ae4615bbc36ab6ce41109e@{domain}>"
    extra = ["X-MS-Exchange-Message-Is-Ndr:", "Auto-Submitted: auto-replied", "Content-Language: " + lang]
    if report:
        built = _report(
            case,
            frm=frm,
            subject=subject,
            own=own,
            human=[human],
            mta=case.host,
            returned="headers" if rng.random() < 0.5 else "rfc822",
            extra=extra,
        )
        return built
    hdr = head(
        case,
        frm=frm,
        subject=subject,
        own_id=own,
        ctype=f'Content-Type: multipart/alternative;\n\tboundary="{alt_bnd}"',
        extra=extra,
    )
    return Built(hdr + "\n" + alt, own, has_ref=case.quoting, rcpts_stated=[o.recipients[0]])


def exchange2010_text(case: Case) -> Built:
    rng, o = case.rng, case.original
    addr = o.recipients[0]
    own = f"<{c.hexs(rng, 8)}-{c.hexs(rng, 4)}-{c.hexs(rng, 4)}@{case.host}>"
    headers = o.headers(fold_id=rng.random() < 0.5, received=True)
    text = (
        "Delivery has failed to these recipients or groups:\n\n"
        f"{addr}\nThe e-mail address you entered couldn't be found. Please check the recipient's e-mail "
        "address and try to resend the message. If the problem continues, please contact your helpdesk.\n\n"
        f"Diagnostic information for administrators:\n\nGenerating server: {case.host}\n\n{addr}\n"
        f"#550 5.1.1 RESOLVER.ADR.RecipientNotFound; not found ##\n\nOriginal message headers:\n\n"
    )
    text += headers
    cte = rng.choice(["7bit", "quoted-printable", "base64"])
    hdr = head(
        case,
        frm=f"Microsoft Exchange <postmaster@{addr.split('@')[1]}>",
        subject=c.encoded_word(f"Undeliverable: {o.subject}"),
        own_id=own,
        ctype='Content-Type: text/plain; charset="utf-8"',
        extra=[f"Content-Transfer-Encoding: {cte}", "X-MS-Exchange-Message-Is-Ndr:"],
    )
    return Built(hdr + "\n" + c.encode(text, cte), own, rcpts_stated=[addr])


def gmail_dsn(case: Case) -> Built:
    rng, o = case.rng, case.original
    addr = o.recipients[0]
    own = f"<{c.token(rng, 24, 'abcdef0123456789')}.{rng.randrange(10, 99)}@mx.google.com>"
    text = (
        f"\n** Address not found **\n\nYour message wasn't delivered to {addr} because the address couldn't "
        "be found, or is unable to receive mail.\n\nLearn more here: https://support.google.com/mail/?p=NoSuchUser\n\n"
        f"The response was:\n\n550 5.1.1 The email account that you tried to reach does not exist.\n"
    )
    alt_bnd = c.token(rng, 28, "0123456789abcdef")
    body_html = "<html><body>" + html.escape(text).replace("\n", "<br>\n") + "</body></html>\n"
    alt = c.multipart(
        alt_bnd,
        [
            c.part("text/plain", text, charset="UTF-8"),
            c.part("text/html", body_html, charset="UTF-8", cte="quoted-printable"),
        ],
        "",
    )
    human = (
        f'Content-Type: multipart/related; boundary="{alt_bnd}r"\n\n--{alt_bnd}r\n'
        f'Content-Type: multipart/alternative; boundary="{alt_bnd}"\n\n{alt}\n--{alt_bnd}r--\n'
    )
    return _report(
        case,
        frm="Mail Delivery Subsystem <mailer-daemon@googlemail.com>",
        subject="Delivery Status Notification (Failure)",
        own=own,
        human=[human],
        mta="mx.google.com",
        returned="rfc822" if rng.random() < 0.5 else "headers",
        extra=["Auto-Submitted: auto-replied", f"X-Failed-Recipients: {addr}"],
        status_cte=None,
    )


def gmail_legacy(case: Case) -> Built:
    rng, o = case.rng, case.original
    addr = o.recipients[0]
    own = f"<{c.token(rng, 22, 'abcdef0123456789')}@googlemail.com>"
    text = (
        f"Delivery to the following recipient failed permanently:\n\n     {addr}\n\n"
        f"Technical details of permanent failure:\nGoogle tried to deliver your message, but it was rejected "
        f"by the recipient domain. We recommend contacting the other email provider for further information "
        f"about the cause of this error. The error that the other server returned was: 550 550 5.1.1 "
        f"<{addr}>: "
        "Recipient address rejected: User unknown (state 14).\n\n   ----- Original message -----\n\n"
    )
    text += o.headers(fold_id=rng.random() < 0.3, received=False) + "\n" + o.encoded_body()
    hdr = head(
        case,
        frm="Mail Delivery Subsystem <mailer-daemon@googlemail.com>",
        subject="Delivery Status Notification (Failure)",
        own_id=own,
        ctype="Content-Type: text/plain; charset=ISO-8859-1",
        extra=["Content-Transfer-Encoding: quoted-printable"],
    )
    return Built(hdr + "\n" + c.qp_body(text, "utf-8"), own, rcpts_stated=[addr])


def yahoo(case: Case) -> Built:
    rng, o = case.rng, case.original
    addr = o.recipients[0]
    hdr = head(
        case,
        frm="MAILER-DAEMON@yahoo.com",
        subject="Failure Notice",
        own_id=None,
        ctype="",
        mime=False,
        received_from="mta1" + str(rng.randrange(100, 999)) + ".mail.ne1.yahoo.com",
    )
    body = (
        "Sorry, we were unable to deliver your message to the following address.\n\n"
        f"<{addr}>:\nRemote host said: 554 delivery error: dd This user doesn't have a yahoo.com account "
        f"({addr}) [0] - mta{rng.randrange(1000, 9999)}.mail.ne1.yahoo.com\n\n"
        "--- Below this line is a copy of the message.\n\n"
    )
    body += (
        f"Received: from [{c.ip(rng)}] by nm{rng.randrange(10, 99)}.bullet.mail.ne1.yahoo.com with NNFMP; "
        f"{c.rfc_date(o.date)}\n" + o.full(fold_id=rng.random() < 0.4)
    )
    return Built(hdr + "\n" + body, None, rcpts_stated=[addr])


def aol(case: Case) -> Built:
    rng, o = case.rng, case.original
    addr = o.recipients[0]
    own = f"<{c.hexs(rng, 12)}.{rng.randrange(1000, 9999)}@aol.com>"
    bnd = c.boundary(rng, 0)
    text = (
        f"Your mail to the following recipients could not be delivered because they are not accepting mail "
        f"from {o.sender}:\n\t{addr.split('@')[0]}\n"
    )
    parts = [c.part("text/plain", text, charset="US-ASCII")]
    if case.quoting:
        parts.append(c.rfc822_part(o.full()))
    hdr = head(
        case,
        frm="Mail Delivery Subsystem <MAILER-DAEMON@aol.com>",
        subject="Returned mail: Not accepting mail",
        own_id=own,
        ctype=f'Content-Type: multipart/mixed; boundary="{bnd}"',
    )
    return Built(hdr + "\n" + c.multipart(bnd, parts), own, has_ref=case.quoting)


def amazon_ses(case: Case) -> Built:
    rng, o = case.rng, case.original
    addr = o.recipients[0]
    own = f"<0100{c.hexs(rng, 12, False)}-{c.hexs(rng, 8, False)}-"
    own += f"{c.hexs(rng, 4, False)}-000000@email.amazonses.com>"
    text = f"An error occurred while trying to deliver the mail to the following recipients:\n{addr}\n"
    human = [c.part("text/plain", text, charset="UTF-8", cte="7bit")]
    return _report(
        case,
        frm="MAILER-DAEMON@amazonses.com",
        subject="Delivery Status Notification (Failure)",
        own=own,
        human=human,
        mta="a8-" + str(rng.randrange(10, 99)) + ".smtp-out.amazonses.com",
        returned="rfc822",
        extra=["X-Original-Mailer: Amazon SES"],
    )


def sun_messaging(case: Case) -> Built:
    rng, o = case.rng, case.original
    addr = o.recipients[0]
    own = f"<0{c.hexs(rng, 8)}.{c.hexs(rng, 4)}@{case.host}>"
    text = (
        "This report relates to a message you sent with the following header fields:\n\n"
        + (f"  Message-id: {o.message_id}\n" if case.quoting else "")
        + f"  Date: {c.rfc_date(o.date)}\n  From: {o.from_header}\n  To: {addr}\n"
        f"  Subject: {c.encoded_word(o.subject)}\n\nYour message cannot be delivered to the following "
        f"recipients:\n\n"
        f"  Recipient address: {addr}\n  Reason: Remote SMTP server has rejected address\n"
        f"  Diagnostic code: smtp;550 5.1.1 unknown or illegal alias: {addr}\n  Remote system: "
        f"dns;{case.host}\n"
    )
    human = [c.part("text/plain", text, charset="us-ascii", extra=["Content-language: EN-US"])]
    built = _report(
        case,
        frm=f"Internet Mail Delivery <postmaster@{case.host}>",
        subject="Delivery Notification: Delivery has failed",
        own=own,
        human=human,
        mta=case.host,
        returned="headers",
        extra=["Original-recipient: rfc822;" + addr],
    )
    return built


def mailmarshal(case: Case) -> Built:
    rng, o = case.rng, case.original
    addr = o.recipients[0]
    mid = f"B{rng.randrange(10**8, 10**9)}.{rng.randrange(1000, 9999)}"
    text = (
        f"MailMarshal has stopped the following message:\n\n   Message: {mid}\n   From:    {o.sender}\n"
        f"   To:      {addr}\n   Subject: {o.subject}\n\nBlocked by Rule Set: Inbound Security Policy\n"
        "   Rule: Block executable attachments\n\nThe message was blocked because it contains content "
        "that is not permitted by our email policy.\n"
    )
    if case.quoting:
        text += "\nMessage header of the original message:\n\n" + o.headers(fold_id=rng.random() < 0.4)
    hdr = head(
        case,
        frm=f"MailMarshal <mailmarshal@{addr.split('@')[1]}>",
        subject=f"Message blocked: {c.encoded_word(o.subject)}",
        own_id=None,
        ctype='Content-Type: text/plain; charset="iso-8859-1"',
        extra=["X-MailMarshal: notification"],
        received_from=case.host,
    )
    return Built(hdr + "\n" + text, None, mail_from="", has_ref=case.quoting, rcpts_stated=[addr])


def interscan(case: Case) -> Built:
    rng, o = case.rng, case.original
    addr = o.recipients[0]
    own = f"<{c.hexs(rng, 16, False)}@imss.{addr.split('@')[1]}>"
    text = (
        "The message you sent was blocked by the InterScan Messaging Security Suite policy.\n\n"
        f"Sender: {o.sender}\nRecipient: {addr}\nSubject: {o.subject}\n"
        "Rule: Attachment type blocked (Windows executable)\n\n"
    )
    bnd = c.boundary(rng, 1)
    parts = [c.part("text/plain", text, charset="UTF-8", cte="quoted-printable")]
    if case.quoting:
        parts.append(
            c.part(
                "text/plain",
                o.headers(),
                charset="UTF-8",
                cte="base64",
                extra=['Content-Disposition: attachment; filename="original_headers.txt"'],
            )
        )
    hdr = head(
        case,
        frm=f"InterScan MSS for SMTP <imss@{addr.split('@')[1]}>",
        subject="Undeliverable: message blocked by policy",
        own_id=own,
        ctype=f'Content-Type: multipart/mixed; boundary="{bnd}"',
    )
    return Built(hdr + "\n" + c.multipart(bnd, parts), own, has_ref=case.quoting, rcpts_stated=[addr])


SES = DESC + "Amazon SES bounce notification (RFC 3464)"
FORMATS = [
    Format("sendmail-v8-dsn", "dsn", DESC + "Sendmail 8 DSN (RFC 3464 with transcript)", sendmail_dsn, 5),
    Format("exim4-new", "dsn", DESC + "Exim 4.9x bounce template (multipart/report)", exim_new, 5),
    Format("courier", "dsn", DESC + "Courier mail server DSN", courier_dsn, 4),
    Format("exchange2003", "dsn", DESC + "Exchange 2003 NDR (multipart/report)", exchange2003, 4),
    Format(
        "exchange2010-text",
        "bounce",
        DESC + "Exchange 2010 NDR text with 'Original message headers'",
        exchange2010_text,
        4,
        noref=False,
    ),
    Format("gmail-dsn", "dsn", DESC + "Gmail 'Address not found' DSN", gmail_dsn, 5),
    Format(
        "gmail-legacy",
        "bounce",
        DESC + "Gmail 2010-era text bounce with '----- Original message -----'",
        gmail_legacy,
        3,
        noref=False,
    ),
    Format("yahoo", "bounce", DESC + "Yahoo! Mail 'Failure Notice' (qmail-derived)", yahoo, 4, noref=False),
    Format("aol", "bounce", DESC + "AOL 'Returned mail: Not accepting mail'", aol, 3),
    Format("amazon-ses", "dsn", SES, amazon_ses, 4),
    Format(
        "sun-messaging-server", "dsn", DESC + "Oracle/Sun Java System Messaging Server DSN", sun_messaging, 4
    ),
    Format("mailmarshal", "bounce", DESC + "MailMarshal SMTP block notification", mailmarshal, 3),
    Format(
        "trendmicro-interscan", "bounce", DESC + "Trend Micro InterScan MSS policy notification", interscan, 3
    ),
]
for _lang in O365:
    FORMATS.append(
        Format(
            f"exchange-o365-{_lang}",
            "dsn",
            DESC + f"Office 365 NDR (multipart/report), marker '{O365[_lang][2]}'",
            partial(o365, lang=_lang, report=True),
            3,
        )
    )
    FORMATS.append(
        Format(
            f"exchange-o365-html-{_lang}",
            "bounce",
            DESC + f"Office 365 NDR text+HTML alternative only, marker '{O365[_lang][2]}'",
            partial(o365, lang=_lang, report=False),
            3,
            noref=False,
        )
    )
