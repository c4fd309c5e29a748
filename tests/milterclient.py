"""A small MTA side of the milter protocol, for talking to our running milters.

Built on the ``miltertest`` codec; unlike its convenience methods it honours
the no-reply (NR_*) bits a milter negotiates, which ours do.
"""

from __future__ import annotations

import socket
import struct
from dataclasses import dataclass, field

from miltertest import constants as c
from miltertest.client import MilterConnection

_NO_REPLY = {
    c.SMFIC_CONNECT: c.SMFIP_NR_CONN,
    c.SMFIC_HELO: c.SMFIP_NR_HELO,
    c.SMFIC_MAIL: c.SMFIP_NR_MAIL,
    c.SMFIC_RCPT: c.SMFIP_NR_RCPT,
    c.SMFIC_DATA: c.SMFIP_NR_DATA,
    c.SMFIC_HEADER: c.SMFIP_NR_HDR,
    c.SMFIC_EOH: c.SMFIP_NR_EOH,
    c.SMFIC_BODY: c.SMFIP_NR_BODY,
}
_SKIPPED = {
    c.SMFIC_CONNECT: c.SMFIP_NOCONNECT,
    c.SMFIC_HELO: c.SMFIP_NOHELO,
    c.SMFIC_MAIL: c.SMFIP_NOMAIL,
    c.SMFIC_RCPT: c.SMFIP_NORCPT,
    c.SMFIC_DATA: c.SMFIP_NODATA,
    c.SMFIC_HEADER: c.SMFIP_NOHDRS,
    c.SMFIC_EOH: c.SMFIP_NOEOH,
    c.SMFIC_BODY: c.SMFIP_NOBODY,
}


@dataclass
class Outcome:
    """How the milter answered one message."""

    stage: str  # the command at which it gave its final answer
    code: str  # accept | reject | tempfail | continue | discard
    reply: str | None = None  # SMFIR_REPLYCODE text, e.g. "550 5.7.1 ..."
    added_headers: list[tuple[str, str]] = field(default_factory=list)
    changed_headers: list[tuple[int, str, str]] = field(default_factory=list)
    body_skipped: bool = False  # the milter said SKIP: it had read enough of the body


_CODES = {
    c.SMFIR_ACCEPT: "accept",
    c.SMFIR_REJECT: "reject",
    c.SMFIR_TEMPFAIL: "tempfail",
    c.SMFIR_CONTINUE: "continue",
    c.SMFIR_DISCARD: "discard",
    c.SMFIR_SKIP: "skip",
}


def _reply_code(reply: tuple[str, dict[str, object]]) -> tuple[str, str | None]:
    if reply[0] == c.SMFIR_REPLYCODE:
        text = f"{reply[1]['smtpcode']} {str(reply[1]['text']).strip()}"
        return ("reject" if text.startswith("5") else "tempfail"), text
    return _CODES.get(reply[0], reply[0]), None


def connect(address: str, timeout: float = 20.0) -> socket.socket:
    """A connected socket to a milter at a unix path or ``inet:PORT@HOST``."""
    if address.startswith("inet:"):
        port, _, host = address[5:].partition("@")
        return socket.create_connection((host or "127.0.0.1", int(port)), timeout)
    sock = socket.socket(socket.AF_UNIX)
    sock.settimeout(timeout)
    try:
        sock.connect(address)
    except OSError:
        sock.close()
        raise
    return sock


def negotiated(address: str) -> int:
    """The protocol flags (SMFIP_*) the milter at ``address`` asks of an MTA that offers all."""
    sock = connect(address)
    try:
        return int(MilterConnection(sock).optneg_mta()[1])
    finally:
        sock.close()


def send_message(
    socket_path: str,
    mail_from: str,
    rcpts: list[str],
    headers: list[tuple[str, str]],
    body: bytes,
    queue_id: str = "TESTQID",
    timeout: float = 20.0,
) -> Outcome:
    """Run one SMTP transaction's worth of milter commands; return the verdict.

    ``socket_path`` is a unix socket's path or ``inet:PORT@HOST``.
    """
    sock = connect(socket_path, timeout)
    try:
        conn = MilterConnection(sock)
        _, protocol = conn.optneg_mta()

        def step(cmd: str, **args: object) -> tuple[str, str | None] | None:
            if protocol & _SKIPPED.get(cmd, 0):
                return None
            if cmd == c.SMFIC_BODY:  # raw bytes: the codec only takes text
                chunk = args["buf"]
                assert isinstance(chunk, bytes)
                sock.sendall(struct.pack("!I", len(chunk) + 1) + cmd.encode() + chunk)
            else:
                conn._send(cmd, **args)
            if protocol & _NO_REPLY.get(cmd, 0):
                return None
            return _reply_code(conn.recv())

        steps: list[tuple[str, str, dict[str, object]]] = [
            ("connect", c.SMFIC_CONNECT,
             {"hostname": "client.example.net", "family": c.SMFIA_INET, "port": 25,
              "address": "192.0.2.10"}),
            ("helo", c.SMFIC_HELO, {"helo": "client.example.net"}),
            ("mail", c.SMFIC_MAIL, {"args": [f"<{mail_from}>"]}),
        ]
        steps += [("rcpt", c.SMFIC_RCPT, {"args": [f"<{r}>"]}) for r in rcpts]
        steps.append(("data", c.SMFIC_DATA, {}))
        steps += [("header", c.SMFIC_HEADER, {"name": n, "value": v}) for n, v in headers]
        steps.append(("eoh", c.SMFIC_EOH, {}))
        for start in range(0, len(body), c.MILTER_CHUNK_SIZE):
            steps.append(("body", c.SMFIC_BODY, {"buf": body[start:start + c.MILTER_CHUNK_SIZE]}))
        skipped = False
        for stage, cmd, args in steps:
            if skipped and cmd == c.SMFIC_BODY:
                continue
            answer = step(cmd, **args)
            if answer is not None and answer[0] == "skip" and cmd == c.SMFIC_BODY:
                skipped = True
            elif answer is not None and answer[0] != "continue":
                return Outcome(stage, answer[0], answer[1])
        conn.send_macro(c.SMFIC_BODYEOB, i=queue_id)
        conn._send(c.SMFIC_BODYEOB)
        outcome = Outcome("eom", "continue", body_skipped=skipped)
        while True:
            reply = conn.recv()
            if reply[0] == c.SMFIR_ADDHEADER or reply[0] == c.SMFIR_INSHEADER:
                outcome.added_headers.append((str(reply[1]["name"]), str(reply[1]["value"])))
            elif reply[0] == c.SMFIR_CHGHEADER:
                outcome.changed_headers.append(
                    (int(reply[1]["index"]), str(reply[1]["name"]), str(reply[1]["value"])))
            else:
                outcome.code, outcome.reply = _reply_code(reply)
                return outcome
    finally:
        sock.close()
