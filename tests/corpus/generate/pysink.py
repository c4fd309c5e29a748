"""A tiny SMTP sink in a thread, for MTAs that send everything to one smart host.

smtp-sink refuses either every recipient or none; a smart-host MTA (Sendmail)
needs one next hop that refuses FAIL recipients (550), defers SLOW ones (451),
accepts the rest, and keeps what reaches example.test in smtp-sink's dump
format (X-Mail-Args / X-Rcpt-Args lines, then the message).
"""

from __future__ import annotations

import itertools
import socketserver
import threading
from pathlib import Path

from tests.corpus.generate import realmta

_COUNTER = itertools.count(1)


class _Handler(socketserver.StreamRequestHandler):
    server: _Server

    def reply(self, text: str) -> None:
        self.wfile.write(text.encode() + b"\r\n")

    def handle(self) -> None:
        self.reply("220 sink.example.org ESMTP")
        mail_from, rcpts = "", list[str]()
        while line := self.rfile.readline(4096):
            cmd = line.decode("ascii", "replace").strip()
            verb = cmd[:4].upper()
            if verb == "EHLO":
                self.reply("250-sink.example.org\r\n250-DSN\r\n250-8BITMIME\r\n250 PIPELINING")
            elif verb == "MAIL":
                mail_from, rcpts = cmd[10:].strip(), list[str]()
                self.reply("250 2.1.0 Ok")
            elif verb == "RCPT":
                address = cmd[8:].split()[0].strip("<>").lower()
                if address.endswith("@" + realmta.FAIL):
                    self.reply(realmta.FAIL_REPLY)
                elif address.endswith("@" + realmta.SLOW):
                    self.reply("451 4.4.1 Mailbox temporarily unavailable, try again later")
                else:
                    rcpts.append(cmd[8:].strip())
                    self.reply("250 2.1.5 Ok")
            elif verb == "DATA" and not rcpts:
                self.reply("554 5.5.1 Error: no valid recipients")
            elif verb == "DATA":
                self.reply("354 End data with <CR><LF>.<CR><LF>")
                self.server.store(mail_from, rcpts, self.read_data())
                self.reply("250 2.0.0 Ok: queued")
            elif verb == "QUIT":
                self.reply("221 2.0.0 Bye")
                return
            else:
                self.reply("250 2.0.0 Ok")

    def read_data(self) -> bytes:
        data = bytearray()
        while line := self.rfile.readline(65536):
            if line in (b".\r\n", b".\n"):
                break
            data += line[1:] if line.startswith(b"..") else line
        return bytes(data)


class _Server(socketserver.ThreadingTCPServer):
    allow_reuse_address = True
    daemon_threads = True
    dump_dir: Path

    def store(self, mail_from: str, rcpts: list[str], data: bytes) -> None:
        if not any(r.lower().rstrip(">").endswith("@example.test") for r in rcpts):
            return
        head = f"X-Mail-Args: {mail_from}\n" + "".join(f"X-Rcpt-Args: {r}\n" for r in rcpts)
        (self.dump_dir / f"{next(_COUNTER):05d}.msg").write_bytes(head.encode() + data)


class PySink:
    """Listens on a loopback port in a background thread until stop()."""

    def __init__(self, dump_dir: Path, port: int) -> None:
        dump_dir.mkdir(parents=True, exist_ok=True)
        self.port = port
        self.server = _Server(("127.0.0.1", port), _Handler)
        self.server.dump_dir = dump_dir
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def start(self) -> PySink:
        self.thread.start()
        return self

    def messages(self) -> list[Path]:
        return sorted(self.server.dump_dir.glob("*.msg"))

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
