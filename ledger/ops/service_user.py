"""Doctor: can the milters' own user read the secret and write the spool?

The milters run as the system user ``sender-ledger`` (the units' ``User=``; the Debian
package makes it), while ``doctor`` usually runs as root, who can read and write anything:
``os.access`` would say yes to every question. So, where that user exists, this judges
from owners and modes, as the kernel would for that user and its groups, whether it can
search every directory on the way, read the secret file and write the spool directory
(or make it). A user that does not exist (a pip install run some other way) means no
check. Cost: a few ``stat`` calls.
"""

from __future__ import annotations

import grp
import os
import pwd
import stat
from dataclasses import dataclass
from pathlib import Path

from ledger.ops.doctor import FAIL, OK, Check

SERVICE_USER = "sender-ledger"
READ, WRITE, SEARCH = 4, 2, 1


@dataclass(frozen=True)
class Identity:
    name: str
    uid: int
    gids: frozenset[int]


def service_identity(name: str = SERVICE_USER) -> Identity | None:
    """The user with the groups its processes get (its own and those /etc/group lists it in)."""
    try:
        entry = pwd.getpwnam(name)
    except KeyError:
        return None
    return Identity(name, entry.pw_uid, frozenset(os.getgrouplist(name, entry.pw_gid)))


def may(st: os.stat_result, who: Identity, bits: int) -> bool:
    """Whether ``who`` has all of ``bits`` on a file by its mode: the owner's class if it owns
    it, else the group's if it is in the group, else the others' (no ACLs)."""
    if who.uid == 0:
        return True
    mode = stat.S_IMODE(st.st_mode)
    if st.st_uid == who.uid:
        granted = mode >> 6
    elif st.st_gid in who.gids:
        granted = mode >> 3
    else:
        granted = mode
    return granted & bits == bits


def _describe(path: Path, st: os.stat_result) -> str:
    try:
        owner = pwd.getpwuid(st.st_uid).pw_name
    except KeyError:
        owner = str(st.st_uid)
    try:
        group = grp.getgrgid(st.st_gid).gr_name
    except KeyError:
        group = str(st.st_gid)
    return f"{path} (mode {stat.S_IMODE(st.st_mode):04o} {owner}:{group})"


def path_problem(path: str, who: Identity, bits: int) -> str | None:
    """Why ``who`` lacks ``bits`` on ``path`` or cannot reach it, or None if it can."""
    target = Path(os.path.abspath(path))
    for directory in reversed(target.parents):
        try:
            st = os.stat(directory)
        except OSError as exc:
            return f"cannot stat {directory}: {exc.strerror}"
        if not may(st, who, SEARCH):
            return f"cannot enter {_describe(directory, st)}"
    try:
        st = os.stat(target)
    except OSError as exc:
        return f"cannot stat {target}: {exc.strerror}"
    if not may(st, who, bits):
        wanted = " and ".join(w for b, w in ((READ, "read"), (WRITE, "write"), (SEARCH, "enter"))
                              if bits & b)
        return f"cannot {wanted} {_describe(target, st)}"
    return None


def check_service_user(secret_file: str | None, spool_dir: str,
                       who: Identity | None = None) -> list[Check]:
    """One check: the milters' user can read ``secret_file`` (if the secret is a file) and write
    ``spool_dir`` (or, if it does not exist yet, make it in its parent)."""
    who = who if who is not None else service_identity()
    if who is None:
        return []
    problems = []
    if secret_file:
        problem = path_problem(secret_file, who, READ)
        if problem:
            problems.append(f"{problem}: the milters cannot read the secret (chgrp {who.name} "
                            f"{secret_file}; chmod 0640 {secret_file})")
    spool = Path(spool_dir)
    existing = spool if spool.exists() else spool.parent
    problem = path_problem(str(existing), who, WRITE | SEARCH)
    if problem:
        problems.append(f"{problem}: the outbound milter cannot keep records there during an outage "
                        f"(chown {who.name}: {existing})")
    if problems:
        return [Check("service user", FAIL, f"user {who.name}: " + "; ".join(problems))]
    what = f"read {secret_file} and " if secret_file else ""
    return [Check("service user", OK, f"user {who.name} (the milters' User=) can {what}write {existing}")]
