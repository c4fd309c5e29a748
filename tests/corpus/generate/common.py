"""Shared pieces of the corpus generator: seeded randomness, people, IDs, the
original message, MIME helpers, the expected verdict and the sidecar writer.

Everything random comes from a ``random.Random`` seeded from the format's name,
so a rerun writes byte-identical files and adding a format leaves the others
unchanged.
"""

from __future__ import annotations

import base64
import json
import quopri
import random
import uuid
import zlib
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, timezone
from email.utils import format_datetime
from pathlib import Path

from ledger import addresses, msgid

SEED = 20261127
SITE = "example.test"
BASE_DATE = datetime(2026, 11, 20, 9, 0, 0, tzinfo=UTC)

# docs/policy.md, "Defaults" (step 5): what a candidate without any reference gets.
# Written out here from the document, not imported from the code under test;
# tests/test_policy_doc.py holds the two to the document.
NO_REFERENCE_DEFAULT = {
    "dsn": "tag",
    "bounce": "tag",
    "virus": "reject",
    "challenge": "reject",
    "subscription": "tag",
    "autoreply": "tag",
    "mdn": "tag",
    "arf": "accept",
    "unknown": "tag",
}

# docs/policy.md, [inbound.unmatched]: per-kind exceptions to "reject" for unmatched references.
UNMATCHED_EXCEPTIONS = {"arf": "tag"}  # the abuse desk wants every report

# What each configured action leaves on the message: "pass" is a ledger match (accepted
# with a "pass (...)" trace header), "unverified" a tagged accept ("unverified (...)"),
# "accept" an accept without a trace, "reject" a 550.
OUTCOME_OF_ACTION = {"tag": "unverified", "accept": "accept", "reject": "reject"}


def action_of(outcome: str) -> str:
    """The SMTP answer an outcome comes down to: only a reject is not an accept."""
    return "reject" if outcome == "reject" else "accept"


OUR_PEOPLE = [
    ("Alice Martin", "alice"),
    ("Bruno Keller", "bruno"),
    ("Chloé Durand", "chloe"),
    ("Dmitri Volkov", "dmitri"),
    ("Eva Lindqvist", "eva"),
    ("Farid Haddad", "farid"),
    ("Greta Hoffmann", "greta"),
    ("Hiro Tanaka", "hiro"),
    ("Inês Costa", "ines"),
    ("Jonas Berg", "jonas"),
    ("Katrin Vogel", "katrin"),
    ("Lars Nilsson", "lars"),
    ("María López", "maria"),
    ("Noah Janssen", "noah"),
    ("Olga Petrova", "olga"),
    ("Pedro Alves", "pedro"),
    ("Quentin Moreau", "quentin"),
    ("Rosa Bianchi", "rosa"),
    ("Sven Ahlberg", "sven"),
    ("Tomoko Sato", "tomoko"),
    ("Ulrike Brandt", "ulrike"),
    ("Victor Nagy", "victor"),
    ("Wen Li", "wen"),
    ("Xavier Roux", "xavier"),
    ("Yusuf Demir", "yusuf"),
    ("Zoé Lefèvre", "zoe"),
    ("Support Desk", "support"),
    ("Sales Team", "sales"),
]
WORLD_FIRST = [
    "bob",
    "carol",
    "dave",
    "erin",
    "frank",
    "gina",
    "hans",
    "ivy",
    "jack",
    "kim",
    "lena",
    "marc",
    "nina",
    "oscar",
    "paula",
    "rui",
    "sara",
    "tom",
    "uwe",
    "vera",
    "walt",
    "yuki",
    "info",
    "contact",
    "orders",
    "j.smith",
    "a.meier",
    "p.rossi",
]
WORLD_DOMAINS = [
    "example.com",
    "example.net",
    "example.org",
    "mail.example",
    "corp.example",
    "shop.example",
    "univ.example",
    "isp.example",
    "agency.example",
    "bank.example",
    "hotel.example",
    "lists.example.org",
    "partner.example",
    "city.example",
]

