"""Doctor's service-user check: judged from owners and modes for a user that is not the caller.

Files and directories under the suite's world-traversable scratch directory, owned (by
root's chown) by numeric ids no one here uses, stand for /etc/sender-ledger and
/var/lib/sender-ledger; no system user is needed.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import pytest

from ledger.ops.service_user import READ, WRITE, Identity, check_service_user, may

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="chown to other ids needs root")

UID, GID, OTHER = 64011, 64012, 64013
MILTERS = Identity("sender-ledger", UID, frozenset({GID}))


def made(path: Path, mode: int, uid: int = 0, gid: int = 0, directory: bool = False) -> Path:
    if directory:
        path.mkdir()
    else:
        path.write_text("c2VjcmV0LXNlY3JldC1zZWNyZXQtc2VjcmV0LXNlY3JldA==\n")
    os.chown(path, uid, gid)
    os.chmod(path, mode)
    return path


@pytest.fixture()
def base(scratch: Path) -> Path:
    """A directory every user can enter all the way down (pytest's base is under a 0700 one)."""
    path = Path(tempfile.mkdtemp(dir=scratch))
    os.chmod(path, 0o755)
    return path


@pytest.fixture()
def etc(base: Path) -> Path:
    return made(base / "etc", 0o755, directory=True)


def test_mode_classes_are_owner_then_group_then_others(etc: Path) -> None:
    st = os.stat(made(etc / "f", 0o604, UID, OTHER))  # owner rw, group none, others r
    assert may(st, MILTERS, READ) and may(st, MILTERS, READ | WRITE)
    st = os.stat(made(etc / "g", 0o064, UID, GID))  # the owner class applies, though the group's is richer
    assert not may(st, MILTERS, READ)
    st = os.stat(made(etc / "h", 0o640, 0, GID))
    assert may(st, MILTERS, READ) and not may(st, MILTERS, WRITE)
    assert not may(st, Identity("nobody", 65534, frozenset({65534})), READ)
    assert may(st, Identity("root", 0, frozenset({0})), READ | WRITE)


def test_the_packaged_layout_is_ok(etc: Path, base: Path) -> None:
    secret = made(etc / "secret", 0o640, 0, GID)
    state = made(base / "state", 0o750, UID, GID, directory=True)
    spool = made(state / "spool", 0o750, UID, GID, directory=True)
    [check] = check_service_user(str(secret), str(spool), MILTERS)
    assert check.status == "OK" and f"can read {secret} and write {spool}" in check.reason


def test_a_secret_only_root_can_read_fails_and_says_the_fix(etc: Path, base: Path) -> None:
    secret = made(etc / "secret", 0o600, 0, 0)
    [check] = check_service_user(str(secret), str(base), MILTERS)
    assert check.status == "FAIL"
    assert f"cannot read {secret} (mode 0600 root:root)" in check.reason
    assert f"chgrp sender-ledger {secret}; chmod 0640 {secret}" in check.reason


def test_a_directory_on_the_way_that_it_cannot_enter_fails(base: Path) -> None:
    os.chmod(base, 0o755)
    closed = made(base / "closed", 0o700, directory=True)
    secret = made(closed / "secret", 0o644, 0, GID)
    [check] = check_service_user(str(secret), str(base), MILTERS)
    assert check.status == "FAIL" and f"cannot enter {closed} (mode 0700" in check.reason


def test_a_root_owned_spool_fails_and_a_missing_one_is_judged_by_its_parent(base: Path) -> None:
    os.chmod(base, 0o755)
    spool = made(base / "spool", 0o755, directory=True)
    [check] = check_service_user(None, str(spool), MILTERS)
    assert check.status == "FAIL" and "cannot write and enter" in check.reason
    assert f"chown sender-ledger: {spool}" in check.reason
    state = made(base / "state", 0o750, UID, GID, directory=True)
    [check] = check_service_user(None, str(state / "spool"), MILTERS)
    assert check.status == "OK" and check.reason.endswith(f"can write {state}")


def test_the_user_comes_with_its_groups_and_a_missing_one_means_no_check() -> None:
    from ledger.ops import service_user

    root = service_user.service_identity("root")
    assert root is not None and root.uid == 0 and 0 in root.gids
    assert service_user.service_identity("no-such-user-here-0") is None
