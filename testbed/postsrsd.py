"""A private postsrsd (Debian's ``postsrsd``): its own secret file and loopback ports.

Never the system service: the daemon runs in the foreground as our child, on
two free 127.0.0.1 ports, with a secret file in the work directory, and is
stopped by its pid. It answers Postfix's tcp_table(5) protocol: a request
``get KEY`` (KEY URL-encoded) gets ``200 VALUE``, ``500 ...`` (not found) or
``400 ...`` (error). The forward port rewrites an envelope sender into an
SRS address of ``domain``; the reverse port turns one back.
"""

from __future__ import annotations

import shutil
import socket
import urllib.parse
from collections.abc import Sequence
from pathlib import Path

from testbed.procs import _Child, free_port, port_open


class SrsLookupError(RuntimeError):
    """postsrsd did not answer 200 (the reply's code and text are in the message)."""


class PrivatePostsrsd(_Child):
    def __init__(self, workdir: Path, domain: str, secrets: Sequence[str], separator: str = "=",
                 name: str = "postsrsd") -> None:
        self.workdir = workdir
        workdir.mkdir(parents=True, exist_ok=True)
        self.domain = domain
        self.separator = separator
        self.secret_file = workdir / f"{name}.secret"
        self.secret_file.write_text("".join(f"{s}\n" for s in secrets))
        self.secret_file.chmod(0o600)
        self.log_path = workdir / f"{name}.log"
        self.forward_port = free_port()
        self.reverse_port = free_port()

    def start(self) -> PrivatePostsrsd:
        binary = shutil.which("postsrsd") or "/usr/sbin/postsrsd"
        self._spawn([binary, f"-s{self.secret_file}", f"-d{self.domain}", f"-a{self.separator}",
                     "-l127.0.0.1", "-4", f"-f{self.forward_port}", f"-r{self.reverse_port}"])
        self._await(lambda: port_open(self.forward_port) and port_open(self.reverse_port), 10,
                    "postsrsd")
        return self

    @property
    def forward_table(self) -> str:
        """The Postfix lookup table naming the forward port (for sender_canonical_maps)."""
        return f"tcp:127.0.0.1:{self.forward_port}"

    def forward(self, address: str) -> str:
        """The SRS address postsrsd writes for ``address`` (unchanged for its own domain)."""
        return self._lookup(self.forward_port, address)

    def reverse(self, address: str) -> str:
        """The address an SRS address stands for; SrsLookupError when postsrsd refuses it."""
        return self._lookup(self.reverse_port, address)

    @staticmethod
    def _lookup(port: int, key: str) -> str:
        with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
            sock.sendall(f"get {urllib.parse.quote(key, safe='@=+-.')}\n".encode())
            reply = b""
            while not reply.endswith(b"\n"):
                chunk = sock.recv(4096)
                if not chunk:
                    break
                reply += chunk
        code, _, value = reply.decode().strip().partition(" ")
        if code != "200":
            raise SrsLookupError(f"postsrsd answered {code} {value}")
        return urllib.parse.unquote(value)