LANGS = ["en", "en", "en", "de", "fr", "es", "it", "pt", "nl", "sv", "ja"]
SUBJECTS = {
    "en": [
        "Quarterly figures",
        "Meeting on Thursday",
        "Your invoice 4711",
        "Re: project plan",
        "Photos from the trip",
        "Draft contract for review",
        "Question about the order",
    ],
    "de": ["Angebot für Büromöbel", "Termin nächste Woche", "Rückfrage zur Rechnung"],
    "fr": ["Réunion de jeudi", "Devis pour les travaux", "Compte rendu de la séance"],
    "es": ["Reunión del jueves", "Presupuesto de la obra", "Pregunta sobre el pedido"],
    "it": ["Riunione di giovedì", "Preventivo per i lavori", "Domanda sull'ordine"],
    "pt": ["Reunião de quinta-feira", "Orçamento das obras", "Pergunta sobre a encomenda"],
    "nl": ["Vergadering donderdag", "Offerte voor de verbouwing", "Vraag over de bestelling"],
    "sv": ["Möte på torsdag", "Offert för renoveringen", "Fråga om beställningen"],
    "ja": ["打ち合わせの件", "見積書の送付", "ご注文についての質問"],
}
BODIES = {
    "en": "Hello,\n\nplease find the figures below. Let me know if anything is missing.\n\nBest regards,\n",
    "de": "Hallo,\n\nanbei die Unterlagen für das Gespräch. Grüße aus Köln und schöne Woche!\n\nViele "
    "Grüße\n",
    "fr": "Bonjour,\n\nvoici le document promis. N'hésitez pas à me répondre si besoin.\n\nCordialement,\n",
    "es": "Hola,\n\nte envío el documento que hablamos. Avísame si necesitas algo más.\n\nUn saludo,\n",
    "it": "Ciao,\n\nti mando il documento di cui abbiamo parlato. Fammi sapere.\n\nCordiali saluti,\n",
    "pt": "Olá,\n\nsegue o documento de que falámos. Qualquer dúvida, diga.\n\nCumprimentos,\n",
    "nl": "Hallo,\n\nhierbij het document waar we het over hadden. Laat maar weten.\n\nMet vriendelijke "
    "groet,\n",
    "sv": "Hej,\n\nhär är dokumentet vi pratade om. Hör av dig om något saknas.\n\nMed vänliga hälsningar,\n",
    "ja": "お世話になっております。\n\n資料を添付いたします。ご確認のほどよろしくお願いいたします。\n\n",
}
USER_AGENTS = [
    "Mozilla Thunderbird 128.4.0",
    "Microsoft Outlook 16.0",
    "Roundcube Webmail/1.6.9",
    "Apple Mail (2.3774.500.171.1.1)",
    "Evolution 3.46.4",
    "Mutt/2.2.9 (2022-11-12)",
    "K-9 Mail for Android",
]


def rng_for(name: str) -> random.Random:
    """A generator of its own for each format or category (stable across runs)."""
    return random.Random(SEED ^ zlib.crc32(name.encode()))


def when(rng: random.Random, days: float = 6.0) -> datetime:
    return BASE_DATE + timedelta(seconds=rng.randrange(int(days * 86400)))


def rfc_date(dt: datetime, tz_hours: int = 0) -> str:
    return format_datetime(dt.astimezone(timezone(timedelta(hours=tz_hours))))


def hexs(rng: random.Random, n: int, upper: bool = True) -> str:
    text = "".join(rng.choice("0123456789abcdef") for _ in range(n))
    return text.upper() if upper else text


def token(rng: random.Random, n: int, alphabet: str = "abcdefghijklmnopqrstuvwxyz0123456789") -> str:
    return "".join(rng.choice(alphabet) for _ in range(n))


