"""Mailing-list "confirm your subscription" requests sent to a forged address.

Written from the list managers' public descriptions and the well-known wording
of their confirmation notices. A request made through a web form names no
original message; one made by mail (a "subscribe" command) is answered with
In-Reply-To, and that command message is the original.
"""

from __future__ import annotations

from functools import partial

from tests.corpus.generate import common as c
from tests.corpus.generate.cases import Built, Case, Format, head

DESC = "written from public description: "


def _list(case: Case) -> tuple[str, str, str]:
    """(list name, list domain, list address) of the request the original made."""
    request = case.original.recipients[0]
    name = request.split("@")[0].removesuffix("-request")
    domain = request.split("@")[1]
    return name, domain, f"{name}@{domain}"


def confirmation(case: Case, manager: str) -> Built:
    rng, o = case.rng, case.original
    name, domain, lst = _list(case)
    user = case.rcpt
    cookie = c.hexs(rng, 40, upper=False)
    by_mail = case.quoting and manager in ("mailman3", "majordomo", "listserv")
    extra = [f"In-Reply-To: {o.message_id}"] if by_mail else []
    if manager == "mailman2":
        frm, mail_from = f"{name}-request@{domain}", f"{name}-bounces@{domain}"
        subject = f"confirm {cookie}"
        text = (
            f"Mailing list subscription confirmation notice for mailing list {name.capitalize()}\n\n"
            "We have received a request from 203.0.113.45 for subscription of your\n"
            f'email address, "{user}", to the {lst} mailing list.\nTo confirm that you want to be '
            "added to this mailing list, simply reply to\nthis message, keeping the Subject: header intact.  "
            f"Or visit this\nweb page:\n\n    https://{domain}/mailman/confirm/{name}/{cookie}\n\n"
            "If you do not wish to be subscribed to this list, please simply\ndisregard this message.\n"
        )
        extra += [
            "X-List-Administrivia: yes",
            "X-Mailman-Version: 2.1.39",
            "Precedence: bulk",
            f"Reply-To: {name}-request@{domain}",
        ]
    elif manager == "mailman3":
        frm = f"{name}-confirm+{cookie}@{domain}"
        mail_from = f"{name}-bounces@{domain}"
        subject = f"Your confirmation is needed to join the {lst} mailing list."
        text = (
            f"Email Address Registration Confirmation\n\nHello, this is the GNU Mailman server at "
            f"{domain}.\n\n"
            f"We have received a registration request for the email address\n\n    {user}\n\n"
            "Before you can start using GNU Mailman at this site, you must first confirm\nthat this is your "
            "email address.  You can do this by replying to this message.\n\nOr you should include the "
            f"following line -- and only the following\nline -- in a message to {name}-request@{domain}:\n\n"
            f"    confirm {cookie}\n\nIf you do not wish to register this email address, simply disregard "
            f"this\n"
            "message.\n"
        )
        extra += ["Auto-Submitted: auto-generated", "Precedence: bulk", "X-Mailman-Version: 3.3.9"]
    elif manager == "majordomo":
        frm, mail_from = f"Majordomo@{domain}", f"owner-majordomo@{domain}"
        subject = f"Confirmation for subscribe {name}"
        auth = c.hexs(rng, 8, upper=False)
        text = (
            f"Someone (possibly you) has requested that your email address be added\nto or deleted from the "
            f'mailing list "{lst}".\n\nIf you really want this action to be taken, please send the '
            "following\n"
            f'commands (exactly as shown) back to "Majordomo@{domain}":\n\n\tauth {auth} subscribe {name} '
            f"{user}\n\nIf you do not want this action to be taken, simply ignore this message\nand the "
            f"request "
            "will be disregarded.\n"
        )
        extra += ["Precedence: junk"]
    elif manager == "ezmlm":
        frm, mail_from = f"{name}-help@{domain}", f"{name}-return-{rng.randrange(100, 9999)}-@{domain}"
        subject = f"confirm subscribe to {lst}"
        confirm = f"{name}-sc.{int(case.dt.timestamp())}.{c.token(rng, 20)}-{user.replace('@', '=')}@{domain}"
        text = (
            f"Hi! This is the ezmlm program. I'm managing the\n{lst} mailing list.\n\n"
            f"To confirm that you would like\n\n   {user}\n\nadded to the {name} mailing list, please send\n"
            f"a short reply to this address:\n\n   {confirm}\n\nUsually, this happens when you just hit the "
            '"reply" button.\n'
        )
        extra += [f"Reply-To: {confirm}", "Mailing-List: contact " + f"{name}-help@{domain}; run by ezmlm"]
    elif manager == "listserv":
        frm, mail_from = (
            f'"L-Soft list server at {domain.upper()} (16.5)" <LISTSERV@{domain}>',
            f"owner-listserv@{domain}",
        )
        subject = f"{name.upper()}: Subscription confirmation request"
        text = (
            f"Your subscription request to the {name.upper()} list requires confirmation. To confirm the\n"
            f"request, please point your browser to:\n\nhttps://{domain}/scripts/wa.exe?OK={c.hexs(rng, 8)}"
            f"&L={name.upper()}\n\nor reply to this message with the word OK in the body.\n"
        )
        extra += ["Precedence: bulk"]
    else:  # sympa
        frm, mail_from = f"SYMPA <sympa@{domain}>", f"sympa-request@{domain}"
        subject = f"Confirm your subscription to list {name}"
        text = (
            f"Someone (hopefully you) asked to subscribe {user} to list {lst}.\n\nTo confirm, "
            f"click the following link:\n\nhttps://{domain}/sympa/ticket/{c.hexs(rng, 20, False)}\n\n"
            "If you did not ask for this, ignore this message.\n"
        )
        extra += ["Auto-Submitted: auto-replied", "X-Loop: sympa@" + domain]
    hdr = head(
        case,
        frm=frm,
        subject=subject,
        own_id=c.world_msgid(rng, domain, case.dt),
        ctype="Content-Type: text/plain; charset=us-ascii",
        extra=extra,
        received_from="mail." + domain,
    )
    built = Built(hdr + "\n" + text, None, mail_from=mail_from, has_ref=by_mail)
    built.own_id = hdr.split("Message-ID: ", 1)[1].split("\n", 1)[0]
    return built


def _fmt(manager: str, desc: str, modes: tuple[str, ...]) -> Format:
    return Format(
        f"subscribe-{manager}",
        "subscription",
        DESC + desc,
        partial(confirmation, manager=manager),
        len(modes),
        modes=modes,
        list_target="request",
    )


FORMATS = [
    _fmt("mailman2", "Mailman 2.1 subscription confirmation notice", ("noref", "noref", "noref")),
    _fmt("mailman3", "Mailman 3 registration confirmation", ("normal", "noref", "forged", "normal")),
    _fmt("majordomo", "Majordomo 1.94 'Confirmation for subscribe'", ("normal", "forged", "noref")),
    _fmt("ezmlm", "ezmlm 'confirm subscribe to' request", ("noref", "noref", "noref")),
    _fmt("listserv", "L-Soft LISTSERV subscription confirmation request", ("normal", "noref", "normal")),
    _fmt("sympa", "Sympa subscription confirmation ticket", ("noref", "noref")),
]