def our_msgid(rng: random.Random, dt: datetime) -> str:
    """A Message-ID as one of our users' mail programs (or our milter) makes it."""
    style = rng.randrange(8)
    stamp = dt.strftime("%Y%m%d%H%M%S")
    if style == 0:
        return f"<{uuid.UUID(int=rng.getrandbits(128), version=4)}@{SITE}>"
    if style == 1:
        return f"<{stamp}.{hexs(rng, 10)}@mail.{SITE}>"
    if style == 2:
        return f"<{int(dt.timestamp()):x}.{hexs(rng, 32, upper=False)}@{SITE}>"
    if style == 3:
        head = f"<0{hexs(rng, 5, False)}01d{hexs(rng, 5, False)}"
        return head + f"${hexs(rng, 8, False)}${hexs(rng, 8, False)}$@{SITE}>"
    if style == 4:
        return f"<{str(uuid.UUID(int=rng.getrandbits(128), version=4)).upper()}@{SITE}>"
    if style == 5:
        b64 = token(rng, 40, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+_-")
        return f"<CA{b64}=@mail.{SITE}>"
    if style == 6:
        return f"<{hexs(rng, 32, upper=False)}@webmail.{SITE}>"
    return f"<{stamp}.GA{rng.randrange(10000, 99999)}@laptop-{token(rng, 4)}.{SITE}>"


def world_msgid(rng: random.Random, host: str, dt: datetime) -> str:
    """A Message-ID a remote system puts on its own notice (never a reference)."""
    style = rng.randrange(4)
    if style == 0:
        return f"<{dt.strftime('%Y%m%d%H%M%S')}.{hexs(rng, 10)}@{host}>"
    if style == 1:
        return f"<{uuid.UUID(int=rng.getrandbits(128), version=4)}@{host}>"
    if style == 2:
        return f"<{hexs(rng, 8, False)}.{rng.randrange(1000, 99999)}.{int(dt.timestamp())}@{host}>"
    return f"<E1t{token(rng, 3)}-{token(rng, 6)}-{token(rng, 2)}@{host}>"


def spammer_msgid(rng: random.Random) -> str:
    """What a spam bot forging our domain puts in Message-ID (never sent by us)."""
    style = rng.randrange(3)
    if style == 0:
        return (
            f"<000d01c{hexs(rng, 5, False)}${hexs(rng, 8, False)}${hexs(rng, 8, False)}@pc-{token(rng, 5)}>"
        )
    if style == 1:
        return f"<{hexs(rng, 8)}.{hexs(rng, 6)}@{SITE}>"
    return f"<{rng.randrange(10**9, 10**10)}.{rng.randrange(100, 999)}@{SITE}>"


def norm(value: str) -> str:
    result = msgid.normalise(value)
    assert result, value
    return result


def world_address(rng: random.Random) -> tuple[str, str]:
    first = rng.choice(WORLD_FIRST)
    domain = rng.choice(WORLD_DOMAINS)
    display = (
        first.split(".")[-1].capitalize()
        + " "
        + rng.choice(["Smith", "Meier", "Rossi", "Dubois", "García", "Silva", "de Vries"])
    )
    return display, f"{first}@{domain}"


def encoded_word(text: str, charset: str = "utf-8", b: bool = True) -> str:
    """RFC 2047 encoding of a header text, only when it is not plain ASCII."""
    if text.isascii():
        return text
    raw = text.encode(charset)
    if b:
        return f"=?{charset}?B?{base64.b64encode(raw).decode()}?="
    qp = quopri.encodestring(raw, header=True).decode().replace("\n", "")
    return f"=?{charset}?Q?{qp}?="


def mailbox(display: str, address: str) -> str:
    """``Display <address>`` for a header, the display name RFC 2047-encoded where it is not ASCII."""
    return f"{encoded_word(display)} <{address}>"


def fold(name: str, value: str, width: int = 76) -> str:
    """A header line folded at spaces, as most mail software writes it."""
    words = value.split(" ")
    lines: list[str] = []
    current = f"{name}:"
    for word in words:
        if len(current) + 1 + len(word) > width and current.strip() not in (f"{name}:",):
            lines.append(current)
            current = " " + word
        else:
            current += " " + word
    lines.append(current)
    return "\n".join(lines)


def b64_body(data: bytes) -> str:
    text = base64.b64encode(data).decode()
    return "\n".join(text[i : i + 76] for i in range(0, len(text), 76)) + "\n"


def qp_body(text: str, charset: str = "utf-8") -> str:
    return quopri.encodestring(text.encode(charset)).decode()


def encode(text: str, cte: str, charset: str = "utf-8") -> str:
    """The body of a part in the given Content-Transfer-Encoding."""
    if cte == "base64":
        return b64_body(text.encode(charset))
    if cte == "quoted-printable":
        return qp_body(text, charset)
    return text


def part(
    ctype: str,
    body: str,
    cte: str | None = None,
    extra: list[str] | None = None,
    charset: str | None = "utf-8",
) -> str:
    """One MIME part (headers, blank line, body)."""
    heads = [f"Content-Type: {ctype}" + (f"; charset={charset}" if charset else "")]
    heads += extra or []
    if cte:
        heads.append(f"Content-Transfer-Encoding: {cte}")
        body = encode(body, cte, charset or "utf-8")
    return "\n".join(heads) + "\n\n" + body


def rfc822_part(message: str) -> str:
    """A ``message/rfc822`` part carrying ``message`` as it is (no parameters, no encoding)."""
    return part("message/rfc822", message, charset=None)


def multipart(
    boundary: str, parts: list[str], preamble: str = "This is a multi-part message in MIME format.\n"
) -> str:
    out = preamble + "\n"
    for p in parts:
        out += f"--{boundary}\n{p}"
        if not p.endswith("\n"):
            out += "\n"
        out += "\n"
    out += f"--{boundary}--\n"
    return out


def boundary(rng: random.Random, style: int | None = None) -> str:
    style = rng.randrange(4) if style is None else style
    if style == 0:
        return f"{hexs(rng, 10)}.{rng.randrange(10**9, 10**10)}/mx.{rng.choice(WORLD_DOMAINS)}"
    if style == 1:
        return f"----=_NextPart_000_{hexs(rng, 4)}_{hexs(rng, 8)}.{hexs(rng, 8)}"
    if style == 2:
        return f"_000_{token(rng, 24, 'ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789')}_"
    return f"=_{token(rng, 16)}"


def received(rng: random.Random, helo: str, ip: str, rcpt: str, dt: datetime) -> str:
    """The Received line our MX adds (what the milter sees first)."""
    qid = hexs(rng, 10)
    return (
        f"Received: from {helo} ({helo} [{ip}])\n\tby mx.{SITE} (Postfix) with ESMTPS id {qid}\n"
        f"\tfor <{rcpt}>; {rfc_date(dt)}"
    )


def ip(rng: random.Random) -> str:
    return f"{rng.choice(['192.0.2', '198.51.100', '203.0.113'])}.{rng.randrange(2, 250)}"


@dataclass
class Original:
    """A message one of our users sent (or that a forger pretended they sent)."""

    message_id: str
    sender: str
    display: str
    recipients: list[str]
    recipient_names: list[str]
    subject: str
    date: datetime
    lang: str
    body: str
    user_agent: str
    in_reply_to: str | None = None
    references: list[str] = field(default_factory=list)
    body_ids: list[str] = field(default_factory=list)
    body_cte: str = "7bit"
    genuine: bool = True

    @property
    def norm_id(self) -> str:
        return norm(self.message_id)

    @property
    def from_header(self) -> str:
        return mailbox(self.display, self.sender)

    def own_ids(self) -> list[str]:
        """IDs in the original's own In-Reply-To/References/body: never references."""
        found = [norm(i) for i in ([self.in_reply_to] if self.in_reply_to else []) + self.references]
        found += [norm(i) for i in self.body_ids]
        return list(dict.fromkeys(x for x in found if x != self.norm_id))

    def headers(self, fold_id: bool = False, id_name: str = "Message-ID", received: bool = True) -> str:
        """The original's header block as its sender's MTA passed it on (LF line ends)."""
        lines: list[str] = []
        if received:
            lines.append(
                f"Received: from [{'10.1.2.' + str(len(self.sender) + 20)}] (unknown [10.1.2.33])\n"
                f"\tby mail.{SITE} (Postfix) with ESMTPSA id {hexs(random.Random(self.message_id), 10)}\n"
                f"\tfor <{self.recipients[0]}>; {rfc_date(self.date)}"
            )
        lines.append(f"{id_name}:\n {self.message_id}" if fold_id else f"{id_name}: {self.message_id}")
        lines.append(f"Date: {rfc_date(self.date, 1)}")
        lines.append(f"From: {self.from_header}")
        to = ", ".join(
            mailbox(n, a) if n else a
            for n, a in zip(self.recipient_names, self.recipients, strict=True)
        )
        lines.append(fold("To", to))
        lines.append(fold("Subject", encoded_word(self.subject)))
        if self.in_reply_to:
            lines.append(f"In-Reply-To: {self.in_reply_to}")
        if self.references:
            lines.append(fold("References", " ".join(self.references)))
        lines.append(f"User-Agent: {self.user_agent}")
        lines.append("MIME-Version: 1.0")
        lines.append("Content-Type: text/plain; charset=utf-8; format=flowed")
        lines.append(f"Content-Transfer-Encoding: {self.body_cte}")
        return "\n".join(lines) + "\n"

    def encoded_body(self) -> str:
        return encode(self.body, self.body_cte)

    def full(self, fold_id: bool = False, id_name: str = "Message-ID") -> str:
        return self.headers(fold_id, id_name) + "\n" + self.encoded_body()

    def sidecar(self) -> dict[str, object]:
        return {
            "message_id": self.message_id,
            "mail_from": self.sender,
            "from": self.from_header,
            "recipients": list(self.recipients),
        }


def make_original(
    rng: random.Random,
    *,
    sender: tuple[str, str] | None = None,
    nrcpt: int = 1,
    lang: str | None = None,
    thread: bool | None = None,
    body_id: bool | None = None,
    genuine: bool = True,
    cte: str | None = None,
) -> Original:
    display, local = sender or rng.choice(OUR_PEOPLE[:26])
    lang = lang or rng.choice(LANGS)
    dt = when(rng)
    names, rcpts = [], []
    for _ in range(nrcpt):
        name, addr = world_address(rng)
        while addr in rcpts:
            name, addr = world_address(rng)
        names.append(name if rng.random() < 0.7 else "")
        rcpts.append(addr)
    subject = rng.choice(SUBJECTS[lang])
    body = BODIES[lang] + display.split()[0] + "\n"
    if not genuine:
        subject = rng.choice(
            [
                "Re: your account",
                "Cheap meds online",
                "Invoice overdue",
                "Hi",
                "Your parcel could not be delivered",
                "RE: payment",
            ]
        )
        body = "Click here: http://spam.example/x?" + token(rng, 8) + "\n"
    thread = rng.random() < 0.35 if thread is None else thread
    in_reply_to, refs = None, []
    if thread:
        parent = world_msgid(rng, rng.choice(WORLD_DOMAINS), dt - timedelta(days=1))
        grand = world_msgid(rng, rng.choice(WORLD_DOMAINS), dt - timedelta(days=3))
        refs = [grand, parent] if rng.random() < 0.6 else [parent]
        in_reply_to = parent
        subject = "Re: " + subject
    body_ids: list[str] = []
    if body_id if body_id is not None else rng.random() < 0.15:
        quoted = world_msgid(rng, rng.choice(WORLD_DOMAINS), dt - timedelta(days=2))
        body_ids.append(quoted)
        body += f"\nPS: the ticket system refers to it as {quoted}.\n"
    if cte is None:
        cte = "8bit" if not body.isascii() else "7bit"
        if rng.random() < 0.25:
            cte = rng.choice(["base64", "quoted-printable"])
    msg_id = our_msgid(rng, dt) if genuine else spammer_msgid(rng)
    return Original(
        msg_id,
        f"{local}@{SITE}",
        display,
        rcpts,
        names,
        subject,
        dt,
        lang,
        body,
        rng.choice(USER_AGENTS),
        in_reply_to,
        refs,
        body_ids,
        cte,
        genuine,
    )


def expected_outcomes(
    kind: str,
    refs: list[str],
    rcpts_of_original: list[str],
    original: Original | None,
    rcpt: list[str],
    form: bool = True,
    weak: bool = False,
) -> tuple[str, str]:
    """(outcome_with_entry, outcome_without_entry) by the decision order of docs/policy.md.

    Step 1: a reference is the recorded original and every envelope recipient sent it: pass.
    Steps 2 and 4: unmatched references or original recipients -> the unmatched action.
    Step 3 (no reference only): an original recipient forms a recorded (sender, recipient)
    pair with them: pass ("envelope").
    Step 5: nothing at all -> the per-kind no_reference default.
    A heuristic alone (``form`` false) is tagged where the table says reject.
    ``weak``: only a weak header signal made it a candidate and its sender is not null
    ("Weak signals"): without a ledger match it is ordinary mail, accepted with no trace.
    """
    if refs or rcpts_of_original:
        configured = UNMATCHED_EXCEPTIONS.get(kind, "reject")
    else:
        configured = NO_REFERENCE_DEFAULT[kind]
    if configured == "reject" and not form:
        configured = "tag"
    if weak and not form:
        configured = "accept"
    without = OUTCOME_OF_ACTION[configured]
    if original is None:
        return without, without
    ours = {addresses.normalise(original.sender)}
    envelope = [addresses.normalise(r) for r in rcpt]
    if envelope and all(r in ours for r in envelope):
        if original.norm_id in refs:
            return "pass", without
        sent_to = {addresses.normalise(r) for r in original.recipients}
        if not refs and any(addresses.normalise(r) in sent_to for r in rcpts_of_original):
            return "pass", without  # the envelope check, only for bounces without a reference
    return without, without


def to_bytes(text: str, eol: str, charset: str = "utf-8") -> bytes:
    """Line ends as the sample asks: all LF, all CRLF, or mixed (headers CRLF, body LF)."""
    text = text.replace("\r\n", "\n")
    if eol == "crlf":
        text = text.replace("\n", "\r\n")
    elif eol == "mixed":
        head, sep, body = text.partition("\n\n")
        lines = body.split("\n")
        body = "".join(line + ("\r\n" if i % 3 == 0 else "\n") for i, line in enumerate(lines[:-1]))
        body += lines[-1]
        text = head.replace("\n", "\r\n") + ("\r\n\r\n" if sep else "") + body
    return text.encode(charset)


@dataclass
class Sample:
    """One corpus file pair: the raw message and what it must give."""

    group: str
    folder: str
    name: str
    raw: str
    meta: dict[str, object]
    eol: str = "lf"
    charset: str = "utf-8"

    def write(self, root: Path) -> None:
        directory = root / self.group / self.folder
        directory.mkdir(parents=True, exist_ok=True)
        (directory / f"{self.name}.eml").write_bytes(to_bytes(self.raw, self.eol, self.charset))
        (directory / f"{self.name}.json").write_text(
            json.dumps(self.meta, indent=2, ensure_ascii=False) + "\n"
        )


def sidecar(
    *,
    fmt: str,
    generated_by: str,
    mail_from: str,
    rcpt: list[str],
    kind: str | None,
    references: list[str],
    must_not: list[str],
    rcpts_of_original: list[str],
    original: Original | None,
    form: bool = True,
    ordinary: bool = False,
    note: str = "",
) -> dict[str, object]:
    """The sidecar JSON (tests/corpus/README.md), with the outcomes worked out by docs/policy.md.

    Ordinary mail is accepted and never a ledger match; whether a heuristic tags it
    is not part of its contract, so its outcomes are null.
    """
    outcomes: tuple[str | None, str | None]
    if ordinary:
        with_entry = without = "accept"
        outcomes = (None, None)
    else:
        assert kind is not None
        # Every written heuristic-only sample with a real sender has only a weak screen signal
        # (a subject pattern): the strong autoreply headers are a form of their own.
        weak = not form and mail_from != ""
        outcomes = expected_outcomes(kind, references, rcpts_of_original, original, rcpt, form, weak)
        with_entry, without = action_of(outcomes[0]), action_of(outcomes[1])
    meta: dict[str, object] = {
        "format": fmt,
        "generated_by": generated_by,
        "mail_from": mail_from,
        "rcpt": rcpt,
        "kind": kind,
        "references": list(dict.fromkeys(references)),
        "must_not_reference": [m for m in dict.fromkeys(must_not) if m not in references],
        "recipients_of_original": [addresses.normalise(r) for r in rcpts_of_original],
        "original": original.sidecar() if original else None,
        "action_with_entry": with_entry,
        "action_without_entry": without,
        "outcome_with_entry": outcomes[0],
        "outcome_without_entry": outcomes[1],
    }
    if not ordinary and not form and mail_from != "":
        meta["ordinary_unless_matched"] = True
    if note:
        meta["note"] = note
    return meta
